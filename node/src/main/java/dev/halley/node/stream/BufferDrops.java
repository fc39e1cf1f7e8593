package dev.halley.node.stream;

/**
 * Observes events removed from a user's buffer before anyone received them: a metrics hook. Called
 * with the stream's lock held, once per event, so it must be cheap, must not allocate and must not
 * throw.
 */
public interface BufferDrops {
  /** Counts nothing. */
  BufferDrops NONE = ttl -> {};

  /**
   * An event left a buffer: its TTL passed ({@code ttl} true), or it fell out for the buffer's
   * count or age limit ({@code bufferMaxEvents}, {@code bufferMaxAgeMs}).
   */
  void dropped(boolean ttl);
}
