package dev.halley.node.wire;

/**
 * One published message, serialized once and shared by every recipient's buffer and connection
 * queue: {@link #tail} is the end of the event JSON after {@code "data":}, i.e. the data, the
 * optional {@code "channel"} field and the closing brace. Immutable.
 */
public final class Message {
  public final byte[] tail;
  public final long publishedAtMs;

  /** {@link System#nanoTime()} when the publish request made it (issue #4: publish latency). */
  public final long acceptedAtNanos = System.nanoTime();

  /** Epoch milliseconds after which the message is dropped; {@code Long.MAX_VALUE} for none. */
  final long expiresAtMs;

  public Message(byte[] tail, long publishedAtMs, long expiresAtMs) {
    this.tail = tail;
    this.publishedAtMs = publishedAtMs;
    this.expiresAtMs = expiresAtMs;
  }

  /** {@code ttlMs: 0}: delivered to live connections only, never buffered. */
  public boolean liveOnly() {
    return expiresAtMs <= publishedAtMs;
  }

  public boolean expired(long nowMs) {
    return expiresAtMs <= nowMs;
  }
}
