package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.halley.node.config.OperationsConfig;
import dev.halley.testing.TransportClient;
import dev.halley.testing.TransportClient.Transport;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Channel presence on one node (issue #16) over real sockets: {@code GET
 * /v1/channels/{channel}/presence} lists the channel's members with live connections, and the
 * presence webhook reports {@code channel_join} / {@code channel_leave}.
 */
class ChannelPresenceTest {
  private final List<AutoCloseable> closing = new ArrayList<>();

  @AfterEach
  void close() throws Exception {
    for (int i = closing.size() - 1; i >= 0; i--) {
      closing.get(i).close();
    }
  }

  private <T extends AutoCloseable> T closing(T t) {
    closing.add(t);
    return t;
  }

  private static JsonNode presence(InternalApi api, String channel, String query) {
    InternalApi.Reply r =
        api.send("GET", "/v1/channels/" + channel.replace("/", "%2F") + "/presence" + query, null);
    assertEquals(200, r.status(), r.toString());
    return r.body();
  }

  @ParameterizedTest
  @EnumSource(
      value = Transport.class,
      names = {"WS", "SSE", "LONGPOLL"})
  void membersAreTheSubscribersWithLiveConnectionsWithCounts(Transport t) throws Exception {
    HalleyNode node = closing(HalleyNode.start(TestNodes.config().build()));
    InternalApi api = new InternalApi(node);
    String viaToken = TestNodes.userOwnedBy("a", "cp", 0);
    String viaApi = TestNodes.userOwnedBy("a", "cp", 1);
    String elsewhere = TestNodes.userOwnedBy("a", "cp", 2);
    String offline = TestNodes.userOwnedBy("a", "cp", 3);
    TransportClient a = closing(t.client(node.publicPort()));
    a.connect(TestNodes.token(viaToken, List.of("room/p")), null);
    TransportClient a2 = closing(t.client(node.publicPort()));
    a2.connect(TestNodes.token(viaToken, List.of("room/p")), null);
    TransportClient b = closing(t.client(node.publicPort()));
    b.connect(TestNodes.token(viaApi, List.of()), null);
    api.subscribe(viaApi, "room/p");
    TransportClient c = closing(t.client(node.publicPort()));
    c.connect(TestNodes.token(elsewhere, List.of("room:other")), null);
    api.subscribe(offline, "room/p"); // subscribed, never connected
    api.awaitConnections(viaToken, 2);
    api.awaitConnections(viaApi, 1);

    JsonNode p = presence(api, "room/p", "");
    assertEquals("a", p.get("node").asText());
    assertEquals("room/p", p.get("channel").asText());
    assertEquals(2, p.get("users").asInt(), p.toString());
    assertEquals(3, p.get("connections").asInt(), p.toString());
    List<String> members = new ArrayList<>();
    for (JsonNode m : p.get("members")) {
      members.add(m.get("user").asText() + "=" + m.get("connections").asInt());
    }
    List<String> expected = new ArrayList<>(List.of(viaToken + "=2", viaApi + "=1"));
    expected.sort(null);
    assertEquals(expected, members);
    assertEquals(false, p.get("truncated").asBoolean());

    JsonNode one = presence(api, "room/p", "?limit=1");
    assertEquals(1, one.get("members").size());
    assertEquals(2, one.get("users").asInt());
    assertTrue(one.get("truncated").asBoolean());
    assertEquals(0, presence(api, "room:none", "").get("users").asInt());

    assertEquals(
        "bad_request", api.send("GET", "/v1/channels/room:p/presence?limit=0", null).error());
    assertEquals("bad_request", api.send("GET", "/v1/channels/bad%20name/presence", null).error());
    assertEquals(404, api.send("GET", "/v1/channels/room:p/members", null).status());
  }

  @ParameterizedTest
  @EnumSource(
      value = Transport.class,
      names = {"WS", "SSE", "LONGPOLL"})
  void joinAndLeaveOfChannelMembersArePresenceWebhookEvents(Transport t) throws Exception {
    List<String> events = new CopyOnWriteArrayList<>();
    HttpServer hook = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    hook.createContext(
        "/hook",
        ex -> {
          JsonNode body = InternalApi.JSON.readTree(ex.getRequestBody().readAllBytes());
          for (JsonNode e : body.get("events")) {
            events.add(
                e.get("type").asText() + (e.has("channel") ? ":" + e.get("channel").asText() : ""));
          }
          ex.sendResponseHeaders(204, -1);
          ex.close();
        });
    hook.start();
    closing(() -> hook.stop(0));
    HalleyNode node =
        closing(
            HalleyNode.start(
                TestNodes.config()
                    .operations(
                        OperationsConfig.builder()
                            .newConnectionsPerSecondPerAddress(1_000_000)
                            .newConnectionBurstPerAddress(1_000_000)
                            .maxConnectionsPerUser(10_000)
                            .presenceWebhookUrl(
                                "http://127.0.0.1:" + hook.getAddress().getPort() + "/hook")
                            .presenceOfflineDelayMs(1_000)
                            .build())
                    .build()));
    InternalApi api = new InternalApi(node);
    String user = TestNodes.userOwnedBy("a", "cp-hook-" + t, 0);

    TransportClient c = t.client(node.publicPort());
    c.connect(TestNodes.token(user, List.of("room:b", "room:a")), null);
    await(() -> events.size() >= 3, events);
    assertEquals(List.of("online", "channel_join:room:a", "channel_join:room:b"), events);

    api.subscribe(user, "room:c");
    await(() -> events.size() >= 4, events);
    api.send("DELETE", "/v1/users/" + user + "/channels/room:c", null);
    await(() -> events.size() >= 5, events);
    assertEquals(List.of("channel_join:room:c", "channel_leave:room:c"), events.subList(3, 5));

    c.close();
    await(() -> events.size() >= 8, events);
    assertEquals(
        List.of("offline", "channel_leave:room:a", "channel_leave:room:b"), events.subList(5, 8));
  }

  private static void await(BooleanSupplier condition, Object what) {
    Awaitility.await()
        .atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofMillis(10))
        .untilAsserted(() -> assertTrue(condition.getAsBoolean(), () -> "events so far: " + what));
  }
}
