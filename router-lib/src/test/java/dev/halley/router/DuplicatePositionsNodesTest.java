package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.PublishResult.Status;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Issue 14 with real nodes (a, the old owner; d, gained by map 4): in dual mode the old owner's
 * answer to a moving user's message is lost after the node stored it, router-lib retries with the
 * same key, the node answers {@code duplicate} restating the first outcome's position, and
 * router-lib relays that position to the new owner. On the old node code the duplicate carried no
 * position: router-lib then sent the new owner nothing for that message, and the user's handoff
 * waited for it and ended in {@code reset}.
 */
class DuplicatePositionsNodesTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void aRetryAfterALostAnswerRelaysThePositionTheDuplicateRestates() throws Exception {
    String key = "lost-once";
    try (TestCluster cluster = new TestCluster("a", "d");
        AnswerLosingProxy toA =
            new AnswerLosingProxy(
                cluster.internalUrl("a"),
                (path, body) -> path.equals("/v1/publish") && body.contains("\"" + key + "\""));
        AnswerLosingProxy toD = new AnswerLosingProxy(cluster.internalUrl("d"), (p, b) -> false)) {
      NodeInfo a = new NodeInfo("a", cluster.publicUrl("a"), toA.url(), 1);
      NodeInfo d = new NodeInfo("d", cluster.publicUrl("d"), toD.url(), 1);
      ClusterMap three = cluster.load(ClusterMap.of(3, List.of(a)));
      ClusterMap four = ClusterMap.of(4, List.of(a, d));
      for (String id : List.of("a", "d")) {
        cluster.admin(id, "POST", "/v1/admin/map/pending", four.toJson());
      }
      String user = TestCluster.userOn(four, "d", 0);
      try (Publisher p =
          Publisher.builder()
              .mapSource(MapSource.of(() -> three))
              .apiKey(API_KEY)
              .requestTimeout(Duration.ofSeconds(1))
              .maxAttempts(5)
              .retryBackoff(Duration.ofMillis(10), Duration.ofMillis(50))
              .build()) {
        // Dual mode first: the publisher learns map 4 from a's replies.
        await()
            .atMost(Duration.ofSeconds(30))
            .until(
                () -> {
                  p.publish(user, "warm-up").get(30, TimeUnit.SECONDS);
                  return p.mapVersions().equals(List.of(3, 4));
                });
        PublishResult r =
            p.publish(Message.toUsers(user).data("x").idempotencyKey(key))
                .get(60, TimeUnit.SECONDS);
        assertEquals("a", r.outcome(user).node(), r.toString());
        assertTrue(
            r.outcome(user).status() == Status.BUFFERED
                || r.outcome(user).status() == Status.DELIVERED,
            r.toString());

        List<AnswerLosingProxy.Exchange> lost = toA.lost();
        assertEquals(1, lost.size(), "one answer lost: " + toA.exchanges);
        String position = firstResult(lost.get(0).answer()).path("positions").path(user).asText();
        assertTrue(!position.isEmpty(), "a gave the message a position: " + lost.get(0));
        JsonNode repeat =
            toA.exchanges.stream()
                .filter(e -> !e.lost() && e.request().contains("\"" + key + "\""))
                .map(e -> firstResult(e.answer()))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no retry: " + toA.exchanges));
        assertEquals("duplicate", repeat.path("status").asText(), repeat.toString());
        assertEquals(position, repeat.path("positions").path(user).asText(), repeat.toString());

        // The second send to d relays exactly that position.
        await("d gets the relay of " + key)
            .atMost(Duration.ofSeconds(30))
            .until(() -> relayed(toD, key, user) != null);
        assertEquals(position, relayed(toD, key, user), toD.exchanges.toString());
      }
    }
  }

  private static JsonNode firstResult(String answer) {
    try {
      return JSON.readTree(answer).path("results").path(0);
    } catch (java.io.IOException e) {
      throw new AssertionError("not JSON: " + answer, e);
    }
  }

  /** The relay of {@code user} that d received with message {@code key}, or null. */
  private static String relayed(AnswerLosingProxy toD, String key, String user) throws Exception {
    for (AnswerLosingProxy.Exchange e : toD.exchanges) {
      if (!e.path().equals("/v1/publish")) {
        continue;
      }
      for (JsonNode m : JSON.readTree(e.request()).path("messages")) {
        if (m.path("id").asText().equals(key) && m.path("relay").has(user)) {
          return m.path("relay").path(user).asText(null);
        }
      }
    }
    return null;
  }
}
