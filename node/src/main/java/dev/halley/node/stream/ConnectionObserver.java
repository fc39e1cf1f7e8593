package dev.halley.node.stream;

/**
 * Observes what connections do with their queues: the metrics hook of {@link Connection}, so that
 * this package never depends on the node's metrics (or its config: the one setting a connection
 * reads from the node, {@link #tokenExpiredGraceMs}, comes through here too). {@link #delivered}
 * and {@link #reset} are called on the connection's IO thread with its lock held, so they must be
 * cheap and must not throw.
 */
public interface ConnectionObserver {
  /** {@link #tokenExpiredGraceMs} without an observer (unit tests), ms. */
  long DEFAULT_TOKEN_EXPIRED_GRACE_MS = 5_000;

  /**
   * An event accepted at {@code acceptedAtNanos} ({@link System#nanoTime()}) was taken to be
   * written to the socket of a {@code transport} connection.
   */
  void delivered(String transport, long acceptedAtNanos);

  /** A {@code reset} event ({@code reason}: epoch or gap) was taken to be written. */
  void reset(String reason);

  /**
   * {@code n} messages queued for (or batched into a poll answer of) a {@code transport} connection
   * were replaced by a newer one with the same conflation key before they were written. Called with
   * the connection's lock held: cheap, must not throw.
   */
  default void conflated(String transport, int n) {}

  /** A connection went over its queue bound and is being cut (WebSocket: 4008). */
  void slowConsumer(String transport, String user);

  /**
   * Something was thrown on a connection's write path ({@code t} may be an {@link Error}); the
   * connection is being closed (WebSocket: 4011). Must not throw.
   */
  default void writeFailed(String transport, Throwable t) {}

  /**
   * A connection's timer (heartbeat, token expiry, finish grace) was refused by its IO thread
   * because the node is stopping; the connection closes with the node. Must not throw.
   */
  default void timerDropped() {}

  /**
   * Longest wait for the {@code token_expired} event (and what is queued before it) to be written
   * before an SSE or long-poll connection whose token expired is cut, ms; the node's {@code
   * tokenExpiredGraceMs}.
   */
  default long tokenExpiredGraceMs() {
    return DEFAULT_TOKEN_EXPIRED_GRACE_MS;
  }
}
