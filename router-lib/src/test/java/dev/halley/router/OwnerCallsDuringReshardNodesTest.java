package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Issue 14, the owner calls (subscriptions, access) during a reshard, with real nodes in process: a
 * node answers {@code 421 not_owner} for a user the publisher's map still gives it, because the
 * node activated a newer map the publisher does not have yet. As for a publish's misdirected user
 * ({@link MisdirectedDuringReshardNodesTest}), the call waits for that map within its deadline and
 * goes to the user's owner under it. On the old code the call failed at once with the node's 421.
 */
class OwnerCallsDuringReshardNodesTest {
  /** a and d, both on map 4 (d added) activated before the publisher ever ran; map 3 is {a}. */
  private static ClusterMap[] reshardedBehindThePublishersBack(TestCluster cluster)
      throws Exception {
    List<NodeInfo> infos = cluster.infos("a", "d");
    ClusterMap three = cluster.load(ClusterMap.of(3, infos.subList(0, 1)));
    ClusterMap four = ClusterMap.of(4, infos);
    for (String id : List.of("d", "a")) {
      cluster.admin(id, "POST", "/v1/admin/map/pending", four.toJson());
    }
    for (String id : List.of("d", "a")) {
      cluster.admin(id, "POST", "/v1/admin/map/activate", "{\"version\": 4}");
    }
    return new ClusterMap[] {three, four};
  }

  /**
   * A map source that reads map 3 at the publisher's start and at the refresh a's 421 asks for, and
   * map 4 from then on (the operator's map file catches up a moment later).
   */
  private static Publisher lagging(ClusterMap three, ClusterMap four) {
    AtomicInteger loads = new AtomicInteger();
    return Publisher.builder()
        .mapSource(MapSource.of(() -> loads.incrementAndGet() <= 2 ? three : four))
        .apiKey(API_KEY)
        .mapRefreshInterval(Duration.ZERO)
        .requestTimeout(Duration.ofSeconds(10))
        .build();
  }

  @Test
  void aSubscriptionTheOldOwnerRefusesWaitsForTheNewerMapAndReachesTheNewOwner() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "d")) {
      ClusterMap[] maps = reshardedBehindThePublishersBack(cluster);
      String u = TestCluster.mover(maps[0], maps[1], "a", "d");
      try (Publisher p = lagging(maps[0], maps[1])) {
        Set<String> channels = p.subscribe(u, "room").get(60, TimeUnit.SECONDS);
        assertEquals(Set.of("room"), channels);
        assertEquals(4, p.map().version(), "the publisher learnt map 4 from its source");
        // Only d can have answered (a refuses u); its stream holds the subscription.
        assertEquals(
            "room",
            cluster
                .admin("d", "PUT", "/v1/users/" + u + "/channels/room", null)
                .path("channels")
                .path(0)
                .asText());
        assertEquals(Set.of(), p.unsubscribe(u, "room").get(60, TimeUnit.SECONDS));
      }
    }
  }

  @Test
  void aBlockTheOldOwnerRefusesWaitsForTheNewerMapAndHoldsOnTheNewOwner() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "d")) {
      ClusterMap[] maps = reshardedBehindThePublishersBack(cluster);
      String u = TestCluster.mover(maps[0], maps[1], "a", "d");
      Instant until = Instant.now().plusSeconds(600);
      try (Publisher p = lagging(maps[0], maps[1])) {
        UserAccess access = p.block(u, until, "spam").get(60, TimeUnit.SECONDS);
        assertEquals("d", access.node(), access.toString());
        assertEquals(until.toEpochMilli(), access.blockedUntil().toEpochMilli());
        assertEquals("d", p.access(u).get(60, TimeUnit.SECONDS).node());
      }
    }
  }
}
