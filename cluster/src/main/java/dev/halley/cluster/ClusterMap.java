package dev.halley.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The cluster map: a versioned list of nodes, and the owner function over them. Every node, app
 * server and browser that holds the same map agrees on which node owns which user.
 *
 * <p>Example:
 *
 * <pre>{@code
 * ClusterMap map = ClusterMap.load(Path.of("cluster.json"));
 * NodeInfo owner = map.owner("alice");
 * URI publishTo = owner.internalUrl();
 * }</pre>
 *
 * <p>The document format and its validation rules are in docs/cluster-map.md: {@code version} (an
 * integer from 0 to 2^31-1) and {@code nodes} (1 to {@value #MAX_NODES} {@link NodeInfo}s with
 * unique IDs). Unknown fields are rejected, so a typo in a hand-written map fails loudly. The owner
 * function is specified in docs/hashing.md; it depends only on node IDs and weights.
 *
 * <p>Immutable and thread-safe; the owner function is precomputed at construction.
 */
public final class ClusterMap {
  /** The most nodes a map can have. */
  public static final int MAX_NODES = 10_000;

  /**
   * Most total weight (sum of the nodes' weights) a map may have. An owner lookup scores one
   * replica per unit of weight, so this bounds every lookup (about 10 µs at the bound; a
   * 10,000-user publish then spends about 0.1 s on ownership, on a publish thread) whatever the
   * map. 10,000 nodes of weight 1, or 100 nodes of weight 100, fit.
   */
  public static final int MAX_TOTAL_WEIGHT = 10_000;

  private final int version;
  private final List<NodeInfo> nodes;
  private final Map<String, NodeInfo> byId;
  private final Owner owner;

  private ClusterMap(int version, List<NodeInfo> nodes, Map<String, NodeInfo> byId, Owner owner) {
    this.version = version;
    this.nodes = nodes;
    this.byId = byId;
    this.owner = owner;
  }

  /**
   * Builds a map from nodes in the given order.
   *
   * @throws ClusterMapException if {@code version} is negative, {@code nodes} is empty or longer
   *     than {@value #MAX_NODES}, two nodes share an ID, or the weights add up to more than {@value
   *     #MAX_TOTAL_WEIGHT}
   */
  public static ClusterMap of(int version, List<NodeInfo> nodes) {
    checkVersion(version);
    Objects.requireNonNull(nodes, "nodes");
    if (nodes.isEmpty()) {
      throw new ClusterMapException("nodes must not be empty");
    }
    if (nodes.size() > MAX_NODES) {
      throw new ClusterMapException(
          "nodes must have at most " + MAX_NODES + " entries: " + nodes.size());
    }
    List<NodeInfo> copy = List.copyOf(nodes);
    Map<String, NodeInfo> byId = new HashMap<>(copy.size() * 2);
    long totalWeight = 0;
    for (int i = 0; i < copy.size(); i++) {
      NodeInfo node = copy.get(i);
      if (byId.putIfAbsent(node.id(), node) != null) {
        throw new ClusterMapException(
            "duplicate node id " + Json.quote(node.id()) + " (nodes[" + i + "])");
      }
      totalWeight += node.weight();
    }
    if (totalWeight > MAX_TOTAL_WEIGHT) {
      throw new ClusterMapException(
          "the nodes' weights must add up to at most " + MAX_TOTAL_WEIGHT + ": " + totalWeight);
    }
    return new ClusterMap(version, copy, byId, new Owner(copy));
  }

  /**
   * Parses a full map document (see docs/cluster-map.md).
   *
   * @throws ClusterMapException naming the bad value if the document is not valid
   */
  public static ClusterMap parse(String json) {
    Objects.requireNonNull(json, "json");
    return Json.parseMap(json);
  }

  /**
   * Reads and parses a map document (UTF-8).
   *
   * @throws IOException if the file cannot be read
   * @throws ClusterMapException naming the file and the bad value if the document is not valid
   */
  public static ClusterMap load(Path file) throws IOException {
    String json = Files.readString(file, StandardCharsets.UTF_8);
    try {
      return parse(json);
    } catch (ClusterMapException e) {
      throw new ClusterMapException(file + ": " + e.getMessage(), e);
    }
  }

  /** The map's version; nodes use it to tell which of two maps is newer. */
  public int version() {
    return version;
  }

  /** The nodes, in document order (unmodifiable). */
  public List<NodeInfo> nodes() {
    return nodes;
  }

  /** The node with this ID, if any. */
  public Optional<NodeInfo> node(String id) {
    return Optional.ofNullable(byId.get(id));
  }

  /**
   * The node that owns {@code userId}: {@code Owner.of(this).ownerOf(userId)}.
   *
   * @throws IllegalArgumentException if {@code userId} has an unpaired UTF-16 surrogate
   */
  public NodeInfo owner(String userId) {
    return owner.ownerOf(userId);
  }

  Owner ownerFunction() {
    return owner;
  }

  /** The full document, with internal URLs, as compact JSON; {@link #parse} reads it back. */
  public String toJson() {
    return Json.write(this, true);
  }

  /**
   * The public view served at {@code GET /v1/map}: {@code {"version", "nodes": [{"id", "publicUrl",
   * "weight"}]}}, without internal URLs. Enough for a browser to compute owners.
   */
  public String publicViewJson() {
    return Json.write(this, false);
  }

  /** The same nodes under another version. The owner function is shared, not recomputed. */
  public ClusterMap withVersion(int v) {
    checkVersion(v);
    return new ClusterMap(v, nodes, byId, owner);
  }

  private static void checkVersion(int version) {
    if (version < 0) {
      throw new ClusterMapException("version must be an integer >= 0: " + version);
    }
  }

  /** Equal when the version and the nodes (in order) are equal. */
  @Override
  public boolean equals(Object o) {
    return o instanceof ClusterMap other && version == other.version && nodes.equals(other.nodes);
  }

  @Override
  public int hashCode() {
    return 31 * version + nodes.hashCode();
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("ClusterMap{version=").append(version).append(", nodes=[");
    for (int i = 0; i < nodes.size(); i++) {
      if (i > 0) {
        sb.append(", ");
      }
      if (i == 8 && nodes.size() > 9) {
        sb.append("... ").append(nodes.size() - 8).append(" more");
        break;
      }
      sb.append(nodes.get(i).id());
    }
    return sb.append("]}").toString();
  }
}
