package dev.halley.router;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.HalleyNode;
import dev.halley.node.config.NodeConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
 * agree on owners. {@link #admin} is one call of a node's admin API (the reshard steps, the map
 * state).
 */
final class TestCluster implements AutoCloseable {
  static final String API_KEY = "test-api-key-0123456789";
  static final String SECRET = "test-secret-0123456789-0123456789-abcdef";

  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final ObjectMapper JSON = new ObjectMapper();

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

  /**
   * {@code method path} on node {@code id}'s internal listener with the API key and {@code body}
   * (none if null); asserts a 200 and returns the answer's JSON (a missing node if it has no body).
   */
  JsonNode admin(String id, String method, String path, String body) throws Exception {
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(internalUrl(id) + path))
                .header("Authorization", "Bearer " + API_KEY)
                .method(
                    method,
                    body == null
                        ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), method + " " + path + " on " + id + ": " + r.body());
    return r.body().isBlank() ? JSON.missingNode() : JSON.readTree(r.body());
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

  /** The map entries of the nodes {@code ids}, weight 1 each, in that order. */
  List<NodeInfo> infos(String... ids) {
    List<NodeInfo> infos = new ArrayList<>();
    for (String id : ids) {
      infos.add(new NodeInfo(id, publicUrl(id), internalUrl(id), 1));
    }
    return infos;
  }

  /**
   * Some user owned by {@code from} under {@code active} and by {@code to} under {@code next} (a
   * user that moves), different for each {@code n}.
   */
  static String mover(ClusterMap active, ClusterMap next, String from, String to, int n) {
    int found = 0;
    for (int i = 0; ; i++) {
      String u = "user-" + i;
      if (active.owner(u).id().equals(from) && next.owner(u).id().equals(to) && found++ == n) {
        return u;
      }
    }
  }

  static String mover(ClusterMap active, ClusterMap next, String from, String to) {
    return mover(active, next, from, to, 0);
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
