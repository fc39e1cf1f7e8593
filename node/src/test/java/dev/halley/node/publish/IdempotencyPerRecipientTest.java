package dev.halley.node.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import dev.halley.testing.TransportClient;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

/** The node remembers publish outcomes per (idempotency key, recipient), over real sockets. */
class IdempotencyPerRecipientTest {

  private static String publishBody(String key, String... users) {
    StringBuilder b = new StringBuilder("{\"messages\": [{\"id\": \"" + key + "\", \"users\": [");
    for (int i = 0; i < users.length; i++) {
      b.append(i > 0 ? ", " : "").append('"').append(users[i]).append('"');
    }
    return b.append("], \"data\": \"").append(key).append("\"}]}").toString();
  }

  @Test
  void aKeyRepeatedWithANewRecipientDeliversToThatRecipientAndNotAgainToTheFirst() {
    try (HalleyNode node = HalleyNode.start(TestNodes.config().build());
        TransportClient first = TransportClient.Transport.SSE.client(node.publicPort());
        TransportClient second = TransportClient.Transport.WS.client(node.publicPort())) {
      InternalApi api = new InternalApi(node);
      String u1 = TestNodes.userOwnedBy("a", "per-recipient", 0);
      String u2 = TestNodes.userOwnedBy("a", "per-recipient", 1);
      first.connect(TestNodes.token(u1, null), null);
      second.connect(TestNodes.token(u2, null), null);

      JsonNode r1 = api.publish(publishBody("X", u1)).body().get("results").get(0);
      JsonNode r2 = api.publish(publishBody("X", u1, u2)).body().get("results").get(0);

      assertEquals(List.of(u1), InternalApi.texts(r1.get("delivered")));
      assertEquals(List.of(u1, u2), InternalApi.texts(r2.get("delivered")), r2.toString());
      assertEquals(2, r2.get("connections").asInt(), r2.toString());
      assertEquals("X", second.awaitMessage().get("data").asText(), "u2 gets the message");
      api.publishToUsers(InternalApi.json("\"marker\""), u1);
      assertEquals("X", first.awaitMessage().get("data").asText());
      assertEquals("marker", first.awaitMessage().get("data").asText(), "no second copy for u1");
    }
  }

  @Test
  void aMisdirectedFirstOutcomeDoesNotPoisonTheKeyAfterTheUserMovesHere() {
    try (HalleyNode node = HalleyNode.start(TestNodes.config().build());
        TransportClient client = TransportClient.Transport.SSE.client(node.publicPort())) {
      InternalApi api = new InternalApi(node);
      String user = TestNodes.userOwnedBy("b", "moving", 0);

      JsonNode before = api.publish(publishBody("K", user)).body().get("results").get(0);
      assertEquals(List.of(user), InternalApi.texts(before.get("misdirected")));
      // The map moves every user to a (b leaves the cluster).
      node.updateMap(
          ClusterMap.parse(
              "{\"version\": 4, \"nodes\": [{\"id\": \"a\", \"publicUrl\": \"http://127.0.0.1:1\","
                  + " \"internalUrl\": \"http://127.0.0.1:2\"}]}"));
      client.connect(TestNodes.token(user, null), null);
      JsonNode after = api.publish(publishBody("K", user)).body().get("results").get(0);

      assertEquals(List.of(user), InternalApi.texts(after.get("delivered")), after.toString());
      assertEquals("K", client.awaitMessage().get("data").asText());
    }
  }

  @Test
  void aLiveOnlyMessageToAnOfflineUserIsStatedAsDropped() {
    try (HalleyNode node = HalleyNode.start(TestNodes.config().build())) {
      InternalApi api = new InternalApi(node);
      String away = TestNodes.userOwnedBy("a", "dropped", 0);
      JsonNode r =
          api.publish(
                  "{\"messages\": [{\"id\": \"d\", \"users\": [\""
                      + away
                      + "\"], \"data\": 1, \"ttlMs\": 0}]}")
              .body()
              .get("results")
              .get(0);
      assertEquals(List.of(away), InternalApi.texts(r.get("dropped")), r.toString());
    }
  }

  @Test
  void concurrentRequestsWithOneKeyDeliverOnceAndNoneInventsAnOutcome() throws Exception {
    try (HalleyNode node = HalleyNode.start(TestNodes.config().ioThreads(4).build());
        TransportClient client = TransportClient.Transport.WS.client(node.publicPort())) {
      InternalApi api = new InternalApi(node);
      String user = TestNodes.userOwnedBy("a", "race", 0);
      client.connect(TestNodes.token(user, null), null);
      ExecutorService pool = Executors.newFixedThreadPool(8);
      try {
        for (int round = 0; round < 20; round++) {
          String key = "race-" + round;
          List<CompletableFuture<JsonNode>> replies = new ArrayList<>();
          for (int i = 0; i < 8; i++) {
            replies.add(
                CompletableFuture.supplyAsync(
                    () -> api.publish(publishBody(key, user)).body().get("results").get(0), pool));
          }
          int accepted = 0;
          for (CompletableFuture<JsonNode> f : replies) {
            JsonNode r = f.get();
            String status = r.get("status").asText();
            if (status.equals("accepted")) {
              accepted++;
            }
            // Every reply states the user's outcome: delivered, or pending while the first runs.
            List<String> stated = new ArrayList<>(InternalApi.texts(r.get("delivered")));
            stated.addAll(InternalApi.texts(r.get("pending")));
            assertEquals(List.of(user), stated, r.toString());
          }
          assertEquals(1, accepted, "one request publishes key " + key);
          assertEquals(key, client.awaitMessage().get("data").asText());
        }
        api.publishToUsers(InternalApi.json("\"marker\""), user);
        assertEquals("marker", client.awaitMessage().get("data").asText(), "no duplicates");
      } finally {
        pool.shutdownNow();
      }
    }
  }

  @Test
  void theWindowIsBoundedInBytesAndItsSizeIsInMetrics() {
    long maxBytes = 4096;
    try (HalleyNode node =
        HalleyNode.start(TestNodes.config().idempotencyMaxBytes(maxBytes).build())) {
      InternalApi api = new InternalApi(node);
      String user = TestNodes.userOwnedBy("a", "bounded", 0);
      for (int i = 0; i < 200; i++) {
        api.publish(publishBody("key-" + i, user));
      }
      String metrics = Scrape.get(node.internalPort(), "/metrics").body();
      double bytes = Scrape.sample(metrics, "halley_idempotency_bytes");
      double keys = Scrape.sample(metrics, "halley_idempotency_keys");
      assertTrue(bytes > 0 && bytes <= maxBytes, "bytes " + bytes);
      assertTrue(keys > 0 && keys < 200, "keys " + keys);
      long perKey = Idempotency.KEY_BYTES + Idempotency.USER_BYTES + "key-100".length();
      assertTrue(keys >= maxBytes / perKey - 1, "keys " + keys + " fill the bound");
      // The oldest key was forgotten: publishing it again delivers (buffers) it again.
      JsonNode again = api.publish(publishBody("key-0", user)).body().get("results").get(0);
      assertEquals("accepted", again.get("status").asText(), again.toString());
      JsonNode recent = api.publish(publishBody("key-199", user)).body().get("results").get(0);
      assertEquals("duplicate", recent.get("status").asText(), recent.toString());
    }
  }
}
