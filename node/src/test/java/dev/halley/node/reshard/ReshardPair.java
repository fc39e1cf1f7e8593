package dev.halley.node.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.TestNodes;
import dev.halley.node.config.NodeConfig;
import dev.halley.node.config.OperationsConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The two in-process nodes of the resharding tests and the steps they share: {@code a}, the old
 * owner (map 3 = {a}), and {@code c}, the node map 4 = {a, c} adds; the publisher's part done by
 * hand (the pending map on both, the activation gainer first, publishes), and clients that connect
 * to {@code a} and follow {@code moved}. {@link #close()} closes the clients, then both nodes.
 *
 * <p>Threading: the test's thread only.
 */
final class ReshardPair implements AutoCloseable {
  static final String ROOM = "room";

  final HalleyNode a;
  final HalleyNode c;
  final InternalApi apiA;
  final InternalApi apiC;
  final ClusterMap v4;
  private final List<FollowingClient> clients = new ArrayList<>();

  /**
   * Starts a and c on map 3; {@code ops} adds to the operations settings (the per-address rates are
   * already unlimited), {@code node} to the node settings.
   */
  ReshardPair(UnaryOperator<OperationsConfig.Builder> ops, UnaryOperator<NodeConfig.Builder> node) {
    a = HalleyNode.start(config("a", ops, node));
    HalleyNode started;
    try {
      started = HalleyNode.start(config("c", ops, node));
    } catch (RuntimeException e) {
      a.close();
      throw e;
    }
    c = started;
    apiA = new InternalApi(a);
    apiC = new InternalApi(c);
    v4 =
        ClusterMap.parse(
            String.format(
                "{\"version\": 4, \"nodes\": [{\"id\": \"a\", \"publicUrl\":"
                    + " \"http://127.0.0.1:%d\", \"internalUrl\": \"http://127.0.0.1:%d\"},"
                    + " {\"id\": \"c\", \"publicUrl\": \"http://127.0.0.1:%d\", \"internalUrl\":"
                    + " \"http://127.0.0.1:%d\"}]}",
                a.publicPort(), a.internalPort(), c.publicPort(), c.internalPort()));
  }

  private static NodeConfig config(
      String id,
      UnaryOperator<OperationsConfig.Builder> ops,
      UnaryOperator<NodeConfig.Builder> node) {
    return node.apply(
            TestNodes.config()
                .nodeId(id)
                .map(
                    ClusterMap.parse(
                        "{\"version\": 3, \"nodes\": [{\"id\": \"a\", \"publicUrl\":"
                            + " \"http://127.0.0.1:1\", \"internalUrl\":"
                            + " \"http://127.0.0.1:2\"}]}"))
                .operations(
                    ops.apply(
                            OperationsConfig.builder()
                                .newConnectionsPerSecondPerAddress(1_000_000)
                                .newConnectionBurstPerAddress(1_000_000))
                        .build()))
        .build();
  }

  /** {@code n} users a owns under map 3 that map 4 moves to c, named {@code prefix-i}. */
  List<String> movers(String prefix, int n) {
    List<String> out = new ArrayList<>();
    for (int i = 0; out.size() < n; i++) {
      String u = prefix + "-" + i;
      if (v4.owner(u).id().equals("c")) {
        out.add(u);
      }
    }
    return out;
  }

  /**
   * A started client of {@code user} on a, its token granting {@code channels}; {@code
   * followsHandoff} off: an old client, which resumes with its last event ID only.
   */
  FollowingClient follow(
      FollowingClient.Transport t, String user, List<String> channels, boolean followsHandoff) {
    FollowingClient f =
        new FollowingClient(t, a.publicPort(), TestNodes.token(user, channels), followsHandoff)
            .start();
    clients.add(f);
    return f;
  }

  /** The pending map 4 on a, then on c. */
  void pending() {
    assertEquals(200, apiA.send("POST", "/v1/admin/map/pending", v4.toJson()).status());
    assertEquals(200, apiC.send("POST", "/v1/admin/map/pending", v4.toJson()).status());
  }

  /** The activation of map 4: the gainer c first, then a (whose clients get moved). */
  void activate() {
    assertEquals(200, apiC.send("POST", "/v1/admin/map/activate", "{\"version\": 4}").status());
    assertEquals(200, apiA.send("POST", "/v1/admin/map/activate", "{\"version\": 4}").status());
  }

  /**
   * The pair most reshard tests use: {@code moved} sent at once (no spread), and the handoff wait
   * long enough (10 s) that a busy machine does not end a covered resume in a reset.
   */
  static ReshardPair standard() {
    return new ReshardPair(ops -> ops.movedSpreadMs(0).handoffWaitMs(10_000), node -> node);
  }

  /**
   * A message keyed {@code key} to {@link #ROOM}, with the {@code relay} of its positions if any
   * (null, missing or empty: none).
   */
  static ObjectNode channelMessage(String key, JsonNode relay) {
    ObjectNode m = InternalApi.JSON.createObjectNode();
    m.put("id", key);
    m.put("channel", ROOM);
    m.put("data", key);
    if (relay != null && relay.size() > 0) {
      m.set("relay", relay);
    }
    return m;
  }

  /**
   * A message keyed {@code key} to {@code user}, with the {@code relay} of its positions if any.
   */
  static ObjectNode userMessage(String key, String user, JsonNode relay) {
    ObjectNode m = InternalApi.JSON.createObjectNode();
    m.put("id", key);
    m.putArray("users").add(user);
    m.put("data", key);
    if (relay != null) {
      m.set("relay", relay);
    }
    return m;
  }

  /** Publishes {@code message} alone; its result (status 200 asserted). */
  static JsonNode post(InternalApi api, ObjectNode message) {
    ObjectNode root = InternalApi.JSON.createObjectNode();
    root.putArray("messages").add(message);
    InternalApi.Reply r = api.publish(root.toString());
    assertEquals(200, r.status(), r.toString());
    return r.body().get("results").get(0);
  }

  @Override
  public void close() {
    try {
      clients.forEach(FollowingClient::close);
    } finally {
      try {
        a.close();
      } finally {
        c.close();
      }
    }
  }
}
