package dev.halley.router.internal;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.MapChange;
import dev.halley.cluster.NodeInfo;
import dev.halley.cluster.Owner;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The routing decision of dual mode (lossless resharding, docs/router-lib.md "Dual mode"): where a
 * message goes while nodes hold a pending map next to the active one, and in which order.
 *
 * <p>Example:
 *
 * <pre>{@code
 * DualRoute dual = DualRoute.of(active, pending);
 * DualRoute.UserRoute r = dual.user("alice");
 * if (r.moving()) {
 *   // send to r.oldOwner() first; then, from its answer for alice:
 *   DualRoute.Second second = DualRoute.afterOld(DualRoute.OldOutcome.ACCEPTED, "9f2c:17");
 *   // second.send() == true, second.relay() == true, second.position() == "9f2c:17":
 *   // send to r.newOwner() with "relay": {"alice": "9f2c:17"}
 * }
 * }</pre>
 *
 * <p>The rules (the contract, /work/notes/reshard-contract.md, and docs/router-lib.md):
 *
 * <ul>
 *   <li>A user whose owner is the same under both maps gets one send, as outside dual mode.
 *   <li>A moving user's message goes to the old owner first; the old owner's answer decides the
 *       second send to the new owner ({@link #afterOld}): accepted with a position: relay it;
 *       accepted without one (the old owner does not hold the pending map, so the message belongs
 *       to its active stream only, which the client reads before any handoff): no second send;
 *       dropped (a live-only message and no live connection there): no second send; {@code
 *       misdirected} (the old owner already activated): plain; failed or unknown: relay {@code
 *       null} (the new owner cannot tell what the client has: an honest reset at handoff).
 *   <li>The app hears the old owner's outcome when it accepted the message, else the new owner's
 *       ({@link #reportsOld}).
 *   <li>A channel message goes to the nodes in phases ({@link #channelPhases}): losers, then
 *       unchanged nodes, then gainers; each later phase carries the relay built from the earlier
 *       phases' {@code positions} ({@link #channelRelay}).
 * </ul>
 *
 * <p>Pure and immutable: no I/O, no clock, thread-safe. The fleet simulation (bench/) uses it as
 * the publishers' routing.
 */
public final class DualRoute {
  private final MapChange change;
  private final Owner oldOwners;
  private final Owner newOwners;
  private final List<List<NodeInfo>> channelPhases;

  private DualRoute(ClusterMap active, ClusterMap pending) {
    this.change = MapChange.of(active, pending);
    this.oldOwners = Owner.of(active);
    this.newOwners = Owner.of(pending);
    List<List<NodeInfo>> phases = new ArrayList<>();
    for (MapChange.Phase phase : MapChange.Phase.values()) {
      List<NodeInfo> nodes = change.nodes(phase);
      if (!nodes.isEmpty()) {
        phases.add(nodes);
      }
    }
    this.channelPhases = List.copyOf(phases);
  }

  /** The routing between {@code active} (version A) and {@code pending} (version P). */
  public static DualRoute of(ClusterMap active, ClusterMap pending) {
    Objects.requireNonNull(active, "active");
    Objects.requireNonNull(pending, "pending");
    return new DualRoute(active, pending);
  }

  /** The change of the two maps: each node's phase. */
  public MapChange change() {
    return change;
  }

  /** The active map. */
  public ClusterMap active() {
    return change.active();
  }

  /** The pending map. */
  public ClusterMap pending() {
    return change.pending();
  }

  /** Where one user's messages go. */
  public UserRoute user(String user) {
    return new UserRoute(user, oldOwners.ownerOf(user), newOwners.ownerOf(user));
  }

  /**
   * A user's owners under the two maps.
   *
   * @param user the user
   * @param oldOwner its owner under the active map (the first send)
   * @param newOwner its owner under the pending map (the second send, when it differs)
   */
  public record UserRoute(String user, NodeInfo oldOwner, NodeInfo newOwner) {
    /** Whether the two maps give the user different owners (two sends). */
    public boolean moving() {
      return !oldOwner.id().equals(newOwner.id());
    }
  }

  /** What the old owner answered for a moving user. */
  public enum OldOutcome {
    /** Stored ({@code delivered} or {@code buffered}); its {@code positions} may name the user. */
    ACCEPTED,
    /** A live-only message ({@code ttlMs: 0}) the old owner dropped: no live connection there. */
    DROPPED,
    /** The old owner no longer owns the user: it activated the pending map already. */
    MISDIRECTED,
    /** Not stored: refused, unreachable, never sent. */
    FAILED,
    /** Sent, but no answer says whether it was stored. */
    UNKNOWN
  }

  /**
   * The second send of a moving user's message.
   *
   * @param send whether the new owner gets the message at all
   * @param relay whether the message carries {@code "relay": {user: position}}
   * @param position the old owner's event ID to relay, or null for {@code "relay": {user: null}}
   *     (the old owner's outcome is unknown); always null when {@code relay} is false
   */
  public record Second(boolean send, boolean relay, String position) {
    /** No second send. */
    public static final Second NONE = new Second(false, false, null);

    /** A send without relay. */
    public static final Second PLAIN = new Second(true, false, null);

    /** A send with relay {@code null}: the old owner's outcome is not known. */
    public static final Second RELAY_UNKNOWN = new Second(true, true, null);

    /** A send relaying the old owner's event ID {@code position}. */
    public static Second relay(String position) {
      return new Second(true, true, Objects.requireNonNull(position, "position"));
    }
  }

  /**
   * Decides the second send from the old owner's answer for a moving user.
   *
   * @param outcome what the old owner answered for the user
   * @param position the user's entry in the old owner's {@code positions}, or null when absent
   */
  public static Second afterOld(OldOutcome outcome, String position) {
    switch (outcome) {
      case ACCEPTED:
        return position != null ? Second.relay(position) : Second.NONE;
      case DROPPED:
        return Second.NONE;
      case MISDIRECTED:
        return Second.PLAIN;
      case FAILED:
      case UNKNOWN:
        return Second.RELAY_UNKNOWN;
      default:
        throw new IllegalArgumentException("unknown outcome: " + outcome);
    }
  }

  /**
   * Whether the app hears the old owner's outcome ({@code true}) or the new owner's: the old
   * owner's when it accepted or dropped the message, else the new owner's.
   */
  public static boolean reportsOld(OldOutcome outcome) {
    return outcome == OldOutcome.ACCEPTED || outcome == OldOutcome.DROPPED;
  }

  /**
   * The nodes a channel message goes to, in phases: losers, then unchanged nodes, then gainers
   * (empty phases left out; each phase sorted by node ID). A phase is sent when every node of the
   * earlier phases answered.
   */
  public List<List<NodeInfo>> channelPhases() {
    return channelPhases;
  }

  /**
   * The relay for a channel message to the node {@code nodeId}: the entries of {@code positions}
   * (user to the old owner's event ID, gathered from the earlier phases' answers) whose user the
   * pending map gives to that node and the active map to another. Empty when none; insertion order
   * kept.
   */
  public Map<String, String> channelRelay(String nodeId, Map<String, String> positions) {
    Map<String, String> relay = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : positions.entrySet()) {
      UserRoute r = user(e.getKey());
      if (r.moving() && r.newOwner().id().equals(nodeId)) {
        relay.put(e.getKey(), e.getValue());
      }
    }
    return relay;
  }

  @Override
  public String toString() {
    return "DualRoute{" + change + "}";
  }
}
