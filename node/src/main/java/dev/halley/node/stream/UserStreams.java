package dev.halley.node.stream;

import java.time.Clock;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * All user streams of this node and the channel index (channel to subscribed streams).
 *
 * <p>Streams are created on first use (a connection, a publish, a subscription) and evicted when
 * idle: no connection, no API subscription, and no activity for the buffer's age limit. Above
 * {@code maxUserStreams} the oldest of a sample of idle streams is evicted to make room (losing its
 * API subscriptions). An evicted stream's last seq raises a high-water mark that every new stream
 * starts from, so no event ID is ever issued twice by this node incarnation.
 *
 * <p>Thread-safe.
 */
public final class UserStreams {
  private static final int EVICTION_SAMPLE = 32;

  private final ConcurrentHashMap<String, UserStream> streams = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Set<UserStream>> channels = new ConcurrentHashMap<>();
  private final AtomicLong evictedHighWater = new AtomicLong();
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
                evictedHighWater.get(),
                maxEvents,
                maxBytes,
                maxAgeMs,
                clock.millis(),
                drops,
                budget));
  }

  public int size() {
    return streams.size();
  }

  /** The node-wide budget every buffer counts against. */
  public BufferBudget budget() {
    return budget;
  }

  /** Replaces the channels a user's token grants (index kept in step). */
  public void setTokenChannels(UserStream s, Set<String> granted) {
    synchronized (s) {
      Set<String> old = s.tokenChannels();
      if (old.equals(granted)) {
        return;
      }
      s.tokenChannels(granted);
      for (String c : old) {
        if (!s.subscribed(c)) {
          unindex(c, s);
        }
      }
      for (String c : granted) {
        index(c, s);
      }
    }
  }

  /** Adds an API subscription; returns the user's channels. */
  public Set<String> subscribe(String user, String channel) {
    while (true) {
      UserStream s = getOrCreate(user);
      synchronized (s) {
        if (s.isEvicted()) {
          continue;
        }
        s.addApiChannel(channel);
        index(channel, s);
        return s.channels();
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
      if (s.removeApiChannel(channel) && !s.subscribed(channel)) {
        unindex(channel, s);
      }
      return s.channels();
    }
  }

  /** The streams subscribed to {@code channel} (a live view; iterate, do not keep). */
  public Set<UserStream> subscribers(String channel) {
    Set<UserStream> set = channels.get(channel);
    return set == null ? Set.of() : set;
  }

  private void index(String channel, UserStream s) {
    channels.computeIfAbsent(channel, c -> ConcurrentHashMap.newKeySet()).add(s);
  }

  private void unindex(String channel, UserStream s) {
    channels.computeIfPresent(
        channel,
        (c, set) -> {
          set.remove(s);
          return set.isEmpty() ? null : set;
        });
  }

  /** Evicts idle streams (periodic housekeeping); returns how many were evicted. */
  public int sweep() {
    long now = clock.millis();
    int n = 0;
    for (UserStream s : streams.values()) {
      if (s.connectionCount() == 0
          && s.lastActivityMs() + maxAgeMs <= now
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
    for (Iterator<UserStream> it = streams.values().iterator();
        it.hasNext() && seen < EVICTION_SAMPLE;
        seen++) {
      UserStream s = it.next();
      if (s.connectionCount() == 0 && s.lastActivityMs() < oldestActivity) {
        oldest = s;
        oldestActivity = s.lastActivityMs();
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
      for (String c : s.channels()) {
        unindex(c, s);
      }
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
