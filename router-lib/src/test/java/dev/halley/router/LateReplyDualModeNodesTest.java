package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Dual mode with real nodes in process: a reply without {@code pendingMapVersion} ends dual mode
 * only when it can say the pending map was withdrawn. A request the node processed before it held
 * the pending map may be answered after a later request's reply brought the publisher into dual
 * mode (several requests per node are in flight); on the old code that late reply made the
 * publisher leave dual mode at once (it took the pending map for withdrawn), and messages published
 * until it learned the map again went without their relays (late relays, ordered on the new owner
 * only from when they were registered).
 */
class LateReplyDualModeNodesTest {
  @Test
  void aLateReplyFromBeforeThePendingMapDoesNotEndDualModeButAWithdrawalDoes() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    try (TestCluster cluster = new TestCluster("a", "d");
        AnswerLosingProxy toA =
            new AnswerLosingProxy(
                cluster.internalUrl("a"),
                (path, body) -> path.equals("/v1/publish") && body.contains("\"slow\""),
                release)) {
      List<NodeInfo> infos = cluster.infos("a", "d");
      ClusterMap three = cluster.load(ClusterMap.of(3, infos.subList(0, 1)));
      ClusterMap four = ClusterMap.of(4, infos);
      String v = TestCluster.userOn(four, "a", 0); // a's under both maps
      String w = TestCluster.userOn(four, "a", 1);
      try (Publisher p =
          Publisher.builder()
              .mapSource(MapSource.of(() -> TestCluster.rewrite(three, "a", toA.url())))
              .apiKey(API_KEY)
              .mapRefreshInterval(Duration.ZERO)
              .requestTimeout(Duration.ofSeconds(30))
              .build()) {
        // a processes "slow" before it holds map 4; its answer is held back.
        CompletableFuture<PublishResult> slow =
            p.publish(Message.toUsers(v).data("slow").idempotencyKey("slow"));
        assertTrue(toA.awaitMatched(Duration.ofSeconds(30)), "a got 'slow'");
        for (String id : List.of("d", "a")) {
          cluster.admin(id, "POST", "/v1/admin/map/pending", four.toJson());
        }
        // A later request's reply tells of map 4: dual mode.
        p.publish(w, "next").get(30, TimeUnit.SECONDS);
        await("dual mode")
            .atMost(Duration.ofSeconds(30))
            .until(() -> p.mapVersions().equals(List.of(3, 4)));

        release.countDown();
        slow.get(60, TimeUnit.SECONDS); // completes once its reply was read
        assertEquals(
            List.of(3, 4), p.mapVersions(), "the late reply did not end dual mode: map 4 is held");
        p.publish(w, "after-slow").get(30, TimeUnit.SECONDS);
        assertEquals(List.of(3, 4), p.mapVersions());

        // Withdrawn for real: the next reply from a says so, and dual mode ends.
        for (String id : List.of("a", "d")) {
          cluster.admin(id, "DELETE", "/v1/admin/map/pending", null);
        }
        p.publish(w, "withdrawn").get(30, TimeUnit.SECONDS);
        await("dual mode ends")
            .atMost(Duration.ofSeconds(30))
            .until(() -> p.mapVersions().equals(List.of(3)));
      }
    }
  }
}
