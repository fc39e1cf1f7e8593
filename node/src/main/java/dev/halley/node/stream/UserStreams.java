package dev.halley.node.stream;

import java.time.Clock;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * All user streams of this node and the {@link ChannelIndex} (channel to subscribed streams).
 *
 * <p>Streams are created on first use (a connection, a publish, a subscription) and evicted when
 * idle: no connection, no API subscription, and for the buffer's age limit neither a connection nor
 * a message addressed to the user (channel traffic does not keep a stream alive). Above {@code
 * maxUserStreams} the oldest of a sample of idle streams is evicted to make room (losing its API
 * subscriptions). An evicted stream's last seq raises a high-water mark; every new stream starts
 * strictly above it, so no event ID is ever issued twice by this node incarnation and no position
 * of an earlier incarnation of a stream is covered by a later one.
 *
 * <p>Thread-safe: the registry is a {@link ConcurrentHashMap}; a stream's channels and its entries
 * in the index change only under the stream's lock (see {@link UserStream}), and eviction marks the
 * stream evicted and unindexes it under that lock before it leaves the registry.
 */
public final class UserStreams {
  private static final int EVICTION_SAMPLE = 32;

  private final ConcurrentHashMap<String, UserStream> streams = new ConcurrentHashMap<>();
  private final ChannelIndex index = new ChannelIndex();
  // The highest seq of any evicted stream; -1 before the first eviction.
  private final AtomicLong evictedHighWater = new AtomicLong(-1);
  private final int maxEvents;
  private final long maxAgeMs;
  private final int maxStreams;
  private final Clock clock;
  private volatile BufferDrops dropTarget = BufferDrops.NONE;
  private final BufferDrops drops = ttl -> dropTarget.dropped(ttl);

  private final long maxBytes;
  private final BufferBudget budget;

  public UserStreams(int maxEvents, long maxAgeMs, int maxStreams, Clock clock) {
    this(maxEvents, Long.MAX_VALUE, maxAgeMs, maxStreams, clock, BufferBudget.unlimited());
  }

  /** {@code maxBytes} per user's buffer, all of them within {@code budget}. */
  public UserStreams(
      int maxEvents,
      long maxBytes,
      long maxAgeMs,
      int maxStreams,
      Clock clock,
      BufferBudget budget) {
    this.maxBytes = maxBytes;
    this.budget = budget;
    this.maxEvents = maxEvents;
    this.maxAgeMs = maxAgeMs;
    this.maxStreams = maxStreams;
    this.clock = clock;
  }

  /** Where events evicted from buffers (count, age, TTL) are reported; the default counts none. */
  public void bufferDrops(BufferDrops target) {
    dropTarget = target;
  }

  /** The stream of {@code user}, or null if it has none. */
  public UserStream get(String user) {
    return streams.get(user);
  }

  /** The stream of {@code user}, created if needed. */
  public UserStream getOrCreate(String user) {
    UserStream s = streams.get(user);
    if (s != null) {
      return s;
    }
    if (streams.size() >= maxStreams) {
      evictOneIdle();
    }
    return streams.computeIfAbsent(
        user,
        u ->
            new UserStream(
                u,
                evictedHighWater.get() + 1,
                maxEvents,
                maxBytes,
                maxAgeMs,
                clock.millis(),
                drops,
                budget,
                index));
  }

  public int size() {
    return streams.size();
  }

  /** The node-wide budget every buffer counts against. */
  public BufferBudget budget() {
    return budget;
  }

  /** Adds an API subscription; returns the user's channels. */
  public Set<String> subscribe(String user, String channel) {
    while (true) {
      UserStream s = getOrCreate(user);
      synchronized (s) {
        if (s.addApiChannel(channel)) {
          return s.channels();
        }
      }
    }
  }

  /** Removes an API subscription (token channels stay); returns the user's channels. */
  public Set<String> unsubscribe(String user, String channel) {
    UserStream s = streams.get(user);
    if (s == null) {
      return Set.of();
    }
    synchronized (s) {
      s.removeApiChannel(channel);
      return s.channels();
    }
  }

  /** The streams subscribed to {@code channel} (a live view; iterate, do not keep). */
  public Set<UserStream> subscribers(String channel) {
    return index.subscribers(channel);
  }

  /** The channel index (tests, metrics). */
  ChannelIndex index() {
    return index;
  }

  /**
   * Evicts idle streams and expires token grants (periodic housekeeping); returns how many streams
   * were evicted.
   */
  public int sweep() {
    long now = clock.millis();
    int n = 0;
    for (UserStream s : streams.values()) {
      s.expireGrants(now);
      if (s.connectionCount() == 0
          && s.lastActivityMs(now) + maxAgeMs <= now
          && evict(s, true, true)) {
        n++;
      }
    }
    return n;
  }

  private void evictOneIdle() {
    UserStream oldest = null;
    long oldestActivity = Long.MAX_VALUE;
    int seen = 0;
    long now = clock.millis();
    for (Iterator<UserStream> it = streams.values().iterator();
        it.hasNext() && seen < EVICTION_SAMPLE;
        seen++) {
      UserStream s = it.next();
      long last = s.lastActivityMs(now);
      if (s.connectionCount() == 0 && last < oldestActivity) {
        oldest = s;
        oldestActivity = last;
      }
    }
    if (oldest != null) {
      evict(oldest, false, true);
    }
  }

  /** {@code countDrops}: report the evicted buffer to {@link BufferDrops} (not when moved away). */
  private boolean evict(UserStream s, boolean keepSubscribed, boolean countDrops) {
    synchronized (s) {
      long last = s.evictIfIdle(keepSubscribed);
      if (last < 0) {
        return false;
      }
      if (countDrops) {
        s.reportBufferedDropped(clock.millis());
      } else {
        s.releaseBuffer();
      }
      evictedHighWater.accumulateAndGet(last, Math::max);
    }
    streams.remove(s.user, s);
    return true;
  }

  /**
   * Issue #4 (map changes): drops the stream of a user this node no longer owns, with its buffer
   * and API subscriptions. Returns the number of buffered events dropped, or -1 if the stream still
   * has connections (close them first) or is already gone.
   */
  public int drop(UserStream s) {
    int buffered;
    synchronized (s) {
      buffered = s.buffered();
    }
    return evict(s, false, false) ? buffered : -1;
  }

  /** A snapshot of the streams (for operations: drain, map changes). */
  public Map<String, UserStream> snapshot() {
    return Map.copyOf(streams);
  }
}
