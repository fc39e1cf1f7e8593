package dev.halley.node.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.MapChange;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import dev.halley.node.WsRecorder;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.EventTypes;
import dev.halley.testing.TransportClient;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A new map applied with {@code POST /v1/admin/map} moves exactly the users whose owner changed
 * ({@link ClusterMap#owner}): their connections get {@code moved} and end (WebSocket 4009), their
 * buffers are dropped, publishes for them are misdirected; everyone else keeps receiving.
 */
class MapReloadTest {
  private static final String C_URL = "http://c.example.test:8080";
  private static final ClusterMap V4 =
      ClusterMap.parse(
          "{\"version\": 4, \"nodes\": ["
              + "{\"id\": \"a\", \"publicUrl\": \"http://127.0.0.1:1\", \"internalUrl\": \"http://127.0.0.1:2\"},"
              + "{\"id\": \"b\", \"publicUrl\": \""
              + TestNodes.OTHER_URL
              + "\", \"internalUrl\": \"http://127.0.0.1:3\"},"
              + "{\"id\": \"c\", \"publicUrl\": \""
              + C_URL
              + "\", \"internalUrl\": \"http://127.0.0.1:4\"}]}");

  private HalleyNode node;
  private InternalApi api;
  private final List<AutoCloseable> clients = new ArrayList<>();

  @BeforeEach
  void start() {
    node = HalleyNode.start(TestNodes.config().build());
    api = new InternalApi(node);
  }

  @AfterEach
  void stop() throws Exception {
    for (AutoCloseable c : clients) {
      c.close();
    }
    node.close();
  }

  /** {@code n} users node a owns under map 3 that do ({@code move}) or do not move under map 4. */
  private static List<String> users(String prefix, int n, boolean move) {
    List<String> out = new ArrayList<>();
    for (int i = 0; out.size() < n; i++) {
      String u = TestNodes.userOwnedBy("a", prefix, i);
      if (!V4.owner(u).id().equals("a") == move) {
        out.add(u);
      }
    }
    return out;
  }

  @Test
  void movesExactlyTheUsersTheHashSaysAndTellsTheirClientsWhere() {
    List<String> wsUsers = new ArrayList<>(users("ws", 6, true));
    wsUsers.addAll(users("ws", 6, false));
    List<String> sseUsers = new ArrayList<>(users("sse", 2, true));
    sseUsers.addAll(users("sse", 2, false));
    List<String> offline = new ArrayList<>(users("off", 4, true));
    offline.addAll(users("off", 4, false));

    List<WsRecorder> ws = new ArrayList<>();
    for (String u : wsUsers) {
      WsRecorder r = WsRecorder.connect(node.publicPort(), TestNodes.token(u, null));
      clients.add(r);
      ws.add(r);
    }
    List<TransportClient> sse = new ArrayList<>();
    for (String u : sseUsers) {
      TransportClient c = TransportClient.Transport.SSE.client(node.publicPort());
      clients.add(c);
      c.connect(TestNodes.token(u, null), null);
      sse.add(c);
    }
    for (String u : offline) {
      assertEquals(
          List.of(u),
          InternalApi.texts(api.publishToUsers(InternalApi.json("1"), u).get("buffered")));
    }

    // The expected movers, counted with the owner function itself.
    Set<String> all = new HashSet<>(wsUsers);
    all.addAll(sseUsers);
    all.addAll(offline);
    Set<String> movers = new HashSet<>();
    for (String u : all) {
      if (!V4.owner(u).id().equals("a")) {
        movers.add(u);
      }
    }
    assertEquals(12, movers.size());

    InternalApi.Reply reply = api.send("POST", "/v1/admin/map", V4.toJson());
    assertEquals(200, reply.status(), reply.toString());
    assertEquals(4, reply.body().get("mapVersion").asInt());
    assertEquals(3, reply.body().get("previousVersion").asInt());
    assertTrue(reply.body().get("changed").asBoolean());
    assertEquals(movers.size(), reply.body().get("movedUsers").asInt());
    assertEquals(8, reply.body().get("movedConnections").asInt());
    assertEquals(4, node.map().version());

    for (int i = 0; i < ws.size(); i++) {
      String u = wsUsers.get(i);
      if (movers.contains(u)) {
        JsonNode moved = ws.get(i).assertEvent(EventTypes.MOVED);
        NodeInfo owner = V4.owner(u);
        assertEquals(owner.id(), moved.get("node").asText());
        assertEquals(owner.publicUrl().toString(), moved.get("url").asText());
        assertEquals(4, moved.get("mapVersion").asInt());
        ws.get(i).assertClosed(CloseCodes.MOVED);
      }
    }
    for (int i = 0; i < sse.size(); i++) {
      if (movers.contains(sseUsers.get(i))) {
        JsonNode moved = sse.get(i).awaitEvent();
        assertEquals(EventTypes.MOVED, moved.get("type").asText());
        assertEquals(V4.owner(sseUsers.get(i)).publicUrl().toString(), moved.get("url").asText());
      }
    }

    // A publish to everyone: movers are misdirected, the others still receive.
    ObjectNode msg = InternalApi.JSON.createObjectNode();
    all.forEach(msg.putArray("users")::add);
    msg.set("data", InternalApi.json("\"after\""));
    JsonNode result = api.publishOne(msg);
    assertEquals(movers, new HashSet<>(InternalApi.texts(result.get("misdirected"))));
    for (int i = 0; i < ws.size(); i++) {
      if (!movers.contains(wsUsers.get(i))) {
        assertEquals("after", ws.get(i).assertEvent("message").get("data").asText());
      }
    }
    for (int i = 0; i < sse.size(); i++) {
      if (!movers.contains(sseUsers.get(i))) {
        assertEquals("after", sse.get(i).awaitMessage().get("data").asText());
      }
    }
    String mover = offline.get(0);
    InternalApi.Reply presence = api.send("GET", "/v1/users/" + mover + "/presence", null);
    assertEquals(421, presence.status());
    assertEquals(
        V4.owner(mover).publicUrl().toString(), presence.body().get("owner").get("url").asText());

    String metrics = Scrape.get(node.internalPort(), "/metrics").body();
    assertEquals(
        6.0, Scrape.sample(metrics, "halley_clients_moved_total{transport=\"websocket\"}"));
    assertEquals(2.0, Scrape.sample(metrics, "halley_clients_moved_total{transport=\"sse\"}"));
    assertEquals(4.0, Scrape.sample(metrics, "halley_events_dropped_total{reason=\"moved\"}"));
    assertEquals(4.0, Scrape.sample(metrics, "halley_map_version"));
  }

  @Test
  void reloadsTheMapFileOnRequest(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    node.close();
    java.nio.file.Path file = dir.resolve("map.json");
    java.nio.file.Files.writeString(file, TestNodes.MAP.toJson());
    node = HalleyNode.start(TestNodes.config().mapFile(file).build());
    java.nio.file.Files.writeString(file, V4.toJson());
    MapChange change = node.reloadMapFile(); // what SIGHUP does
    assertEquals(3, change.previousVersion());
    assertEquals(4, node.map().version());
    assertEquals(V4, node.map());
  }

  @Test
  void theSameMapAgainChangesNothingAndAnOlderOrBrokenOneIsRefused() {
    assertEquals(200, api.send("POST", "/v1/admin/map", V4.toJson()).status());
    InternalApi.Reply again = api.send("POST", "/v1/admin/map", V4.toJson());
    assertEquals(200, again.status());
    assertFalse(again.body().get("changed").asBoolean());
    assertEquals(0, again.body().get("movedUsers").asInt());

    InternalApi.Reply older = api.send("POST", "/v1/admin/map", TestNodes.MAP.toJson());
    assertEquals(400, older.status());
    assertEquals("invalid_field", older.error());
    assertEquals(400, api.send("POST", "/v1/admin/map", "{not json").status());
    assertEquals("invalid_json", api.send("POST", "/v1/admin/map", "{not json").error());
    assertEquals("invalid_field", api.send("POST", "/v1/admin/map", "{\"version\": 9}").error());
    InternalApi.Reply noKey =
        new InternalApi(node.internalPort(), null).send("POST", "/v1/admin/map", V4.toJson());
    assertEquals(401, noKey.status());
    assertEquals(4, node.map().version());
  }
}
