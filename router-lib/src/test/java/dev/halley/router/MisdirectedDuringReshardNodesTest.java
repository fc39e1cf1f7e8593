package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.PublishResult.Status;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Issue 14 (ReshardIT's {@code FAILED misdirected} outcomes), with real nodes in process: a node
 * answers {@code misdirected} for a user the publisher's map still gives it, because the node has
 * activated a newer map the publisher does not have yet. On the old code router-lib failed the user
 * at once ({@code FAILED misdirected}) although the message's deadline left time for its map source
 * to catch up, or although it knew the pending map already (dual mode, learned from another node):
 * a retry to the right owner would have stored it.
 */
class MisdirectedDuringReshardNodesTest {
  @Test
  void aUserTheOldOwnerRefusesWaitsForTheNewerMapWithinItsDeadline() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "d")) {
      List<NodeInfo> infos = cluster.infos("a", "d");
      ClusterMap three = cluster.load(ClusterMap.of(3, infos.subList(0, 1)));
      ClusterMap four = ClusterMap.of(4, infos);
      // Both nodes activate map 4 before this publisher ever published (it never saw it pending).
      for (String id : List.of("d", "a")) {
        cluster.admin(id, "POST", "/v1/admin/map/pending", four.toJson());
      }
      for (String id : List.of("d", "a")) {
        cluster.admin(id, "POST", "/v1/admin/map/activate", "{\"version\": 4}");
      }
      String u = TestCluster.mover(three, four, "a", "d");
      // The operator's map file catches up a moment after the refresh a's answer asks for: the
      // publisher's first two loads (at start, after the misdirected answer) still read map 3.
      AtomicInteger loads = new AtomicInteger();
      MapSource lagging = MapSource.of(() -> loads.incrementAndGet() <= 2 ? three : four);
      try (Publisher p =
          Publisher.builder()
              .mapSource(lagging)
              .apiKey(API_KEY)
              .mapRefreshInterval(Duration.ZERO)
              .requestTimeout(Duration.ofSeconds(10))
              .build()) {
        PublishResult r = p.publish(u, "m").get(60, TimeUnit.SECONDS);
        assertEquals(Status.BUFFERED, r.outcome(u).status(), r.toString());
        assertEquals("d", r.outcome(u).node(), r.toString());
        assertEquals(4, p.map().version(), "the publisher learnt map 4 from its source");
      }
    }
  }

  @Test
  void aUserTheOldOwnerRefusesGoesToItsOwnerUnderThePendingMapTheOtherNodesHold() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b", "d")) {
      List<NodeInfo> infos = cluster.infos("a", "b", "d");
      ClusterMap three = cluster.load(ClusterMap.of(3, infos.subList(0, 2)));
      ClusterMap four = ClusterMap.of(4, infos);
      for (String id : List.of("d", "a", "b")) {
        cluster.admin(id, "POST", "/v1/admin/map/pending", four.toJson());
      }
      // d and a activated; b (next in the activation order) still holds map 4 pending.
      for (String id : List.of("d", "a")) {
        cluster.admin(id, "POST", "/v1/admin/map/activate", "{\"version\": 4}");
      }
      String u = TestCluster.mover(three, four, "a", "d");
      String onB = TestCluster.mover(three, four, "b", "b");
      // The map source never catches up within the test: only the nodes tell of map 4.
      try (Publisher p =
          Publisher.builder()
              .mapSource(MapSource.of(() -> three))
              .apiKey(API_KEY)
              .mapRefreshInterval(Duration.ZERO)
              .requestTimeout(Duration.ofSeconds(10))
              .build()) {
        // One message, sent before the publisher knew map 4: b's answer tells it (pending), a's
        // refuses u (activated).
        PublishResult r = p.publish(Message.toUsers(u, onB).data("m")).get(60, TimeUnit.SECONDS);
        assertEquals(Status.BUFFERED, r.outcome(onB).status(), r.toString());
        assertEquals(Status.BUFFERED, r.outcome(u).status(), r.toString());
        assertEquals("d", r.outcome(u).node(), r.toString());
      }
    }
  }
}
