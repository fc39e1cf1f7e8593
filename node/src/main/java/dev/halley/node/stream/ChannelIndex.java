package dev.halley.node.stream;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The channel index: for each channel, the user streams subscribed to it (by a token grant or an
 * API subscription), so a channel publish finds its recipients without scanning every stream.
 *
 * <p>Threading: each mutation of one channel's entry is atomic ({@link ConcurrentHashMap#compute}):
 * adding a stream can never land in a set that a concurrent removal of the last member has just
 * unlinked from the index. Which channels a stream is in is decided by the stream: callers add and
 * remove a stream only while holding that stream's lock and never add an evicted stream, so the
 * index always equals the union of the live streams' channel sets once their locks are released.
 * Lock order: stream, then the index's per-channel bin lock.
 */
final class ChannelIndex {
  private final ConcurrentHashMap<String, Set<UserStream>> channels = new ConcurrentHashMap<>();

  /** Adds {@code s} to {@code channel}; the caller holds {@code s}'s lock. */
  void add(String channel, UserStream s) {
    channels.compute(
        channel,
        (c, set) -> {
          Set<UserStream> members = set == null ? ConcurrentHashMap.newKeySet() : set;
          members.add(s);
          return members;
        });
  }

  /** Removes {@code s} from {@code channel}; the caller holds {@code s}'s lock. */
  void remove(String channel, UserStream s) {
    channels.computeIfPresent(
        channel,
        (c, set) -> {
          set.remove(s);
          return set.isEmpty() ? null : set;
        });
  }

  /**
   * The streams subscribed to {@code channel}: a live, weakly consistent view; iterate, do not
   * keep.
   */
  Set<UserStream> subscribers(String channel) {
    Set<UserStream> set = channels.get(channel);
    return set == null ? Set.of() : set;
  }

  /** Whether {@code s} is indexed under {@code channel}. */
  boolean contains(String channel, UserStream s) {
    return subscribers(channel).contains(s);
  }

  /** The number of channels with at least one subscriber. */
  int size() {
    return channels.size();
  }
}
