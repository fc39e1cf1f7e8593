package dev.halley.cluster;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The nodes of a change from an active map to a pending one, classed by what the owner function
 * does to them: the order in which a lossless reshard reaches them.
 *
 * <p>Example: {@code MapChange.of(active, pending).phase("d") == Phase.GAINER}
 *
 * <p>Under weighted rendezvous hashing (docs/hashing.md) a node has one replica per unit of weight,
 * so a map change moves users only to nodes that gained replicas (added, or weight up: {@link
 * Phase#GAINER}) and only from nodes that lost replicas (removed, or weight down: {@link
 * Phase#LOSER}); nodes with the same weight in both maps are {@link Phase#UNCHANGED}. A moving user
 * can be relayed (its old owner's answer handed to its new owner) when its old owner's phase comes
 * before its new owner's: {@link #lossless(String, String)}. Adding nodes, removing nodes, or
 * changing weights in one direction always qualifies.
 *
 * <p>Immutable and thread-safe.
 */
public final class MapChange {
  /** A node's class in a change; declaration order is the order publishers reach them. */
  public enum Phase {
    /** Loses replicas (removed or weight down): users move only away from it. */
    LOSER,
    /** Same weight in both maps: users move neither to nor from it by the hash alone. */
    UNCHANGED,
    /** Gains replicas (added or weight up): users move only to it. */
    GAINER
  }

  private final ClusterMap active;
  private final ClusterMap pending;
  private final Map<String, Phase> phases = new TreeMap<>();
  private final Map<String, NodeInfo> nodes = new TreeMap<>();

  private MapChange(ClusterMap active, ClusterMap pending) {
    this.active = active;
    this.pending = pending;
    for (NodeInfo node : active.nodes()) {
      nodes.put(node.id(), node);
    }
    for (NodeInfo node : pending.nodes()) {
      nodes.put(node.id(), node); // the pending map's URLs win: they are the newer
    }
    for (String id : nodes.keySet()) {
      int before = active.node(id).map(NodeInfo::weight).orElse(0);
      int after = pending.node(id).map(NodeInfo::weight).orElse(0);
      phases.put(
          id, after > before ? Phase.GAINER : after < before ? Phase.LOSER : Phase.UNCHANGED);
    }
  }

  /** The change from {@code active} to {@code pending} (any two maps; versions are not checked). */
  public static MapChange of(ClusterMap active, ClusterMap pending) {
    return new MapChange(
        Objects.requireNonNull(active, "active"), Objects.requireNonNull(pending, "pending"));
  }

  /** The map users are owned by now. */
  public ClusterMap active() {
    return active;
  }

  /** The map users will be owned by. */
  public ClusterMap pending() {
    return pending;
  }

  /**
   * The phase of the node {@code nodeId}.
   *
   * @throws IllegalArgumentException if neither map lists it
   */
  public Phase phase(String nodeId) {
    Phase phase = phases.get(nodeId);
    if (phase == null) {
      throw new IllegalArgumentException("node is in neither map: " + nodeId);
    }
    return phase;
  }

  /** Every node of either map, once (the pending map's entry when both list it), sorted by ID. */
  public List<NodeInfo> nodes() {
    return List.copyOf(nodes.values());
  }

  /** The nodes of one phase, sorted by ID (the pending map's entry when both maps list a node). */
  public List<NodeInfo> nodes(Phase phase) {
    List<NodeInfo> result = new ArrayList<>();
    for (Map.Entry<String, Phase> e : phases.entrySet()) {
      if (e.getValue() == phase) {
        result.add(nodes.get(e.getKey()));
      }
    }
    return List.copyOf(result);
  }

  /**
   * The order in which to activate the pending map: gainers, then unchanged nodes, then losers, so
   * that a moved client is never sent back by a node that still serves the active map. Within a
   * phase, by node ID.
   */
  public List<NodeInfo> activationOrder() {
    List<NodeInfo> order = new ArrayList<>(nodes(Phase.GAINER));
    order.addAll(nodes(Phase.UNCHANGED));
    order.addAll(nodes(Phase.LOSER));
    return List.copyOf(order);
  }

  /**
   * Whether a user moving from {@code oldOwner} to {@code newOwner} can be relayed: the old owner's
   * phase comes strictly before the new owner's.
   */
  public boolean lossless(String oldOwner, String newOwner) {
    return phase(oldOwner).compareTo(phase(newOwner)) < 0;
  }

  /** Whether the two maps give every user the same owner (same node IDs and weights). */
  public boolean movesNobody() {
    return phases.values().stream().allMatch(p -> p == Phase.UNCHANGED);
  }

  @Override
  public String toString() {
    return "MapChange{" + active.version() + " -> " + pending.version() + ", " + phases + "}";
  }
}
