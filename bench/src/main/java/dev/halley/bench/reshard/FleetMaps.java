package dev.halley.bench.reshard;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.cluster.Owner;
import java.net.URI;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The owner-function part of the resharding simulation: every user of the fleet looked up with the
 * real {@link Owner} under the map before and after a change, without an object per user. Users are
 * {@code "user-" + i}; only the users whose owner changed (the moving users) are kept, as parallel
 * arrays of user index, old node and new node (node indices into {@link #nodeIds}).
 *
 * <p>Example: {@code FleetMaps.Move m = FleetMaps.move(before, after, 10_000_000);}
 */
public final class FleetMaps {
  private FleetMaps() {}

  /** Node {@code "node-000"} .. of a fleet of {@code n} equal nodes, as map {@code version}. */
  public static ClusterMap fleet(int version, int n) {
    List<NodeInfo> nodes = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      String id = nodeId(i);
      nodes.add(
          new NodeInfo(
              id,
              URI.create("https://" + id + ".push.example.com"),
              URI.create("http://" + id + ".internal:9080")));
    }
    return ClusterMap.of(version, nodes);
  }

  /** The ID of node {@code i} in {@link #fleet}. */
  public static String nodeId(int i) {
    return String.format("node-%03d", i);
  }

  /** The ID of user {@code i}. */
  public static String userId(int i) {
    return "user-" + i;
  }

  /**
   * The users of one map change: which users moved from which node to which, and the per-node
   * totals.
   *
   * @param nodeIds every node of either map, indexed as in {@code oldNode}/{@code newNode}
   * @param users users looked up
   * @param user index of each moving user (ascending)
   * @param oldNode its owner before, {@code newNode} after
   * @param ownedBefore users per node before, {@code ownedAfter} after
   * @param lookupNanos wall time of the lookups (the only wall-clock figure of the simulation)
   */
  public record Move(
      List<String> nodeIds,
      int users,
      int[] user,
      short[] oldNode,
      short[] newNode,
      int[] ownedBefore,
      int[] ownedAfter,
      long lookupNanos) {
    public int moved() {
      return user.length;
    }

    /** Moves in which neither side is {@code node}: must be 0 when only {@code node} changed. */
    public int movesNotInvolving(int node) {
      int n = 0;
      for (int i = 0; i < user.length; i++) {
        if (oldNode[i] != node && newNode[i] != node) {
          n++;
        }
      }
      return n;
    }

    public int index(String nodeId) {
      return nodeIds.indexOf(nodeId);
    }
  }

  /** Looks up users {@code 0 .. users-1} under both maps (two real owner lookups per user). */
  public static Move move(ClusterMap before, ClusterMap after, int users) {
    List<String> ids = new ArrayList<>();
    Map<NodeInfo, Integer> beforeIndex = index(before, ids);
    Map<NodeInfo, Integer> afterIndex = index(after, ids);
    Owner ob = Owner.of(before);
    Owner oa = Owner.of(after);
    int[] ownedBefore = new int[ids.size()];
    int[] ownedAfter = new int[ids.size()];
    int cap = Math.max(16, users / 64);
    int[] user = new int[cap];
    short[] oldNode = new short[cap];
    short[] newNode = new short[cap];
    int moved = 0;
    long start = System.nanoTime();
    for (int i = 0; i < users; i++) {
      String u = userId(i);
      int b = beforeIndex.get(ob.ownerOf(u));
      int a = afterIndex.get(oa.ownerOf(u));
      ownedBefore[b]++;
      ownedAfter[a]++;
      if (a != b) {
        if (moved == user.length) {
          int grown = user.length * 2;
          user = java.util.Arrays.copyOf(user, grown);
          oldNode = java.util.Arrays.copyOf(oldNode, grown);
          newNode = java.util.Arrays.copyOf(newNode, grown);
        }
        user[moved] = i;
        oldNode[moved] = (short) b;
        newNode[moved] = (short) a;
        moved++;
      }
    }
    long nanos = System.nanoTime() - start;
    return new Move(
        List.copyOf(ids),
        users,
        java.util.Arrays.copyOf(user, moved),
        java.util.Arrays.copyOf(oldNode, moved),
        java.util.Arrays.copyOf(newNode, moved),
        ownedBefore,
        ownedAfter,
        nanos);
  }

  // Identity: Owner returns the map's own NodeInfo instances, so lookups need no record hashing.
  private static Map<NodeInfo, Integer> index(ClusterMap map, List<String> ids) {
    Map<NodeInfo, Integer> index = new IdentityHashMap<>();
    for (NodeInfo node : map.nodes()) {
      int i = ids.indexOf(node.id());
      if (i < 0) {
        i = ids.size();
        ids.add(node.id());
      }
      index.put(node, i);
    }
    return index;
  }
}
