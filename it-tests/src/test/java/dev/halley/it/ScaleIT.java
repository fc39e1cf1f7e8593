package dev.halley.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.it.fleet.Await;
import dev.halley.it.fleet.Fleet;
import dev.halley.it.fleet.NodeContainer;
import dev.halley.it.fleet.Scenario;
import dev.halley.it.fleet.StreamClient;
import dev.halley.it.fleet.Traffic;
import dev.halley.router.Publisher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Scenario 3 of issue 13: scale out 3 → 4 and back in 4 → 3 under publishing, following
 * docs/operations.md's runbook with the map written to each node's mounted file (as the kubelet
 * updates a ConfigMap) and to the publisher's watched map file. Users the hash moves follow {@code
 * moved} to the new owner and back, and (as the current design promises: buffers do not move with
 * users) resume there with a {@code reset} ({@code epoch}); publishers re-route; every message is
 * received or reported; users who did not move see no interruption at all.
 */
class ScaleIT {
  @Test
  void scaleOutAndInMovesOnlyTheHashedUsersAndEveryMessageIsReceivedOrReported() {
    try (Fleet fleet = Fleet.start("a", "b", "c");
        Publisher publisher = fleet.publisher()) {
      ClusterMap v1 = fleet.map();
      ClusterMap v2 = fleet.mapOf(2, "a", "b", "c", "d");
      ClusterMap v3 = fleet.mapOf(3, "a", "b", "c");
      List<StreamClient> movers = new ArrayList<>();
      List<StreamClient> stayers = new ArrayList<>();
      for (String node : List.of("a", "b", "c")) {
        for (StreamClient.Transport t : StreamClient.Transport.values()) {
          int moving = 0;
          int staying = 0;
          for (int i = 0; moving < 1 || staying < 1; i++) {
            String u = "scale-" + node + "-" + t.name().toLowerCase() + "-" + i;
            if (!v1.owner(u).id().equals(node)) {
              continue;
            }
            boolean moves = v2.owner(u).id().equals("d");
            if (moves && moving++ < 1) {
              movers.add(fleet.client(u, t));
            } else if (!moves && staying++ < 1) {
              stayers.add(fleet.client(u, t));
            }
          }
        }
      }
      List<StreamClient> all = new ArrayList<>(movers);
      all.addAll(stayers);
      Scenario.awaitConnected(all);
      try (Traffic traffic = new Traffic(publisher, Scenario.users(all), 100).start()) {
        traffic.awaitRounds(10);

        // Scale out, runbook order: 1. start d with map 2 and wait for /readyz;
        NodeContainer d = fleet.startNode("d", v2);
        // 2. map 2 to every existing node (their mounted file); 3. right after, the publishers'.
        for (String id : List.of("a", "b", "c")) {
          fleet.writeMap(fleet.node(id), v2);
        }
        fleet.writePublisherMap(v2);
        for (String id : List.of("a", "b", "c")) {
          Fleet.awaitMapVersion(fleet.node(id), 2);
        }
        Await.until(
            () -> publisher.map().version() == 2, "publisher on map 2", Duration.ofSeconds(30));
        Await.until(
            () -> movers.stream().allMatch(m -> m.moved() == 1 && m.resetReasons().size() == 1),
            () -> "movers on d: " + movers,
            Duration.ofSeconds(60));
        traffic.awaitRounds(10);

        // Scale in, runbook order: map 3 without d to the nodes that gain its users, and only once
        // they apply it, to d itself (else d's `moved` can reach a node still on map 2, which
        // sends the client back); then the publishers; then stop d. The mapFile watchers apply
        // asynchronously, so writing the files in that order is not enough: wait on each.
        for (String id : List.of("a", "b", "c")) {
          fleet.writeMap(fleet.node(id), v3);
        }
        for (String id : List.of("a", "b", "c")) {
          Fleet.awaitMapVersion(fleet.node(id), 3);
        }
        fleet.writeMap(d, v3);
        fleet.writePublisherMap(v3);
        Fleet.awaitMapVersion(d, 3);
        Await.until(
            () -> publisher.map().version() == 3, "publisher on map 3", Duration.ofSeconds(30));
        Await.until(
            () -> movers.stream().allMatch(m -> m.moved() == 2 && m.resetReasons().size() == 2),
            () -> "movers back: " + movers,
            Duration.ofSeconds(60));
        Await.until(
            () ->
                d.metric("halley_connections{transport=\"websocket\"}")
                        + d.metric("halley_connections{transport=\"sse\"}")
                        + d.metric("halley_connections{transport=\"longpoll\"}")
                    == 0,
            "d has no connections left",
            Duration.ofSeconds(30));
        traffic.awaitRounds(10);
        double misdirected = 0;
        for (NodeContainer n : fleet.nodes()) {
          misdirected += n.metric("halley_publish_misdirected_total");
        }
        long exit = d.sigterm();
        traffic.stop();

        Traffic.Tally s = Scenario.settle(traffic, stayers);
        Traffic.Tally m = Scenario.settle(traffic, movers);
        Scenario.record(
            "scale",
            "stayers "
                + s
                + " | movers "
                + m
                + " | misdirected publishes re-routed by router-lib: "
                + (long) misdirected
                + " | d exit "
                + exit);

        assertEquals(143, exit, "d stopped cleanly after its users left");
        assertEquals(s.published, s.received, "stayers received everything: " + s);
        assertEquals(
            0, s.failed + s.resets + s.moved + s.duplicates + s.acceptedOutOfOrder, s.toString());
        for (StreamClient st : stayers) {
          assertEquals(1, st.connectedAtNanos().size(), "no interruption for " + st);
        }
        assertEquals(2 * movers.size(), m.moved, "every mover moved out and back: " + m);
        assertEquals(Map.of("epoch", 2 * movers.size()), m.resetReasons, m.toString());
        assertTrue(m.accountedFor(), "every message to a mover received or reported: " + m);
        // A publish that reached an old owner before the publisher's own map changed is re-sent
        // after a reload when the map source already has the new map, else reported misdirected.
        long misdirectedFailures =
            m.statuses.entrySet().stream()
                .filter(e -> e.getKey().startsWith("FAILED/misdirected"))
                .mapToLong(Map.Entry::getValue)
                .sum();
        assertEquals(
            m.failed, misdirectedFailures, "the only failures are misdirected reports: " + m);
        // How many publishes met an old owner depends on which watcher applies a map first (the
        // nodes' or the publisher's), so the count is recorded, not asserted; router-lib's re-route
        // after misdirected is asserted deterministically in router-lib's PublisherTest and
        // PublishOrderTest.
        assertEquals(0, m.duplicates + m.acceptedOutOfOrder, m.toString());
        assertEquals(m.published, m.received + m.failed + m.resetCovered, m.toString());
      } finally {
        Scenario.closeAll(all);
      }
    }
  }
}
