package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.testing.RawHttp;
import dev.halley.testing.TransportClient;
import dev.halley.testing.TransportClient.Transport;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 9 on a real node, every transport: a token's channels belong to its connection (items 3), a
 * reset delivers what the node holds after it (item 10), and a stream recreated after a move away
 * and back never takes an earlier incarnation's position for coverage (item 8).
 */
class DeliveryGuaranteeTest {
  @RegisterExtension static final OneNode NODE = new OneNode();
  private static final AtomicInteger USERS = new AtomicInteger();
  private static int mapVersion = TestNodes.MAP.version();

  private static String freshUser(Transport t) {
    return TestNodes.userOwnedBy("a", "dg" + t.name().toLowerCase(), USERS.getAndIncrement());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aTokenGrantingNothingDoesNotUnsubscribeAnotherConnectionOfTheUser(Transport t)
      throws Exception {
    String user = freshUser(t);
    String room = "room:dg-" + t;
    TransportClient granted = NODE.client(t);
    granted.connect(TestNodes.token(user, List.of(room)), null);
    // A second tab polls with a token that grants no channel.
    RawHttp.Response poll =
        Transport.POLL.attempt(
            NODE.node().publicPort(),
            "token=" + TestNodes.token(user, List.of()),
            java.util.Map.of());
    assertEquals(200, poll.status(), poll.toString());
    JsonNode r = NODE.api().publishToChannel(room, InternalApi.text("r1"));
    assertEquals(1, r.get("users").asInt(), r.toString());
    assertEquals("r1", granted.awaitMessage().get("data").asText());

    // Each connection gets only what its own token grants.
    TransportClient ungranted = NODE.client(t);
    ungranted.connect(TestNodes.token(user, List.of()), null);
    NODE.api().publishToChannel(room, InternalApi.text("r2"));
    NODE.api().publishToUsers(InternalApi.text("direct"), user);
    assertEquals("r2", granted.awaitMessage().get("data").asText());
    assertEquals("direct", granted.awaitMessage().get("data").asText());
    assertEquals("direct", ungranted.awaitMessage().get("data").asText());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aResetForAnotherEpochIsFollowedByEverythingTheNodeBufferedForTheUser(Transport t) {
    String user = freshUser(t);
    JsonNode b1 = NODE.api().publishToUsers(InternalApi.text("b1"), user);
    assertEquals(List.of(user), InternalApi.texts(b1.get("buffered")));
    NODE.api().publishToUsers(InternalApi.text("b2"), user);
    TransportClient c = NODE.client(t);
    c.connect(TestNodes.token(user, null), "0123456789abcdef:7"); // an ID of a former incarnation
    JsonNode reset = c.awaitEvent();
    assertEquals("reset", reset.get("type").asText(), reset.toString());
    assertEquals("epoch", reset.get("reason").asText());
    assertEquals("b1", c.awaitMessage().get("data").asText());
    assertEquals("b2", c.awaitMessage().get("data").asText());
    NODE.api().publishToUsers(InternalApi.text("live"), user);
    assertEquals("live", c.awaitMessage().get("data").asText());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aPositionOfAnEarlierIncarnationIsNotCoveredAfterAMoveAwayAndBack(Transport t) {
    String user = freshUser(t);
    String token = TestNodes.token(user, null);
    TransportClient first = NODE.client(t);
    first.connect(token, null);
    NODE.api().publishToUsers(InternalApi.text("m1"), user);
    String last = first.awaitMessage().get("id").asText();
    first.close();
    // The user moves to node b (which may hold events for it meanwhile), then back.
    NODE.node().updateMap(mapWith(++mapVersion, "b"));
    NODE.node().updateMap(mapWith(++mapVersion, "a", "b"));
    TransportClient again = NODE.client(t);
    again.connect(token, last);
    NODE.api().publishToUsers(InternalApi.text("m2"), user);
    JsonNode e = again.awaitEvent();
    assertEquals("reset", e.get("type").asText(), "resumed as covered: " + e);
    assertTrue(e.get("id").asText().startsWith(NODE.node().epoch() + ":"));
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
