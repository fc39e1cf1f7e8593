package dev.halley.node.stream;

import dev.halley.node.wire.Control;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.EventTypes;
import dev.halley.node.wire.Message;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * One user's event stream on this node: the next sequence number, a bounded buffer of recent events
 * for resume (count and age limits), the user's live connections and channel subscriptions.
 *
 * <p>Honest resume: a client's last seq {@code s} is covered when {@code lossFloor <= s <= seq};
 * {@code lossFloor} is the highest seq dropped for lack of room or age (TTL expiry is the
 * publisher's choice and does not count as loss). A stream created after another incarnation of it
 * was evicted (idle, or moved away by a map change) starts strictly above every seq and every
 * position this node issued before ({@link UserStreams}), so an ID of an earlier incarnation is
 * never taken for coverage: the other node may have held events meanwhile. A client that is not
 * covered gets a {@code reset} positioned at {@code lossFloor}, followed by every event this
 * incarnation still holds after it (issue 9 items 8 and 10).
 *
 * <p>Channels: a token's channels belong to the connection that presented it. The stream is
 * subscribed to the union of its API subscriptions and the channels granted by its connections'
 * tokens (a grant lasts until its token's validity ends, so a long-poll client between two requests
 * keeps its channels); each connection receives, live and on replay, only the channel messages its
 * own token grants or that an API subscription brings to the whole user. The stream keeps the
 * {@link ChannelIndex} in step with its channel set under its own lock, and an evicted stream is
 * never indexed again.
 *
 * <p>Threading: every method synchronizes on the stream; critical sections are short and never
 * block (connections only queue references). Lock order: stream, connection, index.
 */
public final class UserStream {
  private static final Connection[] NO_CONNECTIONS = new Connection[0];
  private static final long[] NO_SEQS = new long[0];
  private static final Message[] NO_MESSAGES = new Message[0];
  private static final int INITIAL_CAPACITY = 8;
  private static final Map<String, Long> NO_GRANTS = java.util.Collections.emptyMap();
  private static final Set<String> NO_CHANNELS = java.util.Collections.emptySet();

  final String user;
  private final int maxEvents;
  private final long maxAgeMs;
  private final BufferDrops drops;
  private final long maxBytes;
  private final BufferBudget budget;
  private final ChannelIndex index;

  // Guarded by this.
  private long seq;
  private long lossFloor;
  private long[] seqs = NO_SEQS;
  private Message[] messages = NO_MESSAGES;
  private int head;
  private int count;
  private Connection[] connections = NO_CONNECTIONS;
  // Channel -> the end of the longest-valid token that grants it (epoch ms). Both are the shared
  // empty instances until their first entry (most streams never have an API subscription), and a
  // single grant is a singleton map, a HashMap from the second on (issue 12: a stream's one grant
  // cost 136 bytes as a HashMap, 56 so).
  private Map<String, Long> tokenGrants = NO_GRANTS;
  private Set<String> apiChannels = NO_CHANNELS;
  // A connection opened or ended, or a message addressed to the user (not a channel message).
  private long lastActivityMs;
  // A connection ended since the last sweep (which then counts it as activity at its own time).
  private boolean connectionEnded;
  private boolean evicted;
  private long bytes;
  // Written under the lock, read without it by BufferBudget's compaction: only ever grows.
  private volatile long firstSeq = Long.MAX_VALUE;

  private static final org.slf4j.Logger HANDOFF_LOG =
      org.slf4j.LoggerFactory.getLogger("dev.halley.node.stream.Handoff");

  // Issue 14 (lossless resharding), guarded by this. The seq this incarnation started above (a
  // lossFloor above it means an event was lost).
  private final long baseSeq;
  // The old owner's positions of relayed events (null until the first relay), and per event seq
  // its old position (an EventCodec.EventId or Handoff.UNKNOWN_POSITION; absent: none), both
  // bounded by the positions' bound.
  private Handoff.Positions positions;
  private java.util.HashMap<Long, Object> oldBySeq;
  // Old owner: the first seq whose position was reported to a publisher (-1: none).
  private long reportedFirst = -1;
  // Old owner: seqs after reportedFirst added without a reported position (latest-value copies at
  // a connect), at most Handoff.Token.MAX_UNREPORTED; the handoff lists them.
  private long[] unreported;
  // Old owner: set when an activated map moved the user away (a finishing stream).
  private Handoff.Token finishing;
  // Old owner: the carried state appended to the handoff (issue 14), or null.
  private String carried;
  // New owner: channels relayed to this pre-stream (appended while no connection's grant holds).
  private Set<String> relayChannels;
  // New owner (contract change 5): the channels whose messages this stream has held since their
  // first relay (relay-subscribed), or since a covered handoff's connection held them; a channel
  // leaves it when the stream stops receiving it. A handoff whose token grants another channel is
  // covered only while every publisher is still dual.
  private Set<String> coveredChannels;
  // New owner: connects waiting for relays (Handoff WAIT); run once at the next relay.
  private java.util.List<Runnable> relayWaiters;
  // New owner: the handoff the first held connect waited for, and when that wait ends (the
  // holder's System.nanoTime); a later connect with the same handoff ends its wait then too.
  private Handoff.Token waitedHandoff;
  private long waitedUntilNanos;
  // New owner: when the last relayed event arrived (epoch ms).
  private long lastRelayMs;
  // Whether a connection ever registered (a client may hold IDs of this stream).
  private boolean everOpened;
  // New owner: the highest old seq (of handedEpoch) a covered handoff's client already had; a relay
  // arriving later at or before it is neither stored nor delivered (rule 5: it has it).
  private String handedEpoch;
  private long handedThrough = -1;

  UserStream(String user, long baseSeq, int maxEvents, long maxAgeMs, long nowMs) {
    this(user, baseSeq, maxEvents, maxAgeMs, nowMs, BufferDrops.NONE);
  }

  UserStream(
      String user, long baseSeq, int maxEvents, long maxAgeMs, long nowMs, BufferDrops drops) {
    this(
        user,
        baseSeq,
        maxEvents,
        Long.MAX_VALUE,
        maxAgeMs,
        nowMs,
        drops,
        BufferBudget.unlimited(),
        new ChannelIndex());
  }

  /**
   * {@code maxBytes}: bytes this buffer may hold ({@link #cost}); {@code budget}: the node-wide
   * budget it counts against; {@code index}: the channel index it keeps in step.
   */
  UserStream(
      String user,
      long baseSeq,
      int maxEvents,
      long maxBytes,
      long maxAgeMs,
      long nowMs,
      BufferDrops drops,
      BufferBudget budget,
      ChannelIndex index) {
    this.maxBytes = maxBytes;
    this.budget = budget;
    this.user = user;
    this.drops = drops;
    this.index = index;
    this.seq = baseSeq;
    this.baseSeq = baseSeq;
    this.lossFloor = baseSeq;
    this.maxEvents = maxEvents;
    this.maxAgeMs = maxAgeMs;
    this.lastActivityMs = nowMs;
  }

  public String user() {
    return user;
  }

  /**
   * Appends {@code m} (unless it is live-only), queues it on every connection entitled to it, and
   * returns the number of connections it was handed to. Returns -1 if the stream was evicted
   * meanwhile (the caller retries with a fresh stream) or, for a channel message, if the stream is
   * no longer subscribed to its channel.
   */
  public synchronized int publish(Message m, long nowMs) {
    return publish(m, nowMs, null, false, false, null);
  }

  /**
   * {@link #publish(Message, long)} for lossless resharding (issue 14). {@code old}: the old
   * owner's position of this message for this user (an {@link EventCodec.EventId}, or {@link
   * Handoff#UNKNOWN_POSITION}; null: none, a plain publish); a relayed channel message is appended
   * whether or not the stream is subscribed, and subscribes it to the channel as "relayed" (later
   * plain messages of it reach the stream while {@code plainToRelayed} and no connection holds).
   * {@code report}: this node is the old owner and the message's position is reported to the
   * publisher. {@code seqOut}, if not null, gets the seq issued (-1: none). A finishing stream
   * takes nothing (-1). A relay of an old position the stream holds already adds nothing (0, seq
   * -1): each event of the old owner is held at most once.
   */
  public synchronized int publish(
      Message m, long nowMs, Object old, boolean report, boolean plainToRelayed, long[] seqOut) {
    return publish(m, nowMs, old, report, plainToRelayed, false, seqOut);
  }

  /**
   * {@link #publish(Message, long, Object, boolean, boolean, long[])}; {@code preStream}: this node
   * only gains the user under the pending map (not yet activated), so a plain channel message
   * reaches the stream through a token grant only, not through an API subscription (a dual-mode
   * publisher's subscribe reaches both owners): until the activation the old owner serves the user
   * and reports it for a relay, like a relay-subscribed channel's.
   */
  public synchronized int publish(
      Message m,
      long nowMs,
      Object old,
      boolean report,
      boolean plainToRelayed,
      boolean preStream,
      long[] seqOut) {
    if (seqOut != null) {
      seqOut[0] = -1;
    }
    if (evicted) {
      return -1;
    }
    if (finishing != null) {
      return finishingPublish(m, nowMs, old, seqOut);
    }
    if (m.channel != null
        && old == null
        && !(preStream ? tokenSubscribed(m.channel, nowMs) : subscribed(m.channel, nowMs))) {
      if (!plainToRelayed || relayChannels == null || !relayChannels.contains(m.channel)) {
        return -1;
      }
    }
    if (old instanceof EventCodec.EventId id
        && positions != null
        && positions.contains(id.epoch(), id.seq())) {
      return 0; // that old event is held already (a stream holds each relayed event once)
    }
    if (old instanceof EventCodec.EventId id
        && id.seq() <= handedThrough
        && id.epoch().equals(handedEpoch)) {
      // A late relay (a slow publisher, after a covered handoff without one: rule 3) of an event
      // the handed-over client already had. Not recorded as held either: a client of the same user
      // coming later from an earlier position then finds it missing and gets an honest reset.
      return 0;
    }
    if (m.channel != null && old != null) {
      relayed(m.channel);
    }
    purge(nowMs);
    long s = ++seq;
    if (seqOut != null) {
      seqOut[0] = s;
    }
    if (report && reportedFirst < 0) {
      reportedFirst = s;
    } else if (!report && reportedFirst >= 0 && old == null) {
      // No publisher saw this one (a latest-value copy at a connect): the handoff says so, so
      // that the new owner does not wait for its relay. Beyond the bound it is left out (the
      // handoff then waits and ends in an honest reset).
      int n = unreported == null ? 0 : unreported.length;
      if (n < Handoff.Token.MAX_UNREPORTED) {
        unreported = unreported == null ? new long[1] : Arrays.copyOf(unreported, n + 1);
        unreported[n] = s;
      }
    }
    if (old != null) {
      int bound = positionsBound();
      if (positions == null) {
        positions = new Handoff.Positions(bound);
        oldBySeq = new java.util.HashMap<>();
      }
      if (old instanceof EventCodec.EventId id) {
        positions.add(id.epoch(), id.seq());
      } else {
        positions.unknown();
      }
      if (oldBySeq.size() < bound) {
        oldBySeq.put(s, old);
      }
      lastRelayMs = nowMs;
    }
    if (!m.liveOnly()) {
      append(s, m, nowMs);
    }
    if (old != null && relayWaiters != null) {
      java.util.List<Runnable> w = relayWaiters;
      relayWaiters = null;
      w.forEach(Runnable::run);
    }
    if (m.channel == null) {
      lastActivityMs = nowMs;
    }
    boolean toAll = m.channel == null || apiChannels.contains(m.channel);
    Connection[] conns = connections;
    int n = 0;
    for (Connection c : conns) {
      if ((toAll || c.grants.contains(m.channel)) && c.offer(s, m)) {
        n++;
      }
    }
    return n;
  }

  /**
   * Under the lock, on the old owner after the activation (contract change 1 of 2026-12-01): a
   * finishing stream keeps its channels. A channel message it is subscribed to gets a seq after F
   * and is stored, never delivered from here (its clients got or get {@code moved} at F; a
   * reconnect is replayed up to F only), and the caller reports its position, so a dual-mode
   * publisher relays it to the new owner, which delivers it after the handoff. Without it such a
   * message reached neither node for the user when its pre-stream there was not relayed that
   * channel: a covered handoff, and the message silently missing. Anything else: -1.
   */
  private int finishingPublish(Message m, long nowMs, Object old, long[] seqOut) {
    if (m.channel == null || old != null || !subscribed(m.channel, nowMs)) {
      return -1;
    }
    purge(nowMs);
    long s = ++seq;
    if (seqOut != null) {
      seqOut[0] = s;
    }
    if (!m.liveOnly()) {
      append(s, m, nowMs);
    }
    return 0;
  }

  /**
   * A relay said the old owner's outcome of a message this stream may lack is unknown: no handoff
   * to this stream is covered (rule 4), as for an event relayed with {@code null}.
   */
  public synchronized void unknownOldPosition() {
    if (positions == null) {
      positions = new Handoff.Positions(positionsBound());
      oldBySeq = new java.util.HashMap<>();
    }
    positions.unknown();
  }

  /** {@link #annotate}: the event holding the key took the old position. */
  public static final int ANNOTATED = 1;

  /** {@link #annotate}: the event holding the key had an old position already. */
  public static final int KEY_HELD = 0;

  /** {@link #annotate}: no buffered event holds the key. */
  public static final int KEY_ABSENT = -1;

  /**
   * Issue 14, on the new owner: a relay for a message whose key this stream already holds (stored
   * from a plain send, or relayed with an unknown position) annotates that event instead of adding
   * a second copy: {@code old} (an {@link EventCodec.EventId}) becomes its old position, and an
   * unknown one counts as resolved; {@link Handoff#UNKNOWN_POSITION} marks an event with none as
   * unknown (the old owner may have had it). An event that has an old position keeps it (the first
   * relay wins). Wakes handoffs waiting for relays. Returns {@link #ANNOTATED}, {@link #KEY_HELD}
   * (the event had its old position already, nothing changed) or {@link #KEY_ABSENT} (the key is
   * not buffered: never stored, a live-only or dropped event).
   */
  public synchronized int annotate(String key, Object old, long nowMs) {
    if (evicted || key == null || old == null) {
      return KEY_ABSENT;
    }
    for (int i = count - 1; i >= 0; i--) {
      int at = (head + i) % seqs.length;
      if (!key.equals(messages[at].key)) {
        continue;
      }
      long s = seqs[at];
      Object before = oldBySeq == null ? null : oldBySeq.get(s);
      if (before instanceof EventCodec.EventId
          || (before != null && old == Handoff.UNKNOWN_POSITION)) {
        return KEY_HELD; // known already; or unknown again
      }
      int bound = positionsBound();
      if (positions == null) {
        positions = new Handoff.Positions(bound);
        oldBySeq = new java.util.HashMap<>();
      }
      if (old instanceof EventCodec.EventId id) {
        if (before == Handoff.UNKNOWN_POSITION) {
          positions.resolved();
        }
        positions.add(id.epoch(), id.seq());
      } else {
        positions.unknown();
      }
      if (before != null || oldBySeq.size() < bound) {
        oldBySeq.put(s, old);
      }
      lastRelayMs = nowMs;
      if (relayWaiters != null) {
        java.util.List<Runnable> w = relayWaiters;
        relayWaiters = null;
        w.forEach(Runnable::run);
      }
      return ANNOTATED;
    }
    return KEY_ABSENT;
  }

  /** Old positions a stream records at most (beyond it, no handoff to it is covered). */
  private int positionsBound() {
    return (int) Math.min(Integer.MAX_VALUE / 2, Math.max(16L, maxEvents * 4L));
  }

  /** Under the lock: later plain messages of {@code channel} reach this pre-stream too. */
  private void relayed(String channel) {
    if (relayChannels == null) {
      relayChannels = new java.util.HashSet<>();
    }
    if (relayChannels.add(channel)
        && !tokenGrants.containsKey(channel)
        && !apiChannels.contains(channel)) {
      index.add(channel, this);
    }
    if (coveredChannels == null) {
      coveredChannels = new java.util.HashSet<>();
    }
    coveredChannels.add(channel);
  }

  /** Under the lock: the stream no longer receives {@code channel}'s messages. */
  private void unindex(String channel) {
    index.remove(channel, this);
    if (coveredChannels != null) {
      coveredChannels.remove(channel);
    }
  }

  /** Under the lock: whether every channel of {@code grants} is in {@link #coveredChannels}. */
  private boolean channelsRelayed(Set<String> grants) {
    return grants.isEmpty() || (coveredChannels != null && coveredChannels.containsAll(grants));
  }

  /**
   * Under the lock, when a connection registers: its grants take over, the relayed channels no
   * longer subscribe the stream.
   */
  private void dropRelayChannels() {
    if (relayChannels == null) {
      return;
    }
    for (String c : relayChannels) {
      if (!tokenGrants.containsKey(c) && !apiChannels.contains(c) && !evicted) {
        unindex(c);
      }
    }
    relayChannels = null;
  }

  // ---- issue 14: finishing (old owner) ----

  /**
   * An activated map moved the user away: the stream takes no more events and answers with the
   * {@code handoff} of its last events from now on. Returns the token: {@code epoch}, the first seq
   * reported to a publisher (S, if any), the last seq issued (F).
   */
  public synchronized Handoff.Token finish(String epoch) {
    if (finishing == null) {
      long first = reportedFirst > seq ? -1 : reportedFirst;
      finishing =
          new Handoff.Token(epoch, first, seq, first < 0 || unreported == null ? null : unreported);
    }
    return finishing;
  }

  /** The handoff of a finishing stream, or null. */
  public synchronized Handoff.Token finishing() {
    return finishing;
  }

  /**
   * Issue 14: the signed state (API subscriptions, access entries) the old owner carries to the new
   * owner after the handoff string of a finishing stream, or null; set once at the activation.
   */
  public synchronized String carried() {
    return carried;
  }

  public synchronized void carried(String jws) {
    carried = jws;
  }

  /** A pending map was installed or removed: no position has been reported under it yet. */
  public synchronized void resetReported() {
    reportedFirst = -1;
    unreported = null;
  }

  /** What one buffered event counts against {@code bufferMaxBytes}: its data plus the slot. */
  static long cost(Message m) {
    return m.tail.length + BufferBudget.ENTRY_BYTES;
  }

  /** Whether a connection with {@code grants} may receive {@code m}. */
  private boolean entitled(Message m, Set<String> grants) {
    return m.channel == null || apiChannels.contains(m.channel) || grants.contains(m.channel);
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

  /** Events the buffer holds. */
  public synchronized int bufferedEvents() {
    return count;
  }

  /** Bytes the buffer holds ({@link #cost} of each event). */
  public synchronized long bufferedBytes() {
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
      seqs = NO_SEQS;
      messages = NO_MESSAGES;
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
   * {@link #open(EventCodec, EventCodec.EventId, Set, long, long, ReplaySink)} with no channels.
   */
  public synchronized boolean open(
      EventCodec codec, EventCodec.EventId resume, long nowMs, ReplaySink sink) {
    return open(codec, resume, Set.of(), Long.MAX_VALUE, nowMs, sink);
  }

  /**
   * Atomically records the channels a connecting token grants (until {@code grantsValidUntilMs}),
   * computes the replay for a client at {@code resume} (null: start at the current position)
   * holding only the events that token is entitled to, hands it to {@code sink}, and registers the
   * connection the sink returns with those grants. A resume that is not covered (another epoch or
   * incarnation, a gap, a position ahead of the stream) gets a {@code reset} at {@code lossFloor}
   * and then every event held after it. Returns false if the stream was evicted meanwhile (the
   * caller retries with a fresh stream).
   */
  public synchronized boolean open(
      EventCodec codec,
      EventCodec.EventId resume,
      Set<String> grants,
      long grantsValidUntilMs,
      long nowMs,
      ReplaySink sink) {
    return open(codec, resume, null, null, grants, grantsValidUntilMs, nowMs, sink) == OPENED;
  }

  /**
   * {@link #open(EventCodec, EventCodec.EventId, Handoff.Resume, Runnable, Set, long, long,
   * ReplaySink)}: opened.
   */
  public static final int OPENED = 0;

  /** The stream was evicted meanwhile: retry on a fresh one. */
  public static final int EVICTED = 1;

  /** A handoff resume waits for relays: nothing was opened, {@code onRelay} runs at the next. */
  public static final int WAITING = 2;

  /**
   * {@link #open(EventCodec, EventCodec.EventId, Set, long, long, ReplaySink)} with the handoff
   * resume of issue 14: a {@code resume} of another epoch is decided by {@link Handoff#decide}
   * against the old positions this stream holds ({@code handoff} carries the client's {@code
   * handoff}, or null for none, and gets the decision). Covered: the sink gets every held event
   * except those whose old position is at or before the client's, without {@code reset}. {@link
   * Handoff.Outcome#WAIT}: returns {@link #WAITING} and runs {@code onRelay} (under this lock; it
   * must only hand off) when the next relayed event arrives.
   */
  public synchronized int open(
      EventCodec codec,
      EventCodec.EventId resume,
      Handoff.Resume handoff,
      Runnable onRelay,
      Set<String> grants,
      long grantsValidUntilMs,
      long nowMs,
      ReplaySink sink) {
    if (evicted) {
      return EVICTED;
    }
    purge(nowMs);
    Connection register;
    // A finishing stream delivers nothing it stored after the activation (F).
    long last = finishing != null ? finishing.last() : seq;
    if (resume == null) {
      lastActivityMs = nowMs;
      addGrants(grants, grantsValidUntilMs);
      register = sink.open(last, last, null, null, null, 0, nowMs);
    } else {
      Control reset = null;
      long from = resume.seq();
      boolean foreign = !resume.epoch().equals(codec.epoch());
      Handoff.Decision d = null;
      Handoff.Resume r = null;
      boolean channelsRelayed = true;
      if (foreign && (positions != null || (handoff != null && handoff.token != null))) {
        if (!everOpened && positions != null) {
          inOldOrder();
        }
        Handoff.Positions held = positions != null ? positions : new Handoff.Positions(1);
        if (lossFloor > baseSeq) {
          held.lost();
        }
        r =
            handoff != null
                ? handoff
                : new Handoff.Resume(resume.epoch(), resume.seq(), null, false);
        channelsRelayed = channelsRelayed(grants);
        d =
            Handoff.decide(
                r.epoch,
                r.x,
                r.token,
                held,
                r.waitExpired,
                channelsRelayed,
                r.publishersDual.getAsBoolean());
        if (r.waitExpired && HANDOFF_LOG.isDebugEnabled() && r.token != null) {
          HANDOFF_LOG.debug(
              "event=handoff_wait_expired user={} x={} handoff={} held={} missing={}",
              user,
              r.x,
              r.token,
              held.count(r.epoch),
              held.missing(r.epoch, r.token.first(), r.token.last(), 20));
        }
        if (d.outcome() == Handoff.Outcome.WAIT) {
          r.decision = d;
          if (onRelay != null && !(r.timed && r.token != null && waitOver(r, held))) {
            if (relayWaiters == null) {
              relayWaiters = new java.util.ArrayList<>(1);
            }
            relayWaiters.add(onRelay);
            return WAITING;
          }
          d = new Handoff.Decision(Handoff.Outcome.RESET_GAP, -1, d.rule());
        }
        if (d.outcome() == Handoff.Outcome.COVERED
            && r.token == null
            && r.quietMs > 0
            && nowMs - lastRelayMs < r.quietMs) {
          // Rule 3 is for a late client; relays are still arriving (one of a seq at or before
          // the client's would be delivered twice).
          d = new Handoff.Decision(Handoff.Outcome.RESET_GAP, -1, "3");
        }
        if (d.outcome() == Handoff.Outcome.COVERED
            && !coveredReplay(resume.epoch(), d.skipThrough(), grants, nowMs)) {
          d = new Handoff.Decision(Handoff.Outcome.RESET_GAP, -1, "5");
        }
        if (d.outcome() == Handoff.Outcome.COVERED && r.oldOwnerActivatedFirst) {
          d = new Handoff.Decision(Handoff.Outcome.RESET_GAP, -1, "order");
        }
        if (d.outcome() == Handoff.Outcome.COVERED && r.carryRefused) {
          d = new Handoff.Decision(Handoff.Outcome.RESET_GAP, -1, "carry");
        }
        r.decision = d;
      }
      lastActivityMs = nowMs;
      addGrants(grants, grantsValidUntilMs);
      if (d != null
          && d.outcome() == Handoff.Outcome.COVERED
          && !channelsRelayed
          && !Handoff.channelsCovered(
              Handoff.effective(r.epoch, r.x, r.token) != null,
              false,
              r.publishersDual.getAsBoolean())) {
        // Read again now that the token's channels are indexed: a publisher that left dual mode
        // meanwhile is seen here, or its channel message sees this stream subscribed.
        d = Handoff.Decision.of(Handoff.Outcome.RESET_GAP, Handoff.CHANNELS_RULE);
        r.decision = d;
      }
      if (d != null && d.outcome() == Handoff.Outcome.COVERED) {
        register = coveredOpen(resume.epoch(), d.skipThrough(), grants, nowMs, sink);
        if (register != null) {
          if (coveredChannels == null) {
            coveredChannels = new java.util.HashSet<>();
          }
          coveredChannels.addAll(grants); // held from now on by the stream's token grants
          if (!resume.epoch().equals(handedEpoch)) {
            handedEpoch = resume.epoch();
            handedThrough = -1;
          }
          handedThrough = Math.max(handedThrough, d.skipThrough());
        }
      } else {
        if (d != null) {
          reset =
              codec.reset(
                  lossFloor,
                  d.outcome() == Handoff.Outcome.RESET_EPOCH
                      ? EventTypes.RESET_EPOCH
                      : EventTypes.RESET_GAP);
          from = lossFloor;
        } else if (foreign) {
          reset = codec.reset(lossFloor, EventTypes.RESET_EPOCH);
          from = lossFloor;
        } else if (resume.seq() < lossFloor || resume.seq() > last) {
          reset = codec.reset(lossFloor, EventTypes.RESET_GAP);
          from = lossFloor;
        }
        int n = 0;
        int start = firstAfter(from);
        long[] rs = start == count ? NO_SEQS : new long[count - start];
        Message[] rm = start == count ? NO_MESSAGES : new Message[count - start];
        for (int i = start; i < count; i++) {
          int at = (head + i) % seqs.length;
          if (seqs[at] > last) {
            break; // stored after F on a finishing stream: the new owner delivers it
          }
          Message m = messages[at];
          if (!m.expired(nowMs) && entitled(m, grants)) {
            rs[n] = seqs[at];
            rm[n] = m;
            n++;
          }
        }
        register = sink.open(from, last, reset, rs, rm, n, nowMs);
      }
    }
    if (register != null) {
      everOpened = true;
      register.grants = Set.copyOf(grants);
      Connection[] c = Arrays.copyOf(connections, connections.length + 1);
      c[c.length - 1] = register;
      connections = c;
      dropRelayChannels();
    }
    return OPENED;
  }

  /**
   * Under the lock, for a held connect whose handoff still waits: whether its wait is over. The
   * first held connect of a handoff sets when the wait ends; a later connect with the same handoff
   * (a client that gave up before its answer and came back) ends its wait then too, so retries get
   * their answer ({@code reset gap} when the relays never came) within {@code handoffWaitMs} of the
   * first connect instead of a new wait each time. Another handoff (a later reshard) starts anew.
   */
  private boolean waitOver(Handoff.Resume r, Handoff.Positions held) {
    Handoff.Token t = r.token;
    if (waitedHandoff == null
        || !waitedHandoff.epoch().equals(t.epoch())
        || waitedHandoff.first() != t.first()
        || waitedHandoff.last() != t.last()) {
      waitedHandoff = t;
      waitedUntilNanos = r.waitUntilNanos;
    } else if (waitedUntilNanos - r.waitUntilNanos < 0) {
      r.waitUntilNanos = waitedUntilNanos;
    }
    if (r.nowNanos - r.waitUntilNanos < 0) {
      return false;
    }
    r.waitOver = true;
    if (HANDOFF_LOG.isDebugEnabled()) {
      HANDOFF_LOG.debug(
          "event=handoff_wait_expired user={} x={} handoff={} held={} missing={} retry=true",
          user,
          r.x,
          t,
          held.count(r.epoch),
          held.missing(r.epoch, t.first(), t.last(), 20));
    }
    return true;
  }

  /**
   * Under the lock: the index (0 = oldest) of the first buffered event with a seq above {@code
   * from}, or {@code count} if none. Buffered seqs increase from the oldest to the newest, so a
   * resume looks only at the events it replays, not at the whole buffer (a long-poll resumes on
   * every request).
   */
  private int firstAfter(long from) {
    int lo = 0;
    int hi = count;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (seqs[(head + mid) % seqs.length] > from) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return lo;
  }

  /**
   * Under the lock, before the first connection of a pre-stream: no client holds an ID of it yet,
   * so its buffered events are put in the old owner's order, the relayed ones first (by old seq),
   * then the others (what the old owner never had) in their order, over the same seqs. Relays of
   * different publishers arrive in any order; without this a relay arriving after a plain message
   * would break rule 5's ordering and cost the client a reset.
   */
  private void inOldOrder() {
    if (count < 2 || oldBySeq == null) {
      return;
    }
    Integer[] order = new Integer[count];
    long[] sorted = new long[count];
    for (int i = 0; i < count; i++) {
      order[i] = i;
      sorted[i] = seqs[(head + i) % seqs.length];
    }
    java.util.Arrays.sort(
        order,
        java.util.Comparator.comparingLong(
                (Integer i) -> oldBySeq.get(sorted[i]) instanceof EventCodec.EventId ? 0L : 1L)
            .thenComparingLong(
                i ->
                    oldBySeq.get(sorted[i]) instanceof EventCodec.EventId id
                        ? id.seq()
                        : (long) i));
    Message[] m = new Message[seqs.length];
    java.util.HashMap<Long, Object> olds = new java.util.HashMap<>();
    for (int k = 0; k < count; k++) {
      int from = (head + order[k]) % seqs.length;
      m[k] = messages[from];
      Object old = oldBySeq.remove(sorted[order[k]]);
      if (old != null) {
        olds.put(sorted[k], old);
      }
    }
    olds.putAll(oldBySeq); // live-only entries, not buffered
    long[] ns = new long[seqs.length];
    System.arraycopy(sorted, 0, ns, 0, count);
    seqs = ns;
    messages = m;
    head = 0;
    oldBySeq = olds;
  }

  /** Whether an event's old position is of {@code epoch} and at or before {@code x}. */
  private boolean skipped(long s, String epoch, long x) {
    Object old = oldBySeq == null ? null : oldBySeq.get(s);
    return old instanceof EventCodec.EventId id && id.epoch().equals(epoch) && id.seq() <= x;
  }

  /**
   * Rule 5 of the handoff (and the contract's ordering addition): every event skipped (old position
   * at or before x) comes before every event delivered, in this stream's order.
   */
  private boolean coveredReplay(String epoch, long x, Set<String> grants, long nowMs) {
    boolean delivered = false;
    for (int i = 0; i < count; i++) {
      int at = (head + i) % seqs.length;
      if (skipped(seqs[at], epoch, x)) {
        if (delivered) {
          return false;
        }
      } else {
        delivered = true; // expired or not entitled too: the client's position passes it
      }
    }
    return true;
  }

  /** A covered handoff: hello at the position before the first event not skipped, then them. */
  private Connection coveredOpen(
      String epoch, long x, Set<String> grants, long nowMs, ReplaySink sink) {
    int n = 0;
    long[] rs = new long[count];
    Message[] rm = new Message[count];
    long position = seq;
    boolean started = false;
    for (int i = 0; i < count; i++) {
      int at = (head + i) % seqs.length;
      if (skipped(seqs[at], epoch, x)) {
        continue;
      }
      if (!started) {
        position = seqs[at] - 1;
        started = true;
      }
      Message m = messages[at];
      if (!m.expired(nowMs) && entitled(m, grants)) {
        rs[n] = seqs[at];
        rm[n] = m;
        n++;
      }
    }
    return sink.open(position, seq, null, rs, rm, n, nowMs);
  }

  /** Removes {@code c} from the live connections (a connection ending counts as activity). */
  synchronized void detach(Connection c) {
    Connection[] conns = connections;
    for (int i = 0; i < conns.length; i++) {
      if (conns[i] == c) {
        Connection[] n = new Connection[conns.length - 1];
        System.arraycopy(conns, 0, n, 0, i);
        System.arraycopy(conns, i + 1, n, i, conns.length - i - 1);
        connections = n.length == 0 ? NO_CONNECTIONS : n;
        connectionEnded = true;
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

  /**
   * The last activity for the sweep: a connection opened, or a message addressed to the user. A
   * connection that ended since the previous call counts as activity at {@code nowMs}. Channel
   * messages never count, so a stream is evicted when its user is offline, not kept alive by the
   * traffic of its channels.
   */
  synchronized long lastActivityMs(long nowMs) {
    if (connectionEnded) {
      connectionEnded = false;
      lastActivityMs = Math.max(lastActivityMs, nowMs);
    }
    return lastActivityMs;
  }

  // ---- channels (the stream keeps the index in step, under its lock) ----

  /**
   * Records the channels a connecting token grants until {@code validUntilMs}, before messages of
   * those channels are put into the stream for it (latest values); false if the stream was evicted
   * meanwhile. {@link #open} records them too.
   */
  public synchronized boolean grant(java.util.Collection<String> channels, long validUntilMs) {
    if (evicted) {
      return false;
    }
    addGrants(channels, validUntilMs);
    return true;
  }

  /** Records token grants until {@code validUntilMs}, indexing channels that are new. */
  private void addGrants(java.util.Collection<String> channels, long validUntilMs) {
    for (String c : channels) {
      Long before = tokenGrants.get(c);
      if (before == null || before < validUntilMs) {
        if (tokenGrants instanceof HashMap<String, Long> grants) {
          grants.put(c, validUntilMs);
        } else if (tokenGrants.isEmpty() || before != null) {
          tokenGrants = java.util.Collections.singletonMap(c, validUntilMs);
        } else {
          HashMap<String, Long> grants = new HashMap<>(tokenGrants);
          grants.put(c, validUntilMs);
          tokenGrants = grants;
        }
      }
      if (before == null && !apiChannels.contains(c)) {
        index.add(c, this);
      }
    }
  }

  /**
   * Drops token grants whose tokens are no longer valid at {@code nowMs} and that no live
   * connection holds (a live connection's token is valid: it is closed at expiry); returns how
   * many.
   */
  synchronized int expireGrants(long nowMs) {
    if (!(tokenGrants instanceof HashMap)) { // none, or one in a singleton map
      for (Map.Entry<String, Long> e : tokenGrants.entrySet()) {
        if (e.getValue() > nowMs || heldByConnection(e.getKey())) {
          return 0;
        }
        tokenGrants = NO_GRANTS;
        if (!evicted && !apiChannels.contains(e.getKey())) {
          unindex(e.getKey());
        }
        return 1;
      }
      return 0;
    }
    int n = 0;
    for (Iterator<Map.Entry<String, Long>> it = tokenGrants.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<String, Long> e = it.next();
      if (e.getValue() > nowMs || heldByConnection(e.getKey())) {
        continue;
      }
      it.remove();
      n++;
      if (!evicted && !apiChannels.contains(e.getKey())) {
        unindex(e.getKey());
      }
    }
    return n;
  }

  private boolean heldByConnection(String channel) {
    for (Connection c : connections) {
      if (c.grants.contains(channel)) {
        return true;
      }
    }
    return false;
  }

  /** The channels granted by tokens (connected or still valid), sorted. */
  synchronized Set<String> tokenChannels() {
    return new TreeSet<>(tokenGrants.keySet());
  }

  /** The API subscriptions. */
  public synchronized Set<String> apiChannels() {
    return Set.copyOf(apiChannels);
  }

  /** Adds an API subscription; false if the stream was evicted meanwhile (retry on a fresh one). */
  synchronized boolean addApiChannel(String channel) {
    if (evicted) {
      return false;
    }
    if (apiChannels == NO_CHANNELS) {
      apiChannels = new TreeSet<>();
    }
    if (apiChannels.add(channel) && !tokenGrants.containsKey(channel)) {
      index.add(channel, this);
    }
    return true;
  }

  /** Removes an API subscription (a token's grant of the same channel stays). */
  synchronized void removeApiChannel(String channel) {
    if (apiChannels.contains(channel)
        && apiChannels.remove(channel)
        && !tokenGrants.containsKey(channel)
        && !evicted) {
      unindex(channel);
    }
  }

  /** Token and API channels, sorted. */
  public synchronized Set<String> channels() {
    TreeSet<String> all = new TreeSet<>(tokenGrants.keySet());
    all.addAll(apiChannels);
    return all;
  }

  /** Whether a token grants the stream {@code channel} at {@code nowMs}. */
  private boolean tokenSubscribed(String channel, long nowMs) {
    Long until = tokenGrants.get(channel);
    return until != null && (until > nowMs || heldByConnection(channel));
  }

  /** Whether the stream receives {@code channel}'s messages at {@code nowMs}. */
  synchronized boolean subscribed(String channel, long nowMs) {
    return apiChannels.contains(channel) || tokenSubscribed(channel, nowMs);
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
    for (String c : channels()) {
      index.remove(c, this);
    }
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
    seqs = NO_SEQS;
    messages = NO_MESSAGES;
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
