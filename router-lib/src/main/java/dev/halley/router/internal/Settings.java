package dev.halley.router.internal;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.router.MapSource;
import dev.halley.router.PublisherListener;
import java.time.Duration;

/** The options of a publisher, validated by {@code Publisher.Builder}. Internal. */
public record Settings(
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
    ObjectMapper objectMapper) {

  @Override
  public String toString() {
    // The API key is a credential: keep it out of logs.
    return "Settings{source=" + mapSource + ", requestTimeout=" + requestTimeout + "}";
  }
}
