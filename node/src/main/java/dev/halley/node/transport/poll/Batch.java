package dev.halley.node.transport.poll;

import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.Message;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * A long-poll or poll response under construction: {@code {"events": [...], "lastEventId":
 * "<epoch:seq>"}} where {@code lastEventId} is the position after the events.
 */
final class Batch {
  private static final byte[] START = "{\"events\":[".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] END = "],\"lastEventId\":\"".getBytes(StandardCharsets.US_ASCII);

  private long[] seqs = new long[8];
  private Object[] items = new Object[8];
  private int n;
  private java.util.HashMap<String, Integer> keyed; // conflation key -> index of its message
  private long position;
  private int conflated;

  /**
   * A batch no answer is using, kept by each thread that answers (the IO threads) so that a held
   * request's answer needs no new one; taken while in use, so a nested answer makes its own.
   */
  private static final ThreadLocal<Batch> SPARE = new ThreadLocal<>();

  Batch(long position) {
    this.position = position;
  }

  /**
   * This thread's spare batch (or a new one), empty, at {@code position}; {@link #give} it back.
   */
  static Batch take(long position) {
    Batch b = SPARE.get();
    if (b == null) {
      return new Batch(position);
    }
    SPARE.set(null);
    b.position = position;
    return b;
  }

  /** Empties this batch (it holds no event after) and keeps it as this thread's spare. */
  void give() {
    java.util.Arrays.fill(items, 0, n, null);
    n = 0;
    conflated = 0;
    keyed = null;
    if (seqs.length > 64) { // a large replay: back to the usual size
      seqs = new long[8];
      items = new Object[8];
    }
    SPARE.set(this);
  }

  void add(long seq, Object item) {
    if (item instanceof Message m && m.conflationKey != null) {
      // Conflation: a newer message with the same key replaces the older one in this batch.
      if (keyed == null) {
        keyed = new java.util.HashMap<>();
      }
      Integer at = keyed.put(m.conflationKey, n);
      if (at != null) {
        items[at] = null;
        conflated++;
      }
    }
    if (n == seqs.length) {
      seqs = java.util.Arrays.copyOf(seqs, n * 2);
      items = java.util.Arrays.copyOf(items, n * 2);
    }
    seqs[n] = seq;
    items[n] = item;
    n++;
    if (item instanceof Message && seq > position) {
      position = seq;
    }
  }

  /** Sets the position after the events (e.g. the stream's current seq after a replay). */
  void position(long p) {
    position = p;
  }

  /** Messages of this batch replaced by a newer one with the same conflation key. */
  int conflated() {
    return conflated;
  }

  int size() {
    return n;
  }

  /** The size of the answer's JSON, bytes. */
  int jsonSize(EventCodec codec) {
    int size = START.length + END.length + codec.idSize(position) + 2;
    int events = 0;
    for (int i = 0; i < n; i++) {
      if (items[i] != null) { // else conflated
        size += codec.jsonSize(seqs[i], items[i]);
        events++;
      }
    }
    return size + Math.max(0, events - 1); // the commas
  }

  /** Writes the answer's JSON ({@link #jsonSize} bytes) into {@code b}. */
  void putJson(ByteBuffer b, EventCodec codec) {
    b.put(START);
    boolean first = true;
    for (int i = 0; i < n; i++) {
      if (items[i] == null) {
        continue; // conflated
      }
      if (!first) {
        b.put((byte) ',');
      }
      first = false;
      codec.putJson(b, seqs[i], items[i]);
    }
    b.put(END);
    codec.putId(b, position);
    b.put((byte) '"');
    b.put((byte) '}');
  }

  /** The answer's JSON in a buffer of its own. */
  ByteBuffer encode(EventCodec codec) {
    ByteBuffer b = ByteBuffer.allocate(jsonSize(codec));
    putJson(b, codec);
    b.flip();
    return b;
  }
}
