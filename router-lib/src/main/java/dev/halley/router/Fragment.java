package dev.halley.router;

import dev.halley.router.internal.DualRoute;
import java.util.List;
import java.util.Map;

/**
 * One message's part for one node: some of its users (at most maxUsersPerRequest) or its channel.
 * Every part of a message carries the message's idempotency key: nodes remember outcomes per (key,
 * recipient), so parts, re-routes and retries never collide. {@link #links} are the fragment's
 * places in {@link RecipientOrder} (one per user, or one for the channel on this node).
 */
final class Fragment {
  final String wireId;
  final String nodeId;
  final List<String> users;
  final String channel;
  final String dataJson;
  final Long ttlMs;
  final String conflationKey;
  final PublishTracker tracker;
  final int reroutes;
  final long deadlineNanos;
  final RecipientOrder.Link[] links;
  Object batch; // guarded by the RecipientOrder: the batch that took it, null while queued

  /**
   * Its place in registration order ({@link RecipientOrder#register}; a part that took over places
   * keeps the original's): every earlier fragment of each of its recipients has a smaller one, so a
   * lane's queue kept in this order never holds a fragment ahead of one it waits for. Set under the
   * RecipientOrder's lock before the fragment is queued (the lane's lock publishes it).
   */
  long seq;

  /**
   * Dual mode: the routing this fragment was sent under (its users' old owners), or null. Its
   * moving users get a second send to their new owner, decided from this fragment's answer.
   */
  DualRoute route;

  /**
   * A second send whose users' outcome the old owner already stated: its own outcome is not
   * reported to the app (the old owner's stands).
   */
  boolean silent;

  /**
   * {@code "relay"}: user to the old owner's event ID (a null value: unknown), or null for none.
   * Set before the fragment is queued (the lane's lock publishes it to the sending thread).
   */
  Map<String, String> relay;

  /**
   * {@code "relayIncomplete": true} on a channel message to a gaining node (issue 14): an old owner
   * answered it without holding the pending map, so it reported no position for users it stored the
   * message for, and a moving user the relay does not list may already have it from there. Set with
   * {@link #relay}.
   */
  boolean relayIncomplete;

  /**
   * A second send (dual mode): its links are in its users' lists of second sends ({@link
   * #secondKey}), apart from their first sends, so a user's next first send need not wait for it.
   */
  boolean second;

  /**
   * For a user fragment that is not a second send: its places in the users' lists of second sends
   * (null entries where a user has none), so it waits for second sends still on their way. Guarded
   * by the RecipientOrder.
   */
  RecipientOrder.Link[] extra;

  /**
   * For a dual-mode first send (a {@link #route}, not {@link #second}): the places reserved at
   * registration for its moving users' second sends in their lists of second sends (null entries
   * for users that do not move), so that second sends keep publish order whatever order the old
   * owner's answers come in. The first send never waits on them. Guarded by the RecipientOrder.
   */
  RecipientOrder.Link[] seconds;

  /** A channel fragment of a dual-mode channel message: its message's phases, else null. */
  ChannelPhases phases;

  /** The phase of this channel fragment in {@link #phases}. */
  int phase;

  /**
   * Times this part waited for a newer map after a node named a newer map version in a {@code
   * misdirected} answer than the publisher knows (ClusterPublisher#reroute); bounded by the
   * deadline.
   */
  int mapWaits;

  Fragment(
      String wireId,
      String nodeId,
      List<String> users,
      String channel,
      String dataJson,
      Long ttlMs,
      String conflationKey,
      PublishTracker tracker,
      int reroutes,
      long deadlineNanos) {
    this.wireId = wireId;
    this.nodeId = nodeId;
    this.users = users;
    this.channel = channel;
    this.dataJson = dataJson;
    this.ttlMs = ttlMs;
    this.conflationKey = conflationKey;
    this.tracker = tracker;
    this.reroutes = reroutes;
    this.deadlineNanos = deadlineNanos;
    this.links = new RecipientOrder.Link[users == null ? 1 : users.size()];
  }

  /** A fragment without a conflation key. */
  Fragment(
      String wireId,
      String nodeId,
      List<String> users,
      String channel,
      String dataJson,
      Long ttlMs,
      PublishTracker tracker,
      int reroutes,
      long deadlineNanos) {
    this(wireId, nodeId, users, channel, dataJson, ttlMs, null, tracker, reroutes, deadlineNanos);
  }

  /**
   * The same message to {@code subset} of this fragment's users on {@code node}: a retry of part of
   * it on the same node keeps its dual-mode role; a send to another node is a plain one.
   */
  Fragment derive(String node, List<String> subset, int reroutes) {
    Fragment part = plain(node, subset, reroutes);
    part.second = second;
    if (node.equals(nodeId)) {
      part.route = route;
      part.silent = silent;
      if (relay != null) {
        Map<String, String> mine = new java.util.HashMap<>();
        for (String user : subset) {
          if (relay.containsKey(user)) {
            mine.put(user, relay.get(user));
          }
        }
        part.relay = mine;
      }
    }
    return part;
  }

  private Fragment plain(String node, List<String> subset, int reroutes) {
    return new Fragment(
        wireId,
        node,
        subset,
        null,
        dataJson,
        ttlMs,
        conflationKey,
        tracker,
        reroutes,
        deadlineNanos);
  }

  /** The recipient key of {@code links[i]}: users across nodes, a channel per node. */
  String orderKey(int i) {
    if (users == null) {
      return "c\n" + nodeId + "\n" + channel;
    }
    return second ? secondKey(users.get(i)) : "u\n" + users.get(i);
  }

  /** The key of a user's list of second sends. */
  static String secondKey(String user) {
    return SECOND_PREFIX + user;
  }

  static final String SECOND_PREFIX = "s\n";

  int userCount() {
    return users == null ? 0 : users.size();
  }

  /** Recipients for failure counts: users, or 1 for a channel part. */
  int recipients() {
    return users == null ? 1 : users.size();
  }

  @Override
  public String toString() {
    return "Fragment{" + wireId + " -> " + nodeId + "}";
  }
}
