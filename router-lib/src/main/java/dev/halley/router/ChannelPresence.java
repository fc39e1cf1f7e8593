package dev.halley.router;

import java.util.List;
import java.util.Map;

/**
 * The members of a channel online across the cluster: every node was asked for the subscribers of
 * the channel that have a live connection there, and the answers that came within the deadline are
 * merged. Like Pusher's presence channels or Phoenix.Presence, but nodes are asked, never synced.
 *
 * <pre>{@code
 * ChannelPresence p = publisher.channelPresence("room:1", Duration.ofSeconds(1)).join();
 * render(p.members(), p.users());
 * if (!p.complete()) log.warn("no answer from {}", p.missing());   // node -> reason
 * }</pre>
 *
 * <p>A snapshot, possibly stale when read. Each user is owned by one node, so a user appears once;
 * while a map change moves users, a user may briefly be counted on two nodes. Immutable.
 *
 * @param channel the channel
 * @param users online members counted by the nodes that answered (all of them, even when {@code
 *     members} is truncated)
 * @param connections their live connections
 * @param members up to the limit asked for per node, sorted by user ID
 * @param truncated true when some node had more members than the limit
 * @param answered IDs of the nodes that answered
 * @param missing nodes that did not answer in time or failed, with the reason ({@code timeout},
 *     {@code unreachable}, or the node's error code)
 */
public record ChannelPresence(
    String channel,
    int users,
    long connections,
    List<Member> members,
    boolean truncated,
    List<String> answered,
    Map<String, String> missing) {

  /** True when every node of the map answered. */
  public boolean complete() {
    return missing.isEmpty();
  }

  /** One online member: the user, the node it is connected to, and its connections there. */
  public record Member(String user, String node, int connections) {}
}
