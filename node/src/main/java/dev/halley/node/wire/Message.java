package dev.halley.node.wire;

/**
 * One published message, serialized once and shared by every recipient's buffer and connection
 * queue: {@link #tail} is the end of the event JSON after {@code "data":}, i.e. the data, the
 * optional {@code "channel"} field and the closing brace. Immutable.
 */
public final class Message {
  public final byte[] tail;
  public final long publishedAtMs;

  /** The channel of a channel message (only connections entitled to it receive it), else null. */
  public final String channel;

  /** {@link System#nanoTime()} when the publish request made it (issue #4: publish latency). */
  public final long acceptedAtNanos = System.nanoTime();

  /** Epoch milliseconds after which the message is dropped; {@code Long.MAX_VALUE} for none. */
  final long expiresAtMs;

  /** Resume buffers holding this message ({@code BufferBudget}: its bytes count once). */
  private volatile int buffered;

  private static final java.util.concurrent.atomic.AtomicIntegerFieldUpdater<Message> BUFFERED =
      java.util.concurrent.atomic.AtomicIntegerFieldUpdater.newUpdater(Message.class, "buffered");

  /** One more buffer holds it; true if it is the first. */
  public boolean retainBuffered() {
    return BUFFERED.getAndIncrement(this) == 0;
  }

  /** One buffer less; true if it was the last. */
  public boolean releaseBuffered() {
    return BUFFERED.decrementAndGet(this) == 0;
  }

  /**
   * The publisher's {@code conflationKey}, or null: a newer message with the same key replaces this
   * one on a connection that has not written it yet (docs/protocol.md, "Conflation").
   */
  public final String conflationKey;

  /**
   * The publisher's message {@code id} (its idempotency key, sent as {@code key} on the event), or
   * null: a later relay of the same key annotates the event that holds it (issue 14).
   */
  public final String key;

  public Message(byte[] tail, long publishedAtMs, long expiresAtMs) {
    this(tail, null, publishedAtMs, expiresAtMs, null);
  }

  public Message(byte[] tail, long publishedAtMs, long expiresAtMs, String conflationKey) {
    this(tail, null, publishedAtMs, expiresAtMs, conflationKey);
  }

  public Message(byte[] tail, String channel, long publishedAtMs, long expiresAtMs) {
    this(tail, channel, publishedAtMs, expiresAtMs, null);
  }

  public Message(
      byte[] tail, String channel, long publishedAtMs, long expiresAtMs, String conflationKey) {
    this(tail, channel, publishedAtMs, expiresAtMs, conflationKey, null);
  }

  public Message(
      byte[] tail,
      String channel,
      long publishedAtMs,
      long expiresAtMs,
      String conflationKey,
      String key) {
    this.key = key;
    this.tail = tail;
    this.channel = channel;
    this.publishedAtMs = publishedAtMs;
    this.expiresAtMs = expiresAtMs;
    this.conflationKey = conflationKey;
  }

  /** Whether {@code other} supersedes this message: both carry the same conflation key. */
  public boolean conflatesWith(Message other) {
    return conflationKey != null && conflationKey.equals(other.conflationKey);
  }

  /** {@code ttlMs: 0}: delivered to live connections only, never buffered. */
  public boolean liveOnly() {
    return expiresAtMs <= publishedAtMs;
  }

  public boolean expired(long nowMs) {
    return expiresAtMs <= nowMs;
  }
}
