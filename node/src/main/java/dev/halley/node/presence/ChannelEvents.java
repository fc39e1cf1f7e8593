package dev.halley.node.presence;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * Turns presence and subscription changes into channel {@code join}/{@code leave} events for the
 * presence webhook: an online user is a member of the channels it is subscribed to (token or API).
 * It joins them when it comes online (the webhook's {@code online}), joins or leaves one when its
 * channels change while it is online (an API subscription, a connect with another token), and
 * leaves all of them when it goes offline (after {@code presenceOfflineDelayMs}).
 *
 * <pre>{@code
 * ChannelEvents events = new ChannelEvents(webhook, user -> channelsOf(user));
 * events.online("alice");                          // channel_join per channel of alice
 * events.changed("alice");                        // joins/leaves the difference
 * events.offline("alice");                         // channel_leave per channel joined
 * }</pre>
 *
 * <p>Thread-safe: each user's channels are read, its joined set changed and its events queued
 * inside one {@code compute} of {@link #joined}, so one user's events are never reordered and a
 * late call never applies a stale view. Lock order: the user's entry in {@link #joined}, then its
 * stream. Memory: one set per online user. Calls never block (the webhook only queues).
 */
public final class ChannelEvents {
  private final PresenceWebhook webhook;
  private final Function<String, Set<String>> channelsOf;
  private final ConcurrentHashMap<String, Set<String>> joined = new ConcurrentHashMap<>();

  public ChannelEvents(PresenceWebhook webhook, Function<String, Set<String>> channelsOf) {
    this.webhook = webhook;
    this.channelsOf = channelsOf;
  }

  /** {@code user} came online: joins its current channels. */
  public void online(String user) {
    joined.compute(
        user,
        (u, old) -> {
          Set<String> now = new HashSet<>(channelsOf.apply(u));
          diff(u, old == null ? Set.of() : old, now);
          return now;
        });
  }

  /** {@code user}'s channels may have changed: events for the difference, if it is online. */
  public void changed(String user) {
    joined.computeIfPresent(
        user,
        (u, old) -> {
          Set<String> now = new HashSet<>(channelsOf.apply(u));
          diff(u, old, now);
          return now;
        });
  }

  /** {@code user} went offline: leaves every channel it had joined. */
  public void offline(String user) {
    joined.computeIfPresent(
        user,
        (u, old) -> {
          diff(u, old, Set.of());
          return null;
        });
  }

  /** Users tracked as online members. */
  public int size() {
    return joined.size();
  }

  private void diff(String user, Set<String> before, Set<String> after) {
    for (String c : new java.util.TreeSet<>(before)) {
      if (!after.contains(c)) {
        webhook.channelLeave(user, c);
      }
    }
    for (String c : new java.util.TreeSet<>(after)) {
      if (!before.contains(c)) {
        webhook.channelJoin(user, c);
      }
    }
  }

  @Override
  public String toString() {
    return "ChannelEvents{" + joined.size() + " online users}";
  }
}
