package dev.halley.router.micrometer;

import dev.halley.router.PublisherListener;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Objects;

/**
 * A {@link PublisherListener} that records Micrometer meters; optional (add {@code
 * io.micrometer:micrometer-core} to your build to use it).
 *
 * <pre>{@code
 * Publisher.builder()...listener(new MicrometerPublisherListener(meterRegistry)).build();
 * }</pre>
 *
 * <p>Meters, all tagged by {@code node} (the node ID, a bounded set; never a user ID):
 *
 * <ul>
 *   <li>{@code halley.router.requests} (timer): requests with an answer, tags {@code kind}
 *       (publish, presence, subscription) and {@code status} (the HTTP status);
 *   <li>{@code halley.router.request.failures} (counter): requests without one, tags {@code kind}
 *       and {@code reason} (timeout, unreachable);
 *   <li>{@code halley.router.messages} (counter): messages sent in publish requests (with the
 *       requests count, the batching factor);
 *   <li>{@code halley.router.retries} (counter);
 *   <li>{@code halley.router.recipients.failed} (counter): tag {@code reason};
 *   <li>{@code halley.router.recipients.unknown} (counter): recipients whose outcome is UNKNOWN,
 *       tag {@code reason};
 *   <li>{@code halley.router.relays.lost} (counter): dual mode, moving users whose copy to the new
 *       owner failed (their handoff will reset), tag {@code reason};
 *   <li>{@code halley.router.rerouted} (counter): misdirected users re-sent to their new owner;
 *   <li>{@code halley.router.map.changes} and {@code halley.router.map.load.failures} (counters, no
 *       node tag).
 * </ul>
 *
 * <p>Thread-safe. Micrometer caches meters by name and tags, so lookups per event are cheap.
 */
public final class MicrometerPublisherListener implements PublisherListener {
  private final MeterRegistry registry;

  public MicrometerPublisherListener(MeterRegistry registry) {
    this.registry = Objects.requireNonNull(registry, "registry");
  }

  @Override
  public void requestCompleted(
      String node, String kind, int messages, int status, Duration latency) {
    Timer.builder("halley.router.requests")
        .tag("node", node)
        .tag("kind", kind)
        .tag("status", Integer.toString(status))
        .register(registry)
        .record(latency);
    if ("publish".equals(kind)) {
      Counter.builder("halley.router.messages")
          .tag("node", node)
          .register(registry)
          .increment(messages);
    }
  }

  @Override
  public void requestFailed(
      String node, String kind, int messages, String reason, Duration latency) {
    Counter.builder("halley.router.request.failures")
        .tag("node", node)
        .tag("kind", kind)
        .tag("reason", reason)
        .register(registry)
        .increment();
  }

  @Override
  public void retryScheduled(String node, int attempt, Duration delay) {
    Counter.builder("halley.router.retries").tag("node", node).register(registry).increment();
  }

  @Override
  public void recipientsFailed(String node, String reason, int count) {
    Counter.builder("halley.router.recipients.failed")
        .tag("node", node)
        .tag("reason", reason)
        .register(registry)
        .increment(count);
  }

  @Override
  public void relaysLost(String node, String reason, int count) {
    Counter.builder("halley.router.relays.lost")
        .tag("node", node)
        .tag("reason", reason)
        .register(registry)
        .increment(count);
  }

  @Override
  public void recipientsUnknown(String node, String reason, int count) {
    Counter.builder("halley.router.recipients.unknown")
        .tag("node", node)
        .tag("reason", reason)
        .register(registry)
        .increment(count);
  }

  @Override
  public void rerouted(String fromNode, int count) {
    Counter.builder("halley.router.rerouted")
        .tag("node", fromNode)
        .register(registry)
        .increment(count);
  }

  @Override
  public void mapChanged(long version, int nodes) {
    registry.counter("halley.router.map.changes").increment();
  }

  @Override
  public void mapLoadFailed(Throwable error) {
    registry.counter("halley.router.map.load.failures").increment();
  }
}
