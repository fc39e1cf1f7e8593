package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.testing.RawHttp;
import dev.halley.testing.TransportClient;
import dev.halley.testing.TransportClient.Transport;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 9 on a real node, every transport: a token's channels belong to its connection (items 3), a
 * reset delivers what the node holds after it (item 10), and a stream recreated after a move away
 * and back never takes an earlier incarnation's position for coverage (item 8).
 */
class DeliveryGuaranteeTest {
  private static HalleyNode node;
  private static InternalApi api;
  private static final AtomicInteger USERS = new AtomicInteger();
  private static int mapVersion = TestNodes.MAP.version();
  private final List<TransportClient> clients = new ArrayList<>();

  @BeforeAll
  static void start() {
    node = HalleyNode.start(TestNodes.config().build());
    api = new InternalApi(node);
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  @AfterEach
  void closeClients() {
    clients.forEach(TransportClient::close);
  }

  private TransportClient client(Transport t) {
    TransportClient c = t.client(node.publicPort());
    clients.add(c);
    return c;
  }

  private static String freshUser(Transport t) {
    return TestNodes.userOwnedBy("a", "dg" + t.name().toLowerCase(), USERS.getAndIncrement());
  }

  private static JsonNode text(String s) {
    return InternalApi.JSON.getNodeFactory().textNode(s);
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aTokenGrantingNothingDoesNotUnsubscribeAnotherConnectionOfTheUser(Transport t)
      throws Exception {
    String user = freshUser(t);
    String room = "room:dg-" + t;
    TransportClient granted = client(t);
    granted.connect(TestNodes.token(user, List.of(room)), null);
    // A second tab polls with a token that grants no channel.
    RawHttp.Response poll =
        Transport.POLL.attempt(
            node.publicPort(), "token=" + TestNodes.token(user, List.of()), java.util.Map.of());
    assertEquals(200, poll.status(), poll.toString());
    JsonNode r = api.publishToChannel(room, text("r1"));
    assertEquals(1, r.get("users").asInt(), r.toString());
    assertEquals("r1", granted.awaitMessage().get("data").asText());

    // Each connection gets only what its own token grants.
    TransportClient ungranted = client(t);
    ungranted.connect(TestNodes.token(user, List.of()), null);
    api.publishToChannel(room, text("r2"));
    api.publishToUsers(text("direct"), user);
    assertEquals("r2", granted.awaitMessage().get("data").asText());
    assertEquals("direct", granted.awaitMessage().get("data").asText());
    assertEquals("direct", ungranted.awaitMessage().get("data").asText());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aResetForAnotherEpochIsFollowedByEverythingTheNodeBufferedForTheUser(Transport t) {
    String user = freshUser(t);
    JsonNode b1 = api.publishToUsers(text("b1"), user);
    assertEquals(List.of(user), InternalApi.texts(b1.get("buffered")));
    api.publishToUsers(text("b2"), user);
    TransportClient c = client(t);
    c.connect(TestNodes.token(user, null), "0123456789abcdef:7"); // an ID of a former incarnation
    JsonNode reset = c.awaitEvent();
    assertEquals("reset", reset.get("type").asText(), reset.toString());
    assertEquals("epoch", reset.get("reason").asText());
    assertEquals("b1", c.awaitMessage().get("data").asText());
    assertEquals("b2", c.awaitMessage().get("data").asText());
    api.publishToUsers(text("live"), user);
    assertEquals("live", c.awaitMessage().get("data").asText());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aPositionOfAnEarlierIncarnationIsNotCoveredAfterAMoveAwayAndBack(Transport t) {
    String user = freshUser(t);
    String token = TestNodes.token(user, null);
    TransportClient first = client(t);
    first.connect(token, null);
    api.publishToUsers(text("m1"), user);
    String last = first.awaitMessage().get("id").asText();
    first.close();
    // The user moves to node b (which may hold events for it meanwhile), then back.
    node.updateMap(mapWith(++mapVersion, "b"));
    node.updateMap(mapWith(++mapVersion, "a", "b"));
    TransportClient again = client(t);
    again.connect(token, last);
    api.publishToUsers(text("m2"), user);
    JsonNode e = again.awaitEvent();
    assertEquals("reset", e.get("type").asText(), "resumed as covered: " + e);
    assertTrue(e.get("id").asText().startsWith(node.epoch() + ":"));
    assertEquals("m2", again.awaitMessage().get("data").asText());
  }

  /** A map of version {@code version} with the test nodes {@code ids} (as in TestNodes.MAP). */
  static ClusterMap mapWith(int version, String... ids) {
    StringBuilder nodes = new StringBuilder();
    for (String id : ids) {
      if (nodes.length() > 0) {
        nodes.append(',');
      }
      String pub = id.equals("a") ? "http://127.0.0.1:1" : TestNodes.OTHER_URL;
      String internal = id.equals("a") ? "http://127.0.0.1:2" : "http://127.0.0.1:3";
      nodes.append(
          "{\"id\": \""
              + id
              + "\", \"publicUrl\": \""
              + pub
              + "\", \"internalUrl\": \""
              + internal
              + "\"}");
    }
    return ClusterMap.parse("{\"version\": " + version + ", \"nodes\": [" + nodes + "]}");
  }
}
