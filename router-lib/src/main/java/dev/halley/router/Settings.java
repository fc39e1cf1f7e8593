package dev.halley.router;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;

/** The options of a publisher, validated by {@link Publisher.Builder}. */
record Settings(
    MapSource mapSource,
    String apiKey,
    Duration requestTimeout,
    Duration connectTimeout,
    int maxAttempts,
    Duration retryBaseDelay,
    Duration retryMaxDelay,
    int maxInFlightRequests,
    int maxBatchMessages,
    int maxUsersPerRequest,
    int maxRequestBytes,
    int maxQueuedMessages,
    Duration maxBlock,
    Duration mapRefreshInterval,
    int maxReroutes,
    PublisherListener listener,
    ObjectMapper objectMapper,
    String publisherId,
    Duration dualGrace,
    MapSource pendingMapSource) {

  @Override
  public String toString() {
    // The API key is a credential: keep it out of logs.
    return "Settings{source=" + mapSource + ", requestTimeout=" + requestTimeout + "}";
  }
}
