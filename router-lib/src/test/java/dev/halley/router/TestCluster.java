package dev.halley.router;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.HalleyNode;
import dev.halley.node.config.NodeConfig;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Real nodes started in-process on port 0, for tests. Nodes start with a provisional map; {@link
 * #publish} then builds the real map from the bound ports and loads it into every node. {@link
 * #rewrite} gives a publisher a copy with another internal URL for one node (a proxy in front of
 * it, or a hanging server standing in for it); ownership depends only on node IDs, so both maps
 * agree on owners.
 */
final class TestCluster implements AutoCloseable {
  static final String API_KEY = "test-api-key-0123456789";
  static final String SECRET = "test-secret-0123456789-0123456789-abcdef";

  private final Map<String, HalleyNode> nodes = new LinkedHashMap<>();
  private volatile ClusterMap map;

  TestCluster(String... ids) throws Exception {
    this(b -> b.tokenHmacSecret(SECRET), ids);
  }

  /** Nodes whose config {@code customize} finishes (token mode, limits). */
  TestCluster(UnaryOperator<NodeConfig.Builder> customize, String... ids) throws Exception {
    List<NodeInfo> provisional = new ArrayList<>();
    for (String id : ids) {
      provisional.add(
          new NodeInfo(id, URI.create("http://127.0.0.1:1"), URI.create("http://127.0.0.1:1")));
    }
    ClusterMap first = ClusterMap.of(1, provisional);
    for (String id : ids) {
      NodeConfig.Builder b =
          NodeConfig.builder()
              .nodeId(id)
              .map(first)
              .publicHost("127.0.0.1")
              .publicPort(0)
              .internalHost("127.0.0.1")
              .internalPort(0)
              .apiKeys(List.of(API_KEY));
      nodes.put(id, HalleyNode.start(customize.apply(b).build()));
    }
    publish(2);
  }

  HalleyNode node(String id) {
    return nodes.get(id);
  }

  URI publicUrl(String id) {
    return URI.create("http://127.0.0.1:" + nodes.get(id).publicPort());
  }

  URI internalUrl(String id) {
    return URI.create("http://127.0.0.1:" + nodes.get(id).internalPort());
  }

  ClusterMap map() {
    return map;
  }

  /** Builds map {@code version} over the nodes' bound ports and loads it into every node. */
  ClusterMap publish(int version) {
    List<NodeInfo> infos = new ArrayList<>();
    for (String id : nodes.keySet()) {
      infos.add(new NodeInfo(id, publicUrl(id), internalUrl(id)));
    }
    return load(ClusterMap.of(version, infos));
  }

  /** A copy of {@code m} where node {@code id}'s internal URL is {@code internal} (a proxy...). */
  static ClusterMap rewrite(ClusterMap m, String id, URI internal) {
    List<NodeInfo> infos = new ArrayList<>();
    for (NodeInfo n : m.nodes()) {
      infos.add(n.id().equals(id) ? new NodeInfo(n.id(), n.publicUrl(), internal, n.weight()) : n);
    }
    return ClusterMap.of(m.version(), infos);
  }

  /** Loads {@code next} into every node still in this cluster. */
  ClusterMap load(ClusterMap next) {
    for (HalleyNode node : nodes.values()) {
      node.updateMap(next);
    }
    map = next;
    return next;
  }

  /** Some user ID owned by {@code nodeId} under {@code m}, different for each {@code n}. */
  static String userOn(ClusterMap m, String nodeId, int n) {
    int found = 0;
    for (int i = 0; ; i++) {
      String user = "user-" + i;
      if (m.owner(user).id().equals(nodeId) && found++ == n) {
        return user;
      }
    }
  }

  @Override
  public void close() {
    for (HalleyNode node : nodes.values()) {
      try {
        node.close();
      } catch (Exception ignored) {
        // closing all anyway
      }
    }
  }
}
