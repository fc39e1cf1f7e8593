package dev.halley.cluster;

import dev.halley.cluster.internal.OwnerHash;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * The owner function: which node of a {@link ClusterMap} owns a user. Browsers (js-client), app
 * servers (router-lib) and nodes compute the same answer from the same map; docs/hashing.md
 * specifies it byte for byte.
 *
 * <p>Example: {@code NodeInfo owner = Owner.of(map).ownerOf("alice");}
 *
 * <p>Weighted rendezvous hashing: each node has {@code weight} replicas, each replica a 32-bit key
 * precomputed from the node ID; a lookup hashes the user ID once and keeps the replica with the
 * highest score, ties going to the smaller node ID. The answer depends only on the node IDs and
 * weights, never on node order, URLs or the map version. A lookup costs one MurmurHash3 of the user
 * ID plus one integer mix per replica (the total weight); it allocates nothing beyond what Guava's
 * hashing does and takes no locks.
 *
 * <p>Immutable and thread-safe. {@link #of} returns the instance the map precomputed, so calling it
 * per lookup is cheap.
 */
public final class Owner {
  /** Replica keys, ordered by node ID then replica number. */
  private final int[] keys;

  /** For each replica, its node. */
  private final NodeInfo[] nodeOfReplica;

  Owner(List<NodeInfo> nodes) {
    List<NodeInfo> sorted = new ArrayList<>(nodes);
    // Node IDs are ASCII, so String order is the spec's order of UTF-8 bytes.
    sorted.sort(Comparator.comparing(NodeInfo::id));
    int total = 0;
    for (NodeInfo node : sorted) {
      total += node.weight();
    }
    keys = new int[total];
    nodeOfReplica = new NodeInfo[total];
    int i = 0;
    for (NodeInfo node : sorted) {
      for (int r = 0; r < node.weight(); r++) {
        keys[i] = OwnerHash.replicaKey(node.id(), r);
        nodeOfReplica[i] = node;
        i++;
      }
    }
  }

  /** Returns the owner function of {@code map} (precomputed when the map was built). */
  public static Owner of(ClusterMap map) {
    return map.ownerFunction();
  }

  /**
   * Returns the node that owns {@code userId}.
   *
   * @throws IllegalArgumentException if {@code userId} has an unpaired UTF-16 surrogate (it is not
   *     Unicode text and has no UTF-8 encoding)
   */
  public NodeInfo ownerOf(String userId) {
    Objects.requireNonNull(userId, "userId");
    return nodeOfReplica[bestReplica(OwnerHash.userHash(userId))];
  }

  /** Index of the replica with the highest unsigned score; on a tie the earlier (smaller ID). */
  private int bestReplica(int userHash) {
    int[] k = keys;
    int best = 0;
    // Flipping the sign bit turns the unsigned comparison into a signed one.
    int bestScore = OwnerHash.fmix32(userHash ^ k[0]) ^ Integer.MIN_VALUE;
    for (int i = 1; i < k.length; i++) {
      int score = OwnerHash.fmix32(userHash ^ k[i]) ^ Integer.MIN_VALUE;
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best;
  }

  /** The number of replicas a lookup scores (the map's total weight). */
  int replicas() {
    return keys.length;
  }

  @Override
  public String toString() {
    return "Owner{replicas=" + keys.length + "}";
  }
}
