package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * Issue 14, an owner call for a moving user in dual mode, with real nodes in process (a, and d that
 * map 4 adds): a subscription and a block made while the pending map is installed and before any
 * activation reach both owners, so that after the cut-over the new owner still has them.
 */
class DualModeOwnerCallsNodesTest {
  @Test
  void aSubscriptionAndABlockInDualModeHoldOnTheNewOwnerAfterTheCutOver() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "d")) {
      List<NodeInfo> infos = cluster.infos("a", "d");
      ClusterMap three = cluster.load(ClusterMap.of(3, infos.subList(0, 1)));
      ClusterMap four = ClusterMap.of(4, infos);
      for (String id : List.of("d", "a")) {
        cluster.admin(id, "POST", "/v1/admin/map/pending", four.toJson());
      }
      String u = TestCluster.userOn(four, "d", 0);
      Instant until = Instant.now().plusSeconds(600);
      try (Publisher p =
          Publisher.builder()
              .mapSource(MapSource.of(() -> three))
              .apiKey(API_KEY)
              .requestTimeout(Duration.ofSeconds(10))
              .build()) {
        p.publish("someone", "hello").get(60, TimeUnit.SECONDS); // a's answer names map 4
        Awaitility.await("the publisher is in dual mode")
            .atMost(Duration.ofSeconds(30))
            .until(() -> p.mapVersions().equals(List.of(3, 4)));
        assertEquals(Set.of("room"), p.subscribe(u, "room").get(60, TimeUnit.SECONDS));
        assertEquals("a", p.block(u, until, "spam").get(60, TimeUnit.SECONDS).node());
      }
      for (String id : List.of("d", "a")) {
        cluster.admin(id, "POST", "/v1/admin/map/activate", "{\"version\": 4}");
      }
      JsonNode channels = cluster.admin("d", "PUT", "/v1/users/" + u + "/channels/other", null);
      assertEquals(
          "[\"other\",\"room\"]",
          channels.path("channels").toString(),
          "d kept the subscription made in dual mode: " + channels);
      JsonNode access = cluster.admin("d", "GET", "/v1/users/" + u + "/access", null);
      assertTrue(access.hasNonNull("blockedUntil"), "d kept the block: " + access);
      assertEquals(until.toEpochMilli(), access.path("blockedUntil").asLong(), access.toString());
    }
  }

  /**
   * The same calls from a publisher that is not in dual mode yet (it never published since the
   * pending map was installed): the old owner's answer names the pending map, and the publisher
   * sends the call to the new owner too once it has fetched it. On the old code the call reached
   * the old owner only, and the new owner had neither after the cut-over.
   */
  @Test
  void aSubscriptionAndABlockBeforeThePublisherIsDualStillReachTheNewOwner() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "d")) {
      List<NodeInfo> infos = cluster.infos("a", "d");
      ClusterMap three = cluster.load(ClusterMap.of(3, infos.subList(0, 1)));
      ClusterMap four = ClusterMap.of(4, infos);
      for (String id : List.of("d", "a")) {
        cluster.admin(id, "POST", "/v1/admin/map/pending", four.toJson());
      }
      String u = TestCluster.userOn(four, "d", 0);
      Instant until = Instant.now().plusSeconds(600);
      try (Publisher p =
          Publisher.builder()
              .mapSource(MapSource.of(() -> three))
              .apiKey(API_KEY)
              .requestTimeout(Duration.ofSeconds(10))
              .build()) {
        assertEquals(List.of(3), p.mapVersions(), "not in dual mode yet");
        assertEquals(Set.of("room"), p.subscribe(u, "room").get(60, TimeUnit.SECONDS));
        assertEquals(List.of(3, 4), p.mapVersions(), "a's answer named the pending map");
        assertEquals("a", p.block(u, until, "spam").get(60, TimeUnit.SECONDS).node());
      }
      for (String id : List.of("d", "a")) {
        cluster.admin(id, "POST", "/v1/admin/map/activate", "{\"version\": 4}");
      }
      JsonNode channels = cluster.admin("d", "PUT", "/v1/users/" + u + "/channels/other", null);
      assertEquals(
          "[\"other\",\"room\"]",
          channels.path("channels").toString(),
          "d has the subscription: " + channels);
      JsonNode access = cluster.admin("d", "GET", "/v1/users/" + u + "/access", null);
      assertEquals(until.toEpochMilli(), access.path("blockedUntil").asLong(), access.toString());
    }
  }
}
