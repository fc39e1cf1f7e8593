package dev.halley.node.publish;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Remembers publish outcomes per (idempotency key, recipient) for a window (milliseconds), bounded
 * by key count and by an estimate of the bytes held (oldest keys forgotten first). A recipient is a
 * user, or a channel on this node. Only what a repeat answer needs is kept: a request names its
 * users, so per user the key keeps a 64-bit digest of the user ID (salted SHA-256, truncated; a
 * collision, about 1 in 2^64 per pair of users of one key, would answer a repeat for the other
 * user) and one int code (delivered with n connections, buffered, dropped), 12 bytes in sorted
 * arrays; per channel its name and two counts. Users this node did not own are never remembered, so
 * a later attempt with the same key after a map change is handled afresh.
 *
 * <p>Issue 14: the first outcome's {@code positions} (the event seq this node, the old owner of a
 * moving user, gave the message while a pending map was installed) are kept too, so that a repeat
 * restates them and the publisher can relay them: per user message 16 bytes per reported user (its
 * digest and the seq, in sorted arrays, only users that had a position), per channel message the
 * reported users' IDs (a channel request does not name them) and seqs. Only moving users get a
 * position, and only during a reshard, so this is small.
 *
 * <p>Thread-safe: one lock (this object) over the map and the byte count; digests are computed
 * before it is taken, and each call is one short critical section over a message's recipients. The
 * gauges read volatile copies without the lock.
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
   * object and its arrays' headers, the key String.
   */
  static final long KEY_BYTES = 190;

  /** Bytes per user slot of a key (a long digest and an int code). */
  static final long USER_BYTES = 12;

  /** Estimated bytes of one remembered channel beyond its name (map node, counts). */
  static final long CHANNEL_BYTES = 100;

  /** Bytes per position of a user message (a long digest and a long seq). */
  static final long USER_POSITION_BYTES = 16;

  /** Estimated bytes per position of a channel message beyond the user ID's length. */
  static final long CHANNEL_POSITION_BYTES = 56;

  /** No position: the user had none (not moving, or no pending map) or it was not kept. */
  public static final long NO_POSITION = -1;

  private static final long[] NO_HASHES = new long[0];
  private static final int[] NO_CODES = new int[0];

  private static final class Entry {
    final long atMs;
    long[] hashes = NO_HASHES; // sorted, the first size slots used
    int[] codes = NO_CODES;
    int size;
    long[] positionHashes =
        NO_HASHES; // sorted digests of users with a position (first `positions` used)
    long[] positionSeqs = NO_HASHES;
    int positions;
    Map<String, long[]> channels; // {users, connections}; null value while in flight
    Map<String, ChannelPositions> channelPositions; // only channels whose outcome had positions
    long bytes;

    Entry(long atMs, long bytes) {
      this.atMs = atMs;
      this.bytes = bytes;
    }

    int find(long hash) {
      return java.util.Arrays.binarySearch(hashes, 0, size, hash);
    }
  }

  /** The {@code positions} of a channel message's first outcome: user IDs and their seqs. */
  public record ChannelPositions(String[] users, long[] seqs) {}

  private final byte[] salt = new byte[16];
  private final ThreadLocal<MessageDigest> sha256 =
      ThreadLocal.withInitial(
          () -> {
            try {
              return MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
              throw new IllegalStateException("every JVM has SHA-256", e);
            }
          });

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
    new SecureRandom().nextBytes(salt);
  }

  /** The digests of {@code users}, to pass to {@link #reserveUsers} and {@link #completeUsers}. */
  long[] digests(List<String> users) {
    MessageDigest md = sha256.get();
    long[] out = new long[users.size()];
    for (int i = 0; i < out.length; i++) {
      md.update(salt);
      byte[] d = md.digest(users.get(i).getBytes(StandardCharsets.UTF_8));
      long h = 0;
      for (int b = 0; b < 8; b++) {
        h = (h << 8) | (d[b] & 0xff);
      }
      out[i] = h;
    }
    return out;
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
   * For each user (distinct; {@code digests} from {@link #digests}) the remembered code, or {@link
   * #IN_FLIGHT}; for the others {@link #MISDIRECTED} when {@code owned[i]} is false, else {@link
   * #NEW}, reserving them for this caller.
   */
  synchronized int[] reserveUsers(String key, long[] digests, boolean[] owned) {
    Entry e = entry(key);
    int[] codes = new int[digests.length];
    int fresh = 0;
    for (int i = 0; i < codes.length; i++) {
      int at = e.find(digests[i]);
      if (at >= 0) {
        codes[i] = e.codes[at];
      } else if (!owned[i]) {
        codes[i] = MISDIRECTED;
      } else {
        codes[i] = NEW;
        fresh++;
      }
    }
    if (fresh > 0) {
      long[] add = new long[fresh];
      for (int i = 0, n = 0; i < codes.length; i++) {
        if (codes[i] == NEW) {
          add[n++] = digests[i];
        }
      }
      insert(e, add);
    }
    trim(key);
    return codes;
  }

  /** {@link #reserveUsers(String, long[], boolean[])} for user IDs. */
  int[] reserveUsers(String key, List<String> users, boolean[] owned) {
    return reserveUsers(key, digests(users), owned);
  }

  /** {@link #completeUsers(String, long[], int[], int[])} for user IDs. */
  void completeUsers(String key, List<String> users, int[] reserved, int[] outcomes) {
    completeUsers(key, digests(users), reserved, outcomes);
  }

  /** Adds {@code add} (not yet in {@code e}) as in flight, keeping the arrays sorted. */
  private void insert(Entry e, long[] add) {
    java.util.Arrays.sort(add);
    int need = e.size + add.length;
    long[] hashes = e.hashes;
    int[] codes = e.codes;
    if (need > hashes.length) {
      int capacity = e.size == 0 ? need : Math.max(need, e.size + e.size / 2);
      hashes = new long[capacity];
      codes = new int[capacity];
      grow(e, USER_BYTES * (capacity - e.hashes.length));
    }
    // Merge from the back so it works in place as well.
    int a = e.size - 1;
    int b = add.length - 1;
    for (int w = need - 1; w >= 0; w--) {
      if (b < 0 || (a >= 0 && e.hashes[a] > add[b])) {
        hashes[w] = e.hashes[a];
        codes[w] = e.codes[a];
        a--;
      } else {
        hashes[w] = add[b];
        codes[w] = IN_FLIGHT;
        b--;
      }
    }
    e.hashes = hashes;
    e.codes = codes;
    e.size = need;
  }

  /** Records the outcome codes of users this caller reserved ({@code codes[i] == NEW} before). */
  synchronized void completeUsers(String key, long[] digests, int[] reserved, int[] outcomes) {
    completeUsers(key, digests, reserved, outcomes, null);
  }

  /**
   * {@link #completeUsers(String, long[], int[], int[])} with the seq each user's stream gave the
   * message when it was reported as a position ({@code seqs[i] >= 0}; {@link #NO_POSITION} or
   * {@code seqs == null} for none), kept for {@link #positions}.
   */
  synchronized void completeUsers(
      String key, long[] digests, int[] reserved, int[] outcomes, long[] seqs) {
    Entry e = keys.get(key);
    if (e == null) {
      return; // forgotten meanwhile (window or bounds)
    }
    List<long[]> withPosition = null;
    for (int i = 0; i < reserved.length; i++) {
      if (reserved[i] == NEW) {
        int at = e.find(digests[i]);
        if (at >= 0 && e.codes[at] == IN_FLIGHT) {
          e.codes[at] = outcomes[i];
          if (seqs != null && seqs[i] >= 0) {
            if (withPosition == null) {
              withPosition = new java.util.ArrayList<>();
            }
            withPosition.add(new long[] {digests[i], seqs[i]});
          }
        }
      }
    }
    if (withPosition != null) {
      addPositions(e, withPosition.toArray(new long[0][]));
      trim(key);
    }
  }

  /** Merges (digest, seq) pairs into {@code e}'s sorted position arrays. */
  private void addPositions(Entry e, long[][] add) {
    java.util.Arrays.sort(add, (x, y) -> Long.compare(x[0], y[0]));
    long[] hashes = new long[e.positions + add.length];
    long[] seqs = new long[hashes.length];
    int a = 0;
    int b = 0;
    int w = 0;
    while (a < e.positions || b < add.length) {
      if (b >= add.length || (a < e.positions && e.positionHashes[a] < add[b][0])) {
        hashes[w] = e.positionHashes[a];
        seqs[w++] = e.positionSeqs[a++];
      } else if (a < e.positions && e.positionHashes[a] == add[b][0]) {
        b++; // already known (cannot happen: a user is completed once per key)
      } else {
        hashes[w] = add[b][0];
        seqs[w++] = add[b++][1];
      }
    }
    grow(e, USER_POSITION_BYTES * (w - e.positions));
    e.positionHashes = w == hashes.length ? hashes : java.util.Arrays.copyOf(hashes, w);
    e.positionSeqs = w == seqs.length ? seqs : java.util.Arrays.copyOf(seqs, w);
    e.positions = w;
  }

  /**
   * The seqs of {@code digests}' positions kept with the first outcome of {@code key} ({@link
   * #NO_POSITION} where none), or null when the key holds none at all.
   */
  synchronized long[] positions(String key, long[] digests) {
    Entry e = keys.get(key);
    if (e == null || e.positions == 0) {
      return null;
    }
    long[] out = new long[digests.length];
    for (int i = 0; i < digests.length; i++) {
      int at = java.util.Arrays.binarySearch(e.positionHashes, 0, e.positions, digests[i]);
      out[i] = at >= 0 ? e.positionSeqs[at] : NO_POSITION;
    }
    return out;
  }

  /** {@link #positions(String, long[])} for user IDs. */
  long[] positions(String key, List<String> users) {
    return positions(key, digests(users));
  }

  /**
   * The remembered {@code {users, connections}} of a channel publish, {@code long[0]} while it is
   * in flight, or null when it is new (now reserved for this caller).
   */
  synchronized long[] reserveChannel(String key, String channel) {
    Entry e = entry(key);
    if (e.channels == null) {
      e.channels = new HashMap<>(2);
    }
    if (e.channels.containsKey(channel)) {
      long[] known = e.channels.get(channel);
      return known == null ? new long[0] : known;
    }
    e.channels.put(channel, null);
    grow(e, CHANNEL_BYTES + channel.length());
    trim(key);
    return null;
  }

  synchronized void completeChannel(String key, String channel, long users, long connections) {
    completeChannel(key, channel, users, connections, null);
  }

  /**
   * {@link #completeChannel(String, String, long, long)} with the first outcome's positions (null
   * or empty for none), kept for {@link #channelPositions}.
   */
  synchronized void completeChannel(
      String key, String channel, long users, long connections, ChannelPositions positions) {
    Entry e = keys.get(key);
    if (e != null && e.channels != null && e.channels.containsKey(channel)) {
      e.channels.put(channel, new long[] {users, connections});
      if (positions != null && positions.users().length > 0) {
        if (e.channelPositions == null) {
          e.channelPositions = new HashMap<>(2);
        }
        e.channelPositions.put(channel, positions);
        long n = 0;
        for (String u : positions.users()) {
          n += CHANNEL_POSITION_BYTES + u.length();
        }
        grow(e, n);
        trim(key);
      }
    }
  }

  /** The positions kept with the first outcome of {@code key} on {@code channel}, or null. */
  synchronized ChannelPositions channelPositions(String key, String channel) {
    Entry e = keys.get(key);
    return e == null || e.channelPositions == null ? null : e.channelPositions.get(channel);
  }

  /** Keys remembered now. */
  public int keys() {
    return keysGauge;
  }

  /**
   * Estimated bytes held now (see {@link #KEY_BYTES}, {@link #USER_BYTES}, {@link #CHANNEL_BYTES}).
   */
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
