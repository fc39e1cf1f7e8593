package dev.halley.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.it.fleet.Await;
import dev.halley.it.fleet.Fleet;
import dev.halley.it.fleet.NodeContainer;
import dev.halley.it.fleet.Scenario;
import dev.halley.it.fleet.StreamClient;
import dev.halley.it.fleet.Traffic;
import dev.halley.router.Publisher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Scenario 4 of issue 13: a rolling restart of all three node containers with SIGTERM under
 * publishing. Each node drains (every client gets {@code reconnect} with its own delay in the drain
 * period, the node exits 143), starts again, and its clients come back spread over the drain
 * period; nothing is lost beyond the documented {@code reset} ({@code epoch}: buffers do not
 * survive a restart) and the publishes that failed while the node was down, which router-lib
 * reported.
 */
class RollingRestartIT {
  private static final long DRAIN_MS = 10_000;

  @Test
  void sigtermDrainSpreadsReconnectsOverTheDrainPeriodAndLosesNothingUnreported() {
    String yaml =
        Fleet.defaultNodeYaml()
            .replace("drainPeriodMs: " + Fleet.DRAIN_MS, "drainPeriodMs: " + DRAIN_MS);
    try (Fleet fleet = Fleet.start(yaml, Map.of(), "a", "b", "c");
        Publisher publisher = fleet.publisher()) {
      Map<String, List<StreamClient>> byNode = new LinkedHashMap<>();
      List<StreamClient> all = new ArrayList<>();
      for (String id : List.of("a", "b", "c")) {
        byNode.put(id, Scenario.clientsOn(fleet, id, "roll", 3));
        all.addAll(byNode.get(id));
      }
      Scenario.awaitConnected(all);
      try (Traffic traffic = new Traffic(publisher, Scenario.users(all), 100).start()) {
        traffic.awaitRounds(10);
        for (NodeContainer n : fleet.nodes()) {
          List<StreamClient> clients = byNode.get(n.nodeId);
          long t0 = System.nanoTime();
          long exit = n.sigterm();
          long downMs = (System.nanoTime() - t0) / 1_000_000;
          n.restart();
          long upMs = (System.nanoTime() - t0) / 1_000_000;
          assertEquals(143, exit, n.nodeId + " exit status after SIGTERM");
          Await.until(
              () ->
                  clients.stream()
                      .allMatch(c -> c.resetReasons().size() == 1 && lastConnect(c) > t0),
              () -> n.nodeId + "'s clients back: " + clients,
              Duration.ofMillis(DRAIN_MS + 60_000));
          List<Long> delays = new ArrayList<>();
          List<Long> arrivals = new ArrayList<>();
          List<StreamClient> told = new ArrayList<>();
          for (StreamClient c : clients) {
            // A long-poll client between two requests has no connection to tell: its next
            // request is refused (503 draining, then no listener) and it retries with backoff.
            if (c.transport == StreamClient.Transport.LONGPOLL) {
              assertTrue(c.reconnectDelays().size() <= 1, "at most one reconnect event: " + c);
            } else {
              assertEquals(1, c.reconnectDelays().size(), "one reconnect event: " + c);
            }
            if (c.reconnectDelays().isEmpty()) {
              continue;
            }
            long d = c.reconnectDelays().get(0);
            assertTrue(d >= 0 && d < DRAIN_MS, "delay within the drain period: " + d);
            told.add(c);
            delays.add(d);
            arrivals.add((lastConnect(c) - t0) / 1_000_000);
          }
          long planned = max(delays) - min(delays);
          long measured = max(arrivals) - min(arrivals);
          Scenario.record(
              "rolling-restart",
              n.nodeId
                  + ": "
                  + told.size()
                  + " of "
                  + clients.size()
                  + " clients told; stopped after "
                  + downMs
                  + " ms, ready again at "
                  + upMs
                  + " ms; reconnect delays "
                  + sorted(delays)
                  + " ms (spread "
                  + planned
                  + " ms), clients back at "
                  + sorted(arrivals)
                  + " ms (spread "
                  + measured
                  + " ms)");
          // Each of the node's clients has its own slot of the period (DrainPlan).
          assertTrue(
              planned >= DRAIN_MS / 2, "reconnect delays spread over the drain period: " + delays);
          for (int i = 0; i < told.size(); i++) {
            assertTrue(
                arrivals.get(i) >= delays.get(i),
                "a client waits its delay before reconnecting: " + told.get(i));
          }
          traffic.awaitRounds(5);
        }
        traffic.stop();
        Traffic.Tally t = Scenario.settle(traffic, all);
        Scenario.record("rolling-restart", "all " + t);
        assertTrue(t.accountedFor(), "every message received or reported: " + t);
        assertEquals(Map.of("epoch", all.size()), t.resetReasons, "one epoch reset each: " + t);
        assertEquals(0, t.duplicates + t.moved + t.acceptedOutOfOrder, t.toString());
        assertEquals(t.published, t.received + t.failed + t.resetCovered, t.toString());
      } finally {
        Scenario.closeAll(all);
      }
    }
  }

  private static long lastConnect(StreamClient c) {
    List<Long> l = c.connectedAtNanos();
    return l.isEmpty() ? Long.MIN_VALUE : l.get(l.size() - 1);
  }

  private static long max(List<Long> l) {
    return l.stream().mapToLong(Long::longValue).max().orElse(0);
  }

  private static long min(List<Long> l) {
    return l.stream().mapToLong(Long::longValue).min().orElse(0);
  }

  private static List<Long> sorted(List<Long> l) {
    return l.stream().sorted().toList();
  }
}
