package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.PublishResult.Status;
import dev.halley.testing.SseTestClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Dual mode against real nodes in-process: the pending map installed on every node through the
 * admin API, a Publisher with default settings that learns it from the replies, and publish order
 * on the moving user's old owner, read back by a real SSE client (the PublishOrderTest measure).
 */
class DualModeNodesTest {
  private static final int N = 3000;

  @Test
  void oneThreadToAMovingUserArrivesInPublishOrderOnItsOldOwnerInDualMode() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b", "c", "d")) {
      List<NodeInfo> infos = cluster.infos("a", "b", "c", "d");
      ClusterMap three = cluster.load(ClusterMap.of(3, infos.subList(0, 3)));
      ClusterMap four = ClusterMap.of(4, infos);
      for (String id : List.of("a", "b", "c", "d")) {
        cluster.admin(id, "POST", "/v1/admin/map/pending", four.toJson());
      }
      String user = TestCluster.userOn(four, "d", 0);
      String old = three.owner(user).id();
      try (Publisher p =
              Publisher.builder()
                  .mapSource(MapSource.of(() -> three))
                  .apiKey(API_KEY)
                  .publisherId("app-order")
                  // Order is asserted here, not speed: 3,000 messages queued at once on a busy
                  // machine (load 40) outlived the default 2 s per request and came back UNKNOWN.
                  .requestTimeout(Duration.ofSeconds(30))
                  .build();
          SseTestClient client = PublishOrderTest.connect(p, user, Set.of())) {
        List<CompletableFuture<PublishResult>> futures = new ArrayList<>();
        for (int i = 0; i < N; i++) {
          futures.add(p.publish(user, i));
        }
        for (CompletableFuture<PublishResult> f : futures) {
          PublishResult r = f.get(60, TimeUnit.SECONDS);
          assertEquals(Status.DELIVERED, r.outcome(user).status(), r.toString());
          assertEquals(old, r.outcome(user).node(), "the old owner's outcome: " + r);
        }
        List<Integer> got = PublishOrderTest.read(client, N);
        System.out.println(
            "dual mode, one moving user: received "
                + got.size()
                + ", inversions "
                + PublishOrderTest.inversions(got));
        assertEquals(0, PublishOrderTest.inversions(got), "inversions");
        assertEquals(N, got.size());
        assertEquals(List.of(3, 4), p.mapVersions());
        JsonNode state = cluster.admin(old, "GET", "/v1/admin/map/state", null);
        boolean listed = false;
        for (JsonNode pub : state.path("publishers")) {
          if (pub.path("id").asText().equals("app-order")) {
            listed = true;
            assertEquals("[3,4]", pub.path("versions").toString(), state.toString());
          }
        }
        assertTrue(listed, state.toString());
      }
    }
  }
}
