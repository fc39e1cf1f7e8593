package dev.halley.node.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.TestNodes;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.UserStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A request that meets a key another request is still publishing answers {@code pending} for it and
 * everything after it, without storing anything, so a retry never overtakes its first attempt.
 */
class PublishPendingTest {
  private static FanOut.Item item(String id, String user, String data) {
    return new FanOut.Item(
        id, List.of(user), null, ("\"" + data + "\"").getBytes(StandardCharsets.UTF_8), null);
  }

  @Test
  void aKeyInFlightElsewhereStopsTheRequestThereAndStoresNothingAfterIt() {
    NodeContext node = new NodeContext(TestNodes.config().build());
    FanOut publisher = new FanOut(node);
    String user = TestNodes.userOwnedBy("a", "pending", 0);
    String other = TestNodes.userOwnedBy("a", "pending", 1);
    // The first attempt of k1 is running: it reserved the user and has not completed yet.
    int[] reserved =
        publisher.idempotency().reserveUsers("k1", List.of(user), new boolean[] {true});
    assertEquals(Idempotency.NEW, reserved[0]);

    ObjectNode reply = publisher.publish(List.of(item("k1", user, "m1"), item("k2", other, "m2")));

    JsonNode r1 = reply.get("results").get(0);
    JsonNode r2 = reply.get("results").get(1);
    assertEquals("pending", r1.get("status").asText(), reply.toString());
    assertEquals(List.of(user), texts(r1.get("pending")));
    assertEquals("pending", r2.get("status").asText(), reply.toString());
    assertEquals(List.of(other), texts(r2.get("pending")));
    assertNull(node.streams.get(other), "nothing stored for the message after the pending one");

    // The first attempt completes; a retry now gets its outcome and publishes the rest.
    publisher
        .idempotency()
        .completeUsers("k1", List.of(user), reserved, new int[] {Idempotency.BUFFERED});
    ObjectNode retry = publisher.publish(List.of(item("k1", user, "m1"), item("k2", other, "m2")));
    assertEquals("duplicate", retry.get("results").get(0).get("status").asText());
    assertEquals(List.of(user), texts(retry.get("results").get(0).get("buffered")));
    assertEquals(List.of(other), texts(retry.get("results").get(1).get("buffered")));
    UserStream s = node.streams.get(other);
    assertEquals(true, s.toString().contains("seq 1,"), "m2 stored once: " + s);
  }

  private static List<String> texts(JsonNode array) {
    List<String> out = new java.util.ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }
}
