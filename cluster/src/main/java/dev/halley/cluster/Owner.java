package dev.halley.cluster;

import dev.halley.cluster.internal.OwnerHash;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
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
 * ID plus one integer mix per replica (the total weight), and takes no locks.
 *
 * <p>Cache: for maps of more than 16 replicas, each {@code Owner} keeps a two-way set-associative
 * cache from the 32-bit user hash to its owner (the owner depends on nothing else, so the cache is
 * exact). A repeat lookup then costs the hash plus one or two array reads. Size: the system
 * property {@code halley.owner.cacheEntries} (entries, 8 bytes each, rounded up to a power of two,
 * at most 2^24; default 16384, i.e. 128 KiB per map; {@code 0} disables it), read once when this
 * class loads.
 *
 * <p>Thread-safe; immutable except for the cache, whose entries are written whole and checked
 * whole, so concurrent lookups at worst recompute. {@link #of} returns the instance the map
 * precomputed, so calling it per lookup is cheap.
 */
public final class Owner {
  /** Maps with at most this many replicas are not cached: scoring them is as fast as a cache. */
  static final int CACHE_THRESHOLD = 16;

  /** Default number of cache entries (128 KiB per map). */
  static final int DEFAULT_CACHE_ENTRIES = 16_384;

  private static final int CACHE_ENTRIES = cacheEntries();

  // Opaque access: each long entry is read and written whole (a plain long may tear under the JMM).
  private static final VarHandle ENTRY = MethodHandles.arrayElementVarHandle(long[].class);

  /** Replica keys, ordered by node ID then replica number. */
  private final int[] keys;

  /** For each replica, its node. */
  private final NodeInfo[] nodeOfReplica;

  /** Entries {@code (long) userHash << 32 | (replica + 1)}; 0 is empty. Null when not cached. */
  private final long[] cache;

  private final int cacheMask;

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
    if (total > CACHE_THRESHOLD && CACHE_ENTRIES > 0) {
      cache = new long[CACHE_ENTRIES];
      cacheMask = (CACHE_ENTRIES - 1) & ~1;
    } else {
      cache = null;
      cacheMask = 0;
    }
  }

  private static int cacheEntries() {
    String value = System.getProperty("halley.owner.cacheEntries");
    int n = DEFAULT_CACHE_ENTRIES;
    if (value != null) {
      try {
        n = Integer.parseInt(value.trim());
      } catch (NumberFormatException e) {
        throw new IllegalStateException(
            "halley.owner.cacheEntries must be an integer >= 0: " + value, e);
      }
      if (n < 0 || n > (1 << 24)) {
        throw new IllegalStateException(
            "halley.owner.cacheEntries must be in 0.." + (1 << 24) + ": " + value);
      }
    }
    return n == 0 ? 0 : Math.max(2, Integer.highestOneBit(n - 1) << 1);
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
    int h = OwnerHash.userHash(userId);
    long[] c = cache;
    if (c == null) {
      return nodeOfReplica[bestReplica(h)];
    }
    // Two-way set associative: the pair at slot and slot + 1; a new entry goes first.
    int slot = h & cacheMask;
    long first = (long) ENTRY.getOpaque(c, slot);
    if ((int) (first >>> 32) == h && first != 0) {
      return nodeOfReplica[(int) first - 1];
    }
    long second = (long) ENTRY.getOpaque(c, slot + 1);
    if ((int) (second >>> 32) == h && second != 0) {
      return nodeOfReplica[(int) second - 1];
    }
    int replica = bestReplica(h);
    // Racing writers can lose an entry, never corrupt one: each entry carries its whole key.
    ENTRY.setOpaque(c, slot + 1, first);
    ENTRY.setOpaque(c, slot, ((long) h << 32) | (replica + 1));
    return nodeOfReplica[replica];
  }

  /** The owner computed without the cache (tests and benchmarks compare the two). */
  NodeInfo ownerOfUncached(String userId) {
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
