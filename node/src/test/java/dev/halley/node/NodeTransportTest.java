package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.testing.RawHttp;
import dev.halley.testing.TransportClient;
import dev.halley.testing.TransportClient.Transport;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every delivery scenario over real sockets, on each of the four transports. */
class NodeTransportTest {
  @RegisterExtension
  static final OneNode NODE =
      new OneNode(TestNodes.config().bufferMaxEvents(4).connectionQueueMaxEvents(64));

  private static final AtomicInteger USERS = new AtomicInteger();

  private static String freshUser(Transport t) {
    return TestNodes.userOwnedBy("a", "u" + t.name().toLowerCase(), USERS.getAndIncrement());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void receivesAPublishedMessageWithAnEventId(Transport t) {
    String user = freshUser(t);
    TransportClient c = NODE.client(t);
    c.connect(TestNodes.token(user, null), null);
    if (c.hello() != null) {
      assertEquals("a", c.hello().get("node").asText());
      assertEquals(NODE.node().epoch(), c.hello().get("epoch").asText());
      assertEquals(3, c.hello().get("mapVersion").asInt());
    }
    NODE.api().publishToUsers(InternalApi.json("{\"text\":\"hi\",\"n\":[1,2]}"), user);
    JsonNode e = c.awaitMessage();
    assertEquals(InternalApi.json("{\"text\":\"hi\",\"n\":[1,2]}"), e.get("data"));
    assertTrue(e.get("id").asText().startsWith(NODE.node().epoch() + ":"), e.toString());
    assertTrue(!e.has("channel"));
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void resumesAfterDisconnectWithoutLossOrDuplicates(Transport t) {
    String user = freshUser(t);
    String token = TestNodes.token(user, null);
    TransportClient first = NODE.client(t);
    first.connect(token, null);
    NODE.api().publishToUsers(InternalApi.text("m1"), user);
    JsonNode m1 = first.awaitMessage();
    assertEquals("m1", m1.get("data").asText());
    first.close();
    NODE.api().publishToUsers(InternalApi.text("m2"), user);
    NODE.api().publishToUsers(InternalApi.text("m3"), user);

    TransportClient second = NODE.client(t);
    second.connect(token, m1.get("id").asText());
    JsonNode m2 = second.awaitMessage();
    JsonNode m3 = second.awaitMessage();
    NODE.api().publishToUsers(InternalApi.text("m4"), user);
    JsonNode m4 = second.awaitMessage();
    assertEquals(
        List.of("m2", "m3", "m4"),
        List.of(m2.get("data").asText(), m3.get("data").asText(), m4.get("data").asText()));
    assertEquals(seq(m1) + 1, seq(m2));
    assertEquals(seq(m2) + 1, seq(m3));
    assertEquals(seq(m3) + 1, seq(m4));
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void resetsWhenTheBufferOverflowedSinceTheLastEventId(Transport t) {
    String user = freshUser(t);
    String token = TestNodes.token(user, null);
    TransportClient first = NODE.client(t);
    first.connect(token, null);
    NODE.api().publishToUsers(InternalApi.text("seen"), user);
    String last = first.awaitMessage().get("id").asText();
    first.close();
    for (int i = 0; i < 6; i++) { // the buffer holds 4
      NODE.api().publishToUsers(InternalApi.text("missed-" + i), user);
    }
    TransportClient second = NODE.client(t);
    second.connect(token, last);
    JsonNode reset = second.awaitEvent();
    assertEquals("reset", reset.get("type").asText(), reset.toString());
    assertEquals("gap", reset.get("reason").asText());
    // The reset stands where the buffer is whole again: the 4 events it still holds follow.
    for (int i = 2; i < 6; i++) {
      JsonNode held = second.awaitMessage();
      assertEquals("missed-" + i, held.get("data").asText());
      assertEquals(seq(reset) + i - 1, seq(held));
    }
    NODE.api().publishToUsers(InternalApi.text("after"), user);
    JsonNode after = second.awaitMessage();
    assertEquals("after", after.get("data").asText());
    assertEquals(seq(reset) + 5, seq(after));
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void resetsOnAnotherEpochAfterARestart(Transport t) {
    String user = freshUser(t);
    String token = TestNodes.token(user, null);
    String last;
    String oldEpoch;
    try (HalleyNode before = HalleyNode.start(TestNodes.config().build())) {
      TransportClient c = t.client(before.publicPort());
      NODE.closeAfterTest(c);
      c.connect(token, null);
      new InternalApi(before).publishToUsers(InternalApi.text("before"), user);
      last = c.awaitMessage().get("id").asText();
      oldEpoch = before.epoch();
      c.close();
    }
    assertNotEquals(oldEpoch, NODE.node().epoch());
    TransportClient c = NODE.client(t);
    c.connect(token, last);
    JsonNode reset = c.awaitEvent();
    assertEquals("reset", reset.get("type").asText(), reset.toString());
    assertEquals("epoch", reset.get("reason").asText());
    assertTrue(reset.get("id").asText().startsWith(NODE.node().epoch() + ":"));
    NODE.api().publishToUsers(InternalApi.text("after"), user);
    assertEquals("after", c.awaitMessage().get("data").asText());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void deliversChannelMessagesFromTokenAndApiSubscriptions(Transport t) {
    String user = freshUser(t);
    TransportClient c = NODE.client(t);
    c.connect(TestNodes.token(user, List.of("room:" + t)), null);
    assertEquals(200, NODE.api().subscribe(user, "news/" + t).status());
    JsonNode r1 = NODE.api().publishToChannel("room:" + t, InternalApi.text("to room"));
    assertEquals(1, r1.get("users").asInt(), r1.toString());
    JsonNode e1 = c.awaitMessage();
    assertEquals("to room", e1.get("data").asText());
    assertEquals("room:" + t, e1.get("channel").asText());
    NODE.api().publishToChannel("news/" + t, InternalApi.text("to news"));
    JsonNode e2 = c.awaitMessage();
    assertEquals("news/" + t, e2.get("channel").asText());
    assertEquals(seq(e1) + 1, seq(e2));
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void everyConnectionOfAUserReceivesEveryEvent(Transport t) {
    String user = freshUser(t);
    String token = TestNodes.token(user, null);
    TransportClient a = NODE.client(t);
    TransportClient b = NODE.client(t);
    a.connect(token, null);
    b.connect(token, null);
    NODE.api().publishToUsers(InternalApi.text("x"), user);
    NODE.api().publishToUsers(InternalApi.text("y"), user);
    for (TransportClient c : List.of(a, b)) {
      assertEquals("x", c.awaitMessage().get("data").asText());
      assertEquals("y", c.awaitMessage().get("data").asText());
    }
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void publishReportsDeliveredToLiveConnectionsAndBufferedOtherwise(Transport t) {
    String user = freshUser(t);
    TransportClient c = NODE.client(t);
    c.connect(TestNodes.token(user, null), null);
    if (t == Transport.POLL) {
      JsonNode r = NODE.api().publishToUsers(InternalApi.text("p"), user);
      assertEquals(List.of(user), InternalApi.texts(r.get("buffered")), r.toString());
      assertEquals(0, r.get("connections").asInt());
    } else {
      NODE.api().awaitConnections(user, 1);
      JsonNode r = NODE.api().publishToUsers(InternalApi.text("p"), user);
      assertEquals(List.of(user), InternalApi.texts(r.get("delivered")), r.toString());
      assertEquals(1, r.get("connections").asInt());
    }
    assertEquals("p", c.awaitMessage().get("data").asText());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void refusesBadTokensWith401(Transport t) throws Exception {
    String user = freshUser(t);
    int port = NODE.node().publicPort();
    Map<String, String> none = Map.of();
    RawHttp.Response missing = t.attempt(port, "", none);
    assertEquals(401, missing.status());
    assertEquals("token_missing", missing.error());
    RawHttp.Response malformed = t.attempt(port, "token=not.a.jwt", none);
    assertEquals(401, malformed.status());
    assertEquals("token_invalid", malformed.error());
    String forged =
        TestNodes.token(
            user,
            null,
            java.time.Instant.now().plusSeconds(60),
            "another-secret-0123456789abcdef-xyz");
    RawHttp.Response bad = t.attempt(port, "token=" + forged, none);
    assertEquals(401, bad.status());
    assertEquals("token_invalid", bad.error());
    String expired =
        TestNodes.token(user, null, java.time.Instant.now().minusSeconds(5), TestNodes.SECRET);
    RawHttp.Response old = t.attempt(port, "", Map.of("Authorization", "Bearer " + expired));
    assertEquals(401, old.status());
    assertEquals("token_expired", old.error());
    assertEquals("application/json", old.headers().get("content-type"));
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void refusesAUserOwnedByAnotherNodeWith421(Transport t) throws Exception {
    String remote = TestNodes.remoteUser("r" + t);
    RawHttp.Response r =
        t.attempt(NODE.node().publicPort(), "token=" + TestNodes.token(remote, null), Map.of());
    assertEquals(421, r.status());
    JsonNode body = InternalApi.json(r.body());
    assertEquals("not_owner", body.get("error").asText());
    assertEquals("b", body.get("owner").get("id").asText());
    assertEquals(TestNodes.OTHER_URL, body.get("owner").get("url").asText());
    assertEquals(3, body.get("mapVersion").asInt());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void refusesAMalformedLastEventIdWith400AndAForeignOriginWith403(Transport t) throws Exception {
    String token = TestNodes.token(freshUser(t), null);
    RawHttp.Response r =
        t.attempt(NODE.node().publicPort(), "token=" + token + "&lastEventId=nonsense", Map.of());
    assertEquals(400, r.status());
    assertEquals("bad_request", r.error());
    RawHttp.Response o =
        t.attempt(
            NODE.node().publicPort(), "token=" + token, Map.of("Origin", "https://evil.example"));
    assertEquals(403, o.status());
    assertEquals("origin_forbidden", o.error());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void concurrentPublishersGiveOneGaplessOrderWithoutDuplicates(Transport t) throws Exception {
    // A node whose buffer holds the whole burst, so the polling transports miss nothing either.
    try (HalleyNode roomy = HalleyNode.start(TestNodes.config().build())) {
      concurrentPublishers(t, roomy, new InternalApi(roomy));
    }
  }

  private void concurrentPublishers(Transport t, HalleyNode roomy, InternalApi roomyApi)
      throws Exception {
    String user = freshUser(t);
    TransportClient c = t.client(roomy.publicPort());
    NODE.closeAfterTest(c);
    c.connect(TestNodes.token(user, null), null);
    int threads = 4;
    int each = 25;
    List<Thread> publishers = new ArrayList<>();
    for (int p = 0; p < threads; p++) {
      int publisher = p;
      Thread th =
          new Thread(
              () -> {
                for (int i = 0; i < each; i++) {
                  roomyApi.publishToUsers(InternalApi.text(publisher + ":" + i), user);
                }
              });
      publishers.add(th);
      th.start();
    }
    for (Thread th : publishers) {
      th.join();
    }
    int[] next = new int[threads];
    long previous = -1;
    for (int k = 0; k < threads * each; k++) {
      JsonNode e = c.awaitMessage();
      if (previous >= 0) {
        assertEquals(previous + 1, seq(e), "gapless, in order: " + e);
      }
      previous = seq(e);
      String[] parts = e.get("data").asText().split(":");
      int publisher = Integer.parseInt(parts[0]);
      assertEquals(next[publisher]++, Integer.parseInt(parts[1]), "each publisher's order");
    }
    roomyApi.publishToUsers(InternalApi.text("end"), user);
    assertEquals("end", c.awaitMessage().get("data").asText()); // nothing extra in between
  }

  private static long seq(JsonNode event) {
    String id = event.get("id").asText();
    return Long.parseLong(id.substring(id.indexOf(':') + 1));
  }
}
