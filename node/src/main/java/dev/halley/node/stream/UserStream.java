package dev.halley.node.stream;

import dev.halley.node.wire.Control;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.EventTypes;
import dev.halley.node.wire.Message;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * One user's event stream on this node: the next sequence number, a bounded buffer of recent events
 * for resume (count and age limits), the user's live connections and channel subscriptions.
 *
 * <p>Honest resume: a client's last seq {@code s} is covered when {@code lossFloor <= s <= seq};
 * {@code lossFloor} is the highest seq dropped for lack of room or age (TTL expiry is the
 * publisher's choice and does not count as loss). A stream created after another incarnation of it
 * was evicted starts above every seq this node issued before, so IDs are never reused.
 *
 * <p>Threading: every method synchronizes on the stream; critical sections are short and never
 * block (connections only queue references).
 */
public final class UserStream {
  private static final Connection[] NO_CONNECTIONS = new Connection[0];
  private static final int INITIAL_CAPACITY = 8;

  final String user;
  private final int maxEvents;
  private final long maxAgeMs;
  private final BufferDrops drops;
  private final long maxBytes;
  private final BufferBudget budget;

  // Guarded by this.
  private long seq;
  private long lossFloor;
  private long[] seqs = new long[0];
  private Message[] messages = new Message[0];
  private int head;
  private int count;
  private Connection[] connections = NO_CONNECTIONS;
  private Set<String> tokenChannels = Set.of();
  private final Set<String> apiChannels = new TreeSet<>();
  private long lastActivityMs;
  private boolean evicted;
  private long bytes;
  // Written under the lock, read without it by BufferBudget's compaction: only ever grows.
  private volatile long firstSeq = Long.MAX_VALUE;

  UserStream(String user, long baseSeq, int maxEvents, long maxAgeMs, long nowMs) {
    this(user, baseSeq, maxEvents, maxAgeMs, nowMs, BufferDrops.NONE);
  }

  UserStream(
      String user, long baseSeq, int maxEvents, long maxAgeMs, long nowMs, BufferDrops drops) {
    this(
        user, baseSeq, maxEvents, Long.MAX_VALUE, maxAgeMs, nowMs, drops, BufferBudget.unlimited());
  }

  /**
   * {@code maxBytes}: bytes this buffer may hold ({@link #cost}); {@code budget}: the node-wide
   * budget it counts against.
   */
  UserStream(
      String user,
      long baseSeq,
      int maxEvents,
      long maxBytes,
      long maxAgeMs,
      long nowMs,
      BufferDrops drops,
      BufferBudget budget) {
    this.maxBytes = maxBytes;
    this.budget = budget;
    this.user = user;
    this.drops = drops;
    this.seq = baseSeq;
    this.lossFloor = baseSeq;
    this.maxEvents = maxEvents;
    this.maxAgeMs = maxAgeMs;
    this.lastActivityMs = nowMs;
  }

  public String user() {
    return user;
  }

  /**
   * Appends {@code m} (unless it is live-only), queues it on every connection, and returns the
   * number of connections it was handed to. Returns -1 if the stream was evicted meanwhile (the
   * caller retries with a fresh stream).
   */
  public synchronized int publish(Message m, long nowMs) {
    if (evicted) {
      return -1;
    }
    purge(nowMs);
    long s = ++seq;
    if (!m.liveOnly()) {
      append(s, m, nowMs);
    }
    lastActivityMs = nowMs;
    Connection[] conns = connections;
    int n = 0;
    for (Connection c : conns) {
      if (c.offer(s, m)) {
        n++;
      }
    }
    return n;
  }

  /** What one buffered event counts against {@code bufferMaxBytes}: its data plus the slot. */
  static long cost(Message m) {
    return m.tail.length + BufferBudget.ENTRY_BYTES;
  }

  private void append(long s, Message m, long nowMs) {
    long size = cost(m);
    while (count > 0 && (count == maxEvents || bytes + size > maxBytes)) {
      dropHead(nowMs);
    }
    if (count == seqs.length) {
      int n = Math.min(Math.max(INITIAL_CAPACITY, seqs.length * 2), maxEvents);
      long[] ns = new long[n];
      Message[] nm = new Message[n];
      for (int i = 0; i < count; i++) {
        int from = (head + i) % seqs.length;
        ns[i] = seqs[from];
        nm[i] = messages[from];
      }
      seqs = ns;
      messages = nm;
      head = 0;
    }
    int tail = (head + count) % seqs.length;
    seqs[tail] = s;
    messages[tail] = m;
    count++;
    bytes += size;
    if (count == 1) {
      firstSeq = s;
    }
    budget.added(this, s, m);
  }

  private void dropHead(long nowMs) {
    boolean ttl = messages[head].expired(nowMs);
    if (!ttl) {
      lossFloor = Math.max(lossFloor, seqs[head]);
    }
    drops.dropped(ttl);
    release(messages[head]);
    messages[head] = null;
    head = (head + 1) % seqs.length;
    count--;
    firstSeq = count == 0 ? seq + 1 : seqs[head];
  }

  private void release(Message m) {
    bytes -= cost(m);
    budget.removed(m);
  }

  /**
   * The node's buffer budget is full and the event at {@code seq} is among its oldest: drops it and
   * anything older still here (a loss: {@code lossFloor} rises). Returns the events dropped.
   */
  synchronized int dropForBudget(long seq) {
    int n = 0;
    while (count > 0 && seqs[head] <= seq) {
      lossFloor = Math.max(lossFloor, seqs[head]);
      drops.dropped(false);
      release(messages[head]);
      messages[head] = null;
      head = (head + 1) % seqs.length;
      count--;
      n++;
    }
    firstSeq = count == 0 ? this.seq + 1 : seqs[head];
    return n;
  }

  /** The lowest seq still buffered (greater than every seq issued if none); read without lock. */
  long firstBufferedSeq() {
    return firstSeq;
  }

  /** Bytes the buffer holds ({@link #cost} of each event). */
  synchronized long bufferedBytes() {
    return bytes;
  }

  /** Drops events older than the age limit (a loss) or past their TTL (not a loss). */
  private void purge(long nowMs) {
    while (count > 0) {
      Message m = messages[head];
      if (m.expired(nowMs) || m.publishedAtMs + maxAgeMs <= nowMs) {
        dropHead(nowMs);
      } else {
        break;
      }
    }
    if (count == 0 && seqs.length > INITIAL_CAPACITY) {
      seqs = new long[0];
      messages = new Message[0];
      head = 0;
    }
  }

  /** What a client resuming from a position gets: a reset, or the events after it. */
  public interface ReplaySink {
    /**
     * Called with the stream locked, once per connect: {@code position} is where the stream stands
     * for this client before {@code reset}/replayed events, {@code current} the last seq issued
     * (the position after them). Returns the connection to register for live events, or null.
     */
    public Connection open(
        long position,
        long current,
        Control reset,
        long[] seqs,
        Message[] messages,
        int n,
        long now);
  }

  /**
   * Atomically computes the replay for a client at {@code resume} (null: start at the current
   * position), hands it to {@code sink}, and registers the connection the sink returns. Returns
   * false if the stream was evicted meanwhile (the caller retries with a fresh stream).
   */
  public synchronized boolean open(
      EventCodec codec, EventCodec.EventId resume, long nowMs, ReplaySink sink) {
    if (evicted) {
      return false;
    }
    purge(nowMs);
    lastActivityMs = nowMs;
    Connection register;
    if (resume == null) {
      register = sink.open(seq, seq, null, null, null, 0, nowMs);
    } else if (!resume.epoch().equals(codec.epoch())) {
      register =
          sink.open(seq, seq, codec.reset(seq, EventTypes.RESET_EPOCH), null, null, 0, nowMs);
    } else if (resume.seq() < lossFloor || resume.seq() > seq) {
      register = sink.open(seq, seq, codec.reset(seq, EventTypes.RESET_GAP), null, null, 0, nowMs);
    } else {
      int n = 0;
      long[] rs = new long[count];
      Message[] rm = new Message[count];
      for (int i = 0; i < count; i++) {
        int at = (head + i) % seqs.length;
        if (seqs[at] > resume.seq() && !messages[at].expired(nowMs)) {
          rs[n] = seqs[at];
          rm[n] = messages[at];
          n++;
        }
      }
      register = sink.open(resume.seq(), seq, null, rs, rm, n, nowMs);
    }
    if (register != null) {
      Connection[] c = Arrays.copyOf(connections, connections.length + 1);
      c[c.length - 1] = register;
      connections = c;
    }
    return true;
  }

  synchronized void detach(Connection c) {
    Connection[] conns = connections;
    for (int i = 0; i < conns.length; i++) {
      if (conns[i] == c) {
        Connection[] n = new Connection[conns.length - 1];
        System.arraycopy(conns, 0, n, 0, i);
        System.arraycopy(conns, i + 1, n, i, conns.length - i - 1);
        connections = n.length == 0 ? NO_CONNECTIONS : n;
        return;
      }
    }
  }

  /** The live connections (a snapshot). */
  public synchronized Connection[] connections() {
    return connections.clone();
  }

  public synchronized int connectionCount() {
    return connections.length;
  }

  /** The last seq issued. */
  synchronized long seq() {
    return seq;
  }

  synchronized long lastActivityMs() {
    return lastActivityMs;
  }

  synchronized int buffered() {
    return count;
  }

  // ---- channels (the registry keeps its index in step) ----

  synchronized Set<String> tokenChannels() {
    return tokenChannels;
  }

  synchronized void tokenChannels(Set<String> channels) {
    tokenChannels = Set.copyOf(channels);
  }

  synchronized Set<String> apiChannels() {
    return Set.copyOf(apiChannels);
  }

  synchronized boolean addApiChannel(String channel) {
    return apiChannels.add(channel);
  }

  synchronized boolean removeApiChannel(String channel) {
    return apiChannels.remove(channel);
  }

  /** Token and API channels, sorted. */
  public synchronized Set<String> channels() {
    TreeSet<String> all = new TreeSet<>(tokenChannels);
    all.addAll(apiChannels);
    return all;
  }

  synchronized boolean subscribed(String channel) {
    return tokenChannels.contains(channel) || apiChannels.contains(channel);
  }

  /**
   * Marks the stream evicted if it is idle (no connections); returns the last seq issued, or -1 if
   * it is not idle. {@code keepSubscribed}: refuse streams with API subscriptions.
   */
  synchronized long evictIfIdle(boolean keepSubscribed) {
    if (evicted || connections.length > 0 || (keepSubscribed && !apiChannels.isEmpty())) {
      return -1;
    }
    evicted = true;
    return seq;
  }

  /** An evicted stream's buffered events, counted as dropped (TTL or limit) once. */
  synchronized void reportBufferedDropped(long nowMs) {
    for (int i = 0; i < count; i++) {
      drops.dropped(messages[(head + i) % seqs.length].expired(nowMs));
    }
    releaseBuffer();
  }

  /** Empties the buffer (an evicted stream), giving its bytes back to the budget. */
  synchronized void releaseBuffer() {
    for (int i = 0; i < count; i++) {
      release(messages[(head + i) % seqs.length]);
    }
    firstSeq = Long.MAX_VALUE;
    count = 0;
    seqs = new long[0];
    messages = new Message[0];
    head = 0;
  }

  synchronized boolean isEvicted() {
    return evicted;
  }

  @Override
  public synchronized String toString() {
    return "UserStream("
        + user
        + ", seq "
        + seq
        + ", buffered "
        + count
        + ", connections "
        + connections.length
        + ")";
  }
}
