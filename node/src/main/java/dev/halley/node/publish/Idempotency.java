package dev.halley.node.publish;

import java.time.Clock;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Remembers publish outcomes per (idempotency key, recipient) for a window (milliseconds), bounded
 * by key count and by an estimate of the bytes held (oldest keys forgotten first). A recipient is a
 * user, or a channel on this node. Only what a duplicate answer needs is kept: per user one small
 * code (delivered with n connections, buffered, dropped), per channel two counts. Users this node
 * did not own are never remembered, so a later attempt with the same key after a map change is
 * handled afresh.
 *
 * <p>Thread-safe: one lock (this object) over the map and the byte count; each call is one short
 * critical section over a message's recipients. The gauges read volatile copies without the lock.
 */
public final class Idempotency {
  /** The outcome of a recipient this request reserved: publish it, then {@link #complete}. */
  public static final int NEW = -1;

  /** Not owned by this node (and not remembered). */
  public static final int MISDIRECTED = -2;

  /** Reserved by another request that is still publishing it. */
  public static final int IN_FLIGHT = 0;

  /** Buffered for a user with no live connection. */
  public static final int BUFFERED = 1;

  /** Dropped: a TTL-zero message and the user had no live connection. */
  public static final int DROPPED = 2;

  // Delivered to n connections: DELIVERED_BASE + n (n >= 1).
  private static final int DELIVERED_BASE = 3;

  /**
   * Estimated bytes of one remembered key beyond its characters: the linked map entry, the entry
   * object, the key String and an initial hash table.
   */
  static final long KEY_BYTES = 200;

  /** Estimated bytes of one remembered recipient beyond its characters (node, String, value). */
  static final long RECIPIENT_BYTES = 100;

  private static final class Entry {
    final long atMs;
    final Map<String, Integer> users = new HashMap<>(4);
    final Map<String, long[]> channels = new HashMap<>(2); // {users, connections}; null in flight
    long bytes;

    Entry(long atMs, long bytes) {
      this.atMs = atMs;
      this.bytes = bytes;
    }
  }

  private final LinkedHashMap<String, Entry> keys = new LinkedHashMap<>();
  private final long windowMs;
  private final int maxKeys;
  private final long maxBytes;
  private final Clock clock;
  private long bytes; // guarded by this
  private volatile long bytesGauge;
  private volatile int keysGauge;

  public Idempotency(long windowMs, int maxKeys, long maxBytes, Clock clock) {
    this.windowMs = windowMs;
    this.maxKeys = maxKeys;
    this.maxBytes = maxBytes;
    this.clock = clock;
  }

  /** Encodes "delivered to {@code connections} (>= 1) connections". */
  public static int delivered(int connections) {
    return DELIVERED_BASE - 1 + Math.max(1, connections);
  }

  /** The connections of a delivered code, else 0. */
  public static int connections(int code) {
    return code >= DELIVERED_BASE ? code - DELIVERED_BASE + 1 : 0;
  }

  public static boolean isDelivered(int code) {
    return code >= DELIVERED_BASE;
  }

  /**
   * For each user (distinct) the remembered code, or {@link #IN_FLIGHT}; for the others {@link
   * #MISDIRECTED} when {@code owned[i]} is false, else {@link #NEW}, reserving them for this
   * caller.
   */
  synchronized int[] reserveUsers(String key, List<String> users, boolean[] owned) {
    Entry e = entry(key);
    int[] codes = new int[users.size()];
    for (int i = 0; i < codes.length; i++) {
      String user = users.get(i);
      Integer known = e.users.get(user);
      if (known != null) {
        codes[i] = known;
      } else if (!owned[i]) {
        codes[i] = MISDIRECTED;
      } else {
        e.users.put(user, IN_FLIGHT);
        grow(e, RECIPIENT_BYTES + user.length());
        codes[i] = NEW;
      }
    }
    trim(key);
    return codes;
  }

  /** Records the outcome codes of users this caller reserved ({@code codes[i] == NEW} before). */
  synchronized void completeUsers(String key, List<String> users, int[] reserved, int[] outcomes) {
    Entry e = keys.get(key);
    if (e == null) {
      return; // forgotten meanwhile (window or bounds)
    }
    for (int i = 0; i < reserved.length; i++) {
      if (reserved[i] == NEW) {
        e.users.replace(users.get(i), outcomes[i]);
      }
    }
  }

  /**
   * The remembered {@code {users, connections}} of a channel publish, {@code long[0]} while it is
   * in flight, or null when it is new (now reserved for this caller).
   */
  synchronized long[] reserveChannel(String key, String channel) {
    Entry e = entry(key);
    if (e.channels.containsKey(channel)) {
      long[] known = e.channels.get(channel);
      return known == null ? new long[0] : known;
    }
    e.channels.put(channel, null);
    grow(e, RECIPIENT_BYTES + channel.length());
    trim(key);
    return null;
  }

  synchronized void completeChannel(String key, String channel, long users, long connections) {
    Entry e = keys.get(key);
    if (e != null && e.channels.containsKey(channel)) {
      e.channels.put(channel, new long[] {users, connections});
    }
  }

  /** Keys remembered now. */
  public int keys() {
    return keysGauge;
  }

  /** Estimated bytes held now (see {@link #KEY_BYTES}, {@link #RECIPIENT_BYTES}). */
  public long bytes() {
    return bytesGauge;
  }

  private Entry entry(String key) {
    long now = clock.millis();
    for (Iterator<Entry> it = keys.values().iterator(); it.hasNext(); ) {
      Entry old = it.next();
      if (old.atMs + windowMs > now) {
        break;
      }
      it.remove();
      bytes -= old.bytes;
    }
    Entry e = keys.get(key);
    if (e == null) {
      e = new Entry(now, KEY_BYTES + key.length());
      keys.put(key, e);
      bytes += e.bytes;
    }
    return e;
  }

  private void grow(Entry e, long n) {
    e.bytes += n;
    bytes += n;
  }

  /**
   * Forgets the oldest keys while over a bound; the key being written goes last, so it is forgotten
   * only when it alone is over the byte bound.
   */
  private void trim(String current) {
    Iterator<Map.Entry<String, Entry>> it = keys.entrySet().iterator();
    while ((keys.size() > maxKeys || bytes > maxBytes) && it.hasNext()) {
      Map.Entry<String, Entry> oldest = it.next();
      if (oldest.getKey().equals(current) && keys.size() > 1) {
        continue;
      }
      it.remove();
      bytes -= oldest.getValue().bytes;
    }
    bytesGauge = bytes;
    keysGauge = keys.size();
  }
}
