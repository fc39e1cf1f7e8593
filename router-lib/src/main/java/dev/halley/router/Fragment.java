package dev.halley.router;

import java.util.List;

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

  /** The same message to {@code subset} of this fragment's users on {@code node}. */
  Fragment derive(String node, List<String> subset, int reroutes) {
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
    return users == null ? "c\n" + nodeId + "\n" + channel : "u\n" + users.get(i);
  }

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
