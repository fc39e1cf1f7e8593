package dev.halley.node.stream;

import dev.halley.node.wire.Message;
import java.util.HashMap;

/**
 * The slots of a connection's outbound queue: a growable ring of (sequence, event) pairs in arrival
 * order, at most {@code maxQueued} slots, with conflation (issue #16). A keyed index maps each
 * conflation key to the slot of the queued message with that key; a newer message with the key
 * turns that slot into a tombstone, which {@link #peek} skips and a full ring compacts away.
 *
 * <p>Owner: the {@link Connection} that holds it. Not thread-safe: every method runs with that
 * connection's lock held (publishers add with the stream's lock held too; the IO thread takes).
 */
final class OutboundRing {
  private static final int INITIAL_CAPACITY = 4;
  private static final int SHRINK_ABOVE = 64;

  private static final long[] NO_SEQS = {};
  private static final Object[] NO_ITEMS = {};

  /** The content of a slot whose message a newer one with its conflation key replaced. */
  private static final Object CONFLATED = new Object();

  private final int maxQueued;
  private long[] seqs = NO_SEQS;
  private Object[] items = NO_ITEMS;
  private int head;
  private int size;
  private int tombstones;
  // Conflation key -> slot of the queued message with that key; made at the first keyed message.
  private HashMap<String, Integer> keyed;

  OutboundRing(int maxQueued) {
    this.maxQueued = maxQueued;
  }

  /** Slots in use, tombstones included: 0 means nothing is left to skip or to write. */
  int slots() {
    return size;
  }

  /** Events waiting to be written (tombstones not counted). */
  int live() {
    return size - tombstones;
  }

  /**
   * The queued message with conflation key {@code key} (not yet taken) becomes a tombstone; returns
   * it, or null if none with that key is queued.
   */
  Object supersede(String key) {
    Integer at = keyed == null ? null : keyed.remove(key);
    if (at == null) {
      return null;
    }
    Object old = items[at];
    items[at] = CONFLATED;
    tombstones++;
    return old;
  }

  /** Whether all {@code maxQueued} slots hold live events (tombstones are compacted away first). */
  boolean isFull() {
    if (size == maxQueued && tombstones > 0) {
      rebuild(seqs.length);
    }
    return size == maxQueued;
  }

  /** Appends an event at the tail; the caller checked {@link #isFull} first. */
  void add(long seq, Object item) {
    if (size == seqs.length) {
      rebuild(Math.min(Math.max(seqs.length * 2, INITIAL_CAPACITY), maxQueued));
    }
    int tail = (head + size) % seqs.length;
    seqs[tail] = seq;
    items[tail] = item;
    size++;
    if (item instanceof Message m && m.conflationKey != null) {
      if (keyed == null) {
        keyed = new HashMap<>();
      }
      keyed.put(m.conflationKey, tail);
    }
  }

  /** The first live event (tombstones before it are dropped), or null if none is queued. */
  Object peek() {
    while (size > 0 && items[head] == CONFLATED) {
      items[head] = null;
      head = (head + 1) % seqs.length;
      size--;
      tombstones--;
    }
    if (size == 0) {
      head = 0;
      return null;
    }
    return items[head];
  }

  /** The sequence of the event {@link #peek} returned. */
  long peekSeq() {
    return seqs[head];
  }

  /**
   * Takes the event {@link #peek} returned out of the ring; an emptied large ring shrinks, and a
   * ring emptied by a control event (the hello, a heartbeat, the last event) lets its slots go: a
   * connection that is sent messages keeps them, an idle one does not (issue 12).
   */
  void removeHead() {
    Object taken = items[head];
    items[head] = null;
    if (keyed != null && taken instanceof Message m && m.conflationKey != null) {
      keyed.remove(m.conflationKey, head);
    }
    head = (head + 1) % seqs.length;
    size--;
    if (size == 0) {
      head = 0;
      if (!(taken instanceof Message)) {
        seqs = NO_SEQS;
        items = NO_ITEMS;
      } else if (seqs.length > SHRINK_ABOVE) {
        seqs = new long[INITIAL_CAPACITY];
        items = new Object[INITIAL_CAPACITY];
      }
    }
  }

  /** Drops every slot. */
  void clear() {
    seqs = NO_SEQS;
    items = NO_ITEMS;
    head = 0;
    size = 0;
    tombstones = 0;
    keyed = null;
  }

  /** Slots allocated now (for tests of growing and shrinking). */
  int capacity() {
    return seqs.length;
  }

  /** Copies the live entries into arrays of {@code n} slots, from index 0. */
  private void rebuild(int n) {
    long[] s = new long[n];
    Object[] it = new Object[n];
    int live = 0;
    if (keyed != null) {
      keyed.clear();
    }
    for (int i = 0; i < size; i++) {
      int from = (head + i) % seqs.length;
      if (items[from] == CONFLATED) {
        continue;
      }
      s[live] = seqs[from];
      it[live] = items[from];
      if (keyed != null && it[live] instanceof Message m && m.conflationKey != null) {
        keyed.put(m.conflationKey, live);
      }
      live++;
    }
    seqs = s;
    items = it;
    head = 0;
    size = live;
    tombstones = 0;
  }
}
