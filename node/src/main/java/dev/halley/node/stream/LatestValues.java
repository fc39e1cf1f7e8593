package dev.halley.node.stream;

import dev.halley.node.wire.Message;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * The last message of each latest-value channel (configured by name or {@code prefix*}), kept by
 * this node from the channel publishes it receives, and handed first to a new subscriber: a client
 * that connects with the channel in its token (without {@code lastEventId}), or a user subscribed
 * to it through the API.
 *
 * <pre>{@code
 * latest.publish("prices:eur", message, () -> fanOut(message));  // records it, then fans out
 * long first = latest.deliver(stream, tokenChannels, nowMs);      // at connect: seq of the first
 * }</pre>
 *
 * <p>Ordering: a subscriber never gets an older value after a newer one, nor one value twice. A
 * channel's publish (record + fan-out) and a subscriber's hand-off (read + append to its stream)
 * hold the same channel lock (one of {@value #STRIPES} striped locks, taken in index order when a
 * connect covers several channels), so a hand-off happens entirely before or after a publish. The
 * value is appended to the subscriber's stream like any event (a new seq in its buffer), so resume
 * and exactly-once hold for it as for every event.
 *
 * <p>Bounded: at most {@code maxChannels} values; the least recently published is forgotten first.
 * Live-only messages ({@code ttlMs: 0}) are not kept; a value past its TTL is not handed out.
 *
 * <p>Thread-safe. Lock order: channel stripe, then user stream (then connection); {@link #values}
 * guards the map only, never held while calling out.
 */
public final class LatestValues {
  static final int STRIPES = 64;

  private final Set<String> exact;
  private final List<String> prefixes;
  private final boolean any;
  private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
  private final Map<String, Message> values;

  public LatestValues(Collection<String> patterns, int maxChannels) {
    Set<String> e = new java.util.HashSet<>();
    List<String> p = new ArrayList<>();
    boolean all = false;
    for (String pattern : patterns) {
      if (pattern.equals("*")) {
        all = true;
      } else if (pattern.endsWith("*")) {
        p.add(pattern.substring(0, pattern.length() - 1));
      } else {
        e.add(pattern);
      }
    }
    this.exact = Set.copyOf(e);
    this.prefixes = List.copyOf(p);
    this.any = all;
    for (int i = 0; i < STRIPES; i++) {
      stripes[i] = new ReentrantLock();
    }
    this.values =
        new LinkedHashMap<>(16, 0.75f, false) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<String, Message> eldest) {
            return size() > maxChannels;
          }
        };
  }

  /** Whether any channel is a latest-value channel. */
  public boolean enabled() {
    return any || !exact.isEmpty() || !prefixes.isEmpty();
  }

  /** Whether {@code channel} keeps its last message. */
  public boolean applies(String channel) {
    if (any || exact.contains(channel)) {
      return true;
    }
    for (String p : prefixes) {
      if (channel.startsWith(p)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Records {@code m} as {@code channel}'s latest value (unless it is live-only) and runs {@code
   * fanOut}, both under the channel's lock.
   */
  public <T> T publish(String channel, Message m, Supplier<T> fanOut) {
    ReentrantLock lock = stripe(channel);
    lock.lock();
    try {
      synchronized (values) {
        if (m.liveOnly()) {
          values.remove(channel);
        } else {
          values.remove(channel); // re-insert: the map's order is publish order
          values.put(channel, m);
        }
      }
      return fanOut.get();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Appends the latest value of each of {@code channels} (that has one) to {@code stream}, in
   * channel name order. Returns the seq of the first one appended, 0 if none, or -1 if the stream
   * was evicted meanwhile (the caller retries with a fresh stream).
   */
  public long deliver(UserStream stream, Collection<String> channels, long nowMs) {
    TreeSet<String> sorted = new TreeSet<>();
    for (String c : channels) {
      if (applies(c)) {
        sorted.add(c);
      }
    }
    if (sorted.isEmpty()) {
      return 0;
    }
    boolean[] held = new boolean[STRIPES];
    for (String c : sorted) {
      held[index(c)] = true;
    }
    for (int i = 0; i < STRIPES; i++) {
      if (held[i]) {
        stripes[i].lock();
      }
    }
    try {
      long first = 0;
      for (String c : sorted) {
        Message m = value(c, nowMs);
        if (m == null) {
          continue;
        }
        synchronized (stream) {
          long before = stream.seq();
          if (stream.publish(m, nowMs) < 0) {
            return -1;
          }
          if (first == 0) {
            first = before + 1;
          }
        }
      }
      return first;
    } finally {
      for (int i = STRIPES - 1; i >= 0; i--) {
        if (held[i]) {
          stripes[i].unlock();
        }
      }
    }
  }

  /**
   * Runs {@code subscribe} (which adds {@code channel} to the user's channels and returns the
   * stream, or null) under the channel's lock, then appends the channel's latest value to that
   * stream if the user was not subscribed before ({@code wasSubscribed} is read under the lock).
   */
  public <T> T subscribe(
      String channel,
      Supplier<Boolean> wasSubscribed,
      Supplier<T> subscribe,
      Supplier<UserStream> stream,
      long nowMs) {
    ReentrantLock lock = stripe(channel);
    lock.lock();
    try {
      boolean before = wasSubscribed.get();
      T result = subscribe.get();
      UserStream s = stream.get();
      Message m = value(channel, nowMs);
      if (!before && s != null && m != null) {
        s.publish(m, nowMs);
      }
      return result;
    } finally {
      lock.unlock();
    }
  }

  /** Values held now. */
  public int size() {
    synchronized (values) {
      return values.size();
    }
  }

  private Message value(String channel, long nowMs) {
    Message m;
    synchronized (values) {
      m = values.get(channel);
    }
    return m == null || m.expired(nowMs) ? null : m;
  }

  private ReentrantLock stripe(String channel) {
    return stripes[index(channel)];
  }

  private static int index(String channel) {
    return Math.floorMod(channel.hashCode() * 0x9E3779B9, STRIPES);
  }

  @Override
  public String toString() {
    return "LatestValues{" + size() + " held}";
  }
}
