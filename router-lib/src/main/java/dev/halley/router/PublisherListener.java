package dev.halley.router;

import java.time.Duration;

/**
 * Hooks for metrics and logs: every request a {@link Publisher} sends to a node, every retry, every
 * recipient it fails, every map change.
 *
 * <pre>{@code
 * Publisher.builder()...listener(new PublisherListener() {
 *   public void recipientsFailed(String node, String reason, int count) {
 *     log.warn("{} recipients on {} failed: {}", count, node, reason);
 *   }
 * }).build();
 * }</pre>
 *
 * <p>Every method has an empty default. Methods are called from the publisher's internal threads,
 * concurrently, and must be fast and must not block; an exception thrown by a listener is caught
 * and ignored, so it never fails a publish. {@code node} is a node ID from the map (a bounded set,
 * safe as a metric tag); user IDs are never passed. See {@code
 * dev.halley.router.micrometer.MicrometerPublisherListener} for a ready binder.
 */
public interface PublisherListener {

  /**
   * A request to a node completed with an HTTP answer.
   *
   * @param node the node ID
   * @param kind {@code publish}, {@code presence} or {@code subscription}
   * @param messages messages in the request (1 for presence and subscription calls)
   * @param status the HTTP status
   * @param latency from send to the full reply
   */
  default void requestCompleted(
      String node, String kind, int messages, int status, Duration latency) {}

  /**
   * A request to a node got no answer.
   *
   * @param reason {@code timeout}, {@code unreachable} or {@code connection_lost}
   */
  default void requestFailed(
      String node, String kind, int messages, String reason, Duration latency) {}

  /**
   * A publish request is retried (same idempotency keys) after {@code delay}; attempt counts from
   * 2.
   */
  default void retryScheduled(String node, int attempt, Duration delay) {}

  /** {@code count} recipients (users, or 1 per channel node) failed for {@code reason}. */
  default void recipientsFailed(String node, String reason, int count) {}

  /**
   * {@code count} recipients (users, or 1 per channel node) got the outcome {@code UNKNOWN} for
   * {@code reason} ({@code timeout}, {@code connection_lost}, ...): sent, outcome not stated.
   */
  default void recipientsUnknown(String node, String reason, int count) {}

  /**
   * Dual mode (resharding): {@code count} moving users' copies of a message to their new owner
   * {@code node} (the second send, with the old owner's position as relay) failed or got no stated
   * outcome for {@code reason}, while the app got the old owner's outcome ({@code DELIVERED} or
   * {@code BUFFERED}). Those users' handoff to the new owner will end in a {@code reset}, not a
   * clean resume: nothing is lost silently, but it should stay at 0 during a reshard. Also counted
   * in {@link #recipientsFailed} or {@link #recipientsUnknown}.
   */
  default void relaysLost(String node, String reason, int count) {}

  /** {@code count} misdirected users are re-sent to their owner under a newer map. */
  default void rerouted(String fromNode, int count) {}

  /** The publisher now uses map {@code version} (at build time and on every change). */
  default void mapChanged(long version, int nodes) {}

  /** A map load failed; the publisher keeps the map it had. */
  default void mapLoadFailed(Throwable error) {}
}
