package dev.halley.router.internal;

import java.util.List;

/**
 * One message's part for one node: some of its users (at most maxUsersPerRequest) or its channel.
 * Parts of one message to different nodes share the message's idempotency key (each node has its
 * own idempotency window); parts to the same node get derived keys, so none is taken for a repeat.
 */
final class Fragment {
  final String wireId;
  final String nodeId;
  final List<String> users;
  final String channel;
  final String dataJson;
  final Long ttlMs;
  final PublishTracker tracker;
  final int reroutes;

  Fragment(
      String wireId,
      String nodeId,
      List<String> users,
      String channel,
      String dataJson,
      Long ttlMs,
      PublishTracker tracker,
      int reroutes) {
    this.wireId = wireId;
    this.nodeId = nodeId;
    this.users = users;
    this.channel = channel;
    this.dataJson = dataJson;
    this.ttlMs = ttlMs;
    this.tracker = tracker;
    this.reroutes = reroutes;
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
