package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.testing.TransportClient;
import dev.halley.testing.TransportClient.Transport;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Conflation keys (issue #16) against a real node: a message with a {@code conflationKey} replaces
 * an earlier one with the same key that the connection (or the poll batch) has not written yet;
 * messages without a key are never dropped, and order is kept.
 */
class ConflationTest {
  @RegisterExtension static final OneNode NODE = new OneNode();

  private static ObjectNode message(String user, String data, String key) {
    ObjectNode m = InternalApi.JSON.createObjectNode();
    m.putArray("users").add(user);
    m.put("data", data);
    if (key != null) {
      m.put("conflationKey", key);
    }
    return m;
  }

  private static void publish(List<ObjectNode> messages) {
    ObjectNode root = InternalApi.JSON.createObjectNode();
    ArrayNode ms = root.putArray("messages");
    messages.forEach(ms::add);
    InternalApi.Reply r = NODE.api().publish(root.toString());
    assertEquals(200, r.status(), r.toString());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aResumeGetsOnlyTheLatestOfEachKeyAndEveryUnkeyedMessageInOrder(Transport t) {
    String user = TestNodes.userOwnedBy("a", "conf-" + t, 0);
    String token = TestNodes.token(user, null);
    TransportClient first = NODE.client(t);
    first.connect(token, null);
    NODE.api().publishToUsers(InternalApi.json("\"start\""), user);
    assertEquals("start", first.awaitMessage().get("data").asText());
    String from = first.lastEventId();
    first.close();
    double conflatedBefore = conflatedMetric(t);

    publish(
        List.of(
            message(user, "eur 1", "eur"),
            message(user, "A", null),
            message(user, "eur 2", "eur"),
            message(user, "usd 1", "usd"),
            message(user, "eur 3", "eur"),
            message(user, "B", null),
            message(user, "eur 4", "eur")));

    TransportClient again = NODE.client(t);
    again.connect(token, from);
    NODE.api().publishToUsers(InternalApi.json("\"end\""), user);
    List<String> got = new ArrayList<>();
    long lastSeq = -1;
    while (true) {
      JsonNode e = again.awaitMessage();
      long seq = Long.parseLong(e.get("id").asText().split(":")[1]);
      assertTrue(seq > lastSeq, "ids in order: " + e);
      lastSeq = seq;
      if (e.get("data").asText().equals("end")) {
        break;
      }
      got.add(e.get("data").asText());
    }
    assertEquals(List.of("A", "usd 1", "B", "eur 4"), got);
    assertEquals(
        3.0,
        conflatedMetric(t) - conflatedBefore,
        "eur 1, eur 2 and eur 3 counted in halley_messages_conflated_total");
  }

  /** {@code halley_messages_conflated_total} of this transport, from the node's /metrics. */
  private static double conflatedMetric(Transport t) {
    String tag =
        switch (t) {
          case WS -> "websocket";
          case SSE -> "sse";
          case LONGPOLL -> "longpoll";
          case POLL -> "poll";
        };
    return Scrape.sample(
        Scrape.get(NODE.node().internalPort(), "/metrics").body(),
        "halley_messages_conflated_total{transport=\"" + tag + "\"}");
  }

  @Test
  void aSlowWebSocketGetsTheLatestValueInsteadOfBeingCut() throws Exception {
    String user = TestNodes.userOwnedBy("a", "conf-slow", 0);
    String big = "x".repeat(60_000);
    double conflatedBefore = conflatedMetric(Transport.WS);
    try (RawWebSocket slow =
        RawWebSocket.connect(NODE.node().publicPort(), TestNodes.token(user, null))) {
      NODE.api().awaitConnections(user, 1);
      int updates = 0;
      for (int request = 0; request < 40; request++) {
        List<ObjectNode> batch = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
          updates++;
          batch.add(message(user, updates + " " + big, "price"));
        }
        batch.add(message(user, "marker " + request, null));
        publish(batch);
      }
      // 24 MB of updates to a client that reads nothing: without conflation its queue would go
      // over connectionQueueMaxBytes and the node would cut it (4008). Now end it and read all.
      InternalApi.Reply r = NODE.api().send("POST", "/v1/users/" + user + "/disconnect", null);
      assertEquals(200, r.status());
      RawWebSocket.Frames frames = slow.readUntilClose();
      assertEquals(4030, frames.closeCode(), "the connection was cut instead of conflated");
      List<String> markers = new ArrayList<>();
      int prices = 0;
      String lastPrice = null;
      for (String text : frames.texts()) {
        JsonNode e = InternalApi.json(text);
        if (!e.path("type").asText().equals("message")) {
          continue;
        }
        String data = e.get("data").asText();
        if (data.startsWith("marker")) {
          markers.add(data);
        } else {
          prices++;
          lastPrice = data.substring(0, data.indexOf(' '));
        }
      }
      List<String> expected = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        expected.add("marker " + i);
      }
      assertEquals(expected, markers, "every message without a key arrives, in order");
      assertEquals(Integer.toString(updates), lastPrice, "the latest value arrives");
      assertTrue(prices < updates, "nothing was conflated: " + prices + " of " + updates);
      assertEquals(
          updates - prices,
          conflatedMetric(Transport.WS) - conflatedBefore,
          "every update that did not arrive is counted as conflated");
    }
  }

  @Test
  void aBadConflationKeyIsRefused() {
    ObjectNode m = message(TestNodes.localUser("conf-bad"), "x", null);
    m.put("conflationKey", "");
    ObjectNode root = InternalApi.JSON.createObjectNode();
    root.putArray("messages").add(m);
    InternalApi.Reply r = NODE.api().publish(root.toString());
    assertEquals(400, r.status());
    assertEquals("invalid_field", r.error());
    m.put("conflationKey", 7);
    assertEquals("invalid_field", NODE.api().publish(root.toString()).error());
  }
}
