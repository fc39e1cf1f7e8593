package dev.halley.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.it.fleet.Fleet;
import dev.halley.it.fleet.NodeContainer;
import dev.halley.it.fleet.Scenario;
import dev.halley.it.fleet.StreamClient;
import dev.halley.it.fleet.Traffic;
import dev.halley.router.Publisher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Scenario 1 of issue 13: one of three node containers is killed (SIGKILL) under continuous
 * publishing, then started again. The other nodes' users lose nothing and their latency stays far
 * below router-lib's request timeout (no head-of-line blocking behind the dead node); the dead
 * node's recipients fail fast (connection refused, well under the request timeout); after the
 * restart its users get exactly one {@code reset} with reason {@code epoch}, never a silent loss;
 * every publish to the dead node has its outcome within router-lib's deadline.
 */
class CrashIT {
  private static final int ATTEMPTS = 3;
  private static final Duration BACKOFF_BASE = Duration.ofMillis(100);
  private static final Duration BACKOFF_MAX = Duration.ofSeconds(2);

  /**
   * A loaded machine's lateness in completing a future after its deadline (timer and callback
   * threads scheduled late).
   */
  private static final long SLACK_NANOS = Duration.ofMillis(1_500).toNanos();

  /** The backoff ceilings before attempts 2..ATTEMPTS (full jitter: at most these). */
  private static long backoffCeilings() {
    long total = 0;
    for (int attempt = 2; attempt <= ATTEMPTS; attempt++) {
      total += Math.min(BACKOFF_MAX.toNanos(), BACKOFF_BASE.toNanos() << (attempt - 2));
    }
    return total;
  }

  @Test
  void killingANodeLosesNothingElsewhereAndItsUsersGetAnEpochResetAfterItRestarts() {
    try (Fleet fleet = Fleet.start("a", "b", "c");
        Publisher publisher =
            fleet.publisher(b -> b.maxAttempts(ATTEMPTS).retryBackoff(BACKOFF_BASE, BACKOFF_MAX))) {
      List<StreamClient> healthy = new ArrayList<>(Scenario.clientsOn(fleet, "a", "crash", 2));
      healthy.addAll(Scenario.clientsOn(fleet, "b", "crash", 2));
      List<StreamClient> victims = Scenario.clientsOn(fleet, "c", "crash", 2);
      List<StreamClient> all = new ArrayList<>(healthy);
      all.addAll(victims);
      Scenario.awaitConnected(all);
      NodeContainer c = fleet.node("c");
      try (Traffic traffic = new Traffic(publisher, Scenario.users(all), 100).start()) {
        traffic.awaitRounds(15);
        long killedAt = System.nanoTime();
        c.kill();
        traffic.awaitRounds(20);
        long restartAt = System.nanoTime();
        c.restart();
        Scenario.awaitConnected(victims);
        dev.halley.it.fleet.Await.until(
            () -> victims.stream().allMatch(v -> !v.resetReasons().isEmpty()),
            () -> "every victim got its reset: " + victims,
            java.time.Duration.ofSeconds(60));
        traffic.awaitRounds(15);
        traffic.stop();

        Traffic.Tally h = Scenario.settle(traffic, healthy);
        Traffic.Tally v = Scenario.settle(traffic, victims);
        long p99Before = p99(healthy, 0, killedAt);
        long p99During = p99(healthy, killedAt, restartAt);
        List<Long> failFast = new ArrayList<>(); // never sent: the dead node refused the connect
        List<Long> notAccepted = new ArrayList<>(); // any outcome but DELIVERED/BUFFERED
        for (StreamClient vc : victims) {
          for (Traffic.Sent s : traffic.sent(vc.user)) {
            if (!s.accepted()) {
              notAccepted.add(s.tookNanos());
              if ("FAILED".equals(s.status()) && "unreachable".equals(s.reason())) {
                failFast.add(s.tookNanos());
              }
            }
          }
        }
        for (StreamClient.Transport t : StreamClient.Transport.values()) {
          List<StreamClient> ht = healthy.stream().filter(x -> x.transport == t).toList();
          Scenario.record(
              "crash",
              t
                  + " healthy p50/p99 before "
                  + Scenario.ms(pct(ht, 50, 0, killedAt))
                  + "/"
                  + Scenario.ms(pct(ht, 99, 0, killedAt))
                  + " ms, during "
                  + Scenario.ms(pct(ht, 50, killedAt, restartAt))
                  + "/"
                  + Scenario.ms(pct(ht, 99, killedAt, restartAt))
                  + " ms");
        }
        Scenario.record(
            "crash",
            "healthy "
                + h
                + " | victims "
                + v
                + " | healthy p99 before "
                + Scenario.ms(p99Before)
                + " ms, while c was down "
                + Scenario.ms(p99During)
                + " ms | publishes to c not accepted: "
                + notAccepted.size()
                + ", slowest "
                + Scenario.ms(Traffic.percentile(notAccepted, 100))
                + " ms; of them unreachable: "
                + failFast.size()
                + ", slowest "
                + Scenario.ms(Traffic.percentile(failFast, 100))
                + " ms");

        assertEquals(h.published, h.received, "healthy users received everything: " + h);
        assertEquals(0, h.failed + h.resets + h.duplicates + h.acceptedOutOfOrder, h.toString());
        assertTrue(
            p99During < Fleet.REQUEST_TIMEOUT.toNanos() / 2,
            "healthy p99 while c was down stays far below the request timeout: "
                + Scenario.ms(p99During));

        assertTrue(v.accountedFor(), "every victim message received or reported: " + v);
        assertEquals(victims.size(), v.resets, "one reset per victim: " + v);
        assertEquals(java.util.Map.of("epoch", victims.size()), v.resetReasons, v.toString());
        assertEquals(0, v.duplicates + v.acceptedOutOfOrder, v.toString());
        assertTrue(v.failed > 0, "publishes while c was down were reported failed: " + v);
        assertEquals(
            v.published,
            v.received + v.failed + v.resetCovered + v.failedButReceived - v.failedButReceived,
            v.toString());
        // What a publish to the dead node waits on depends on its outcome. One never sent (FAILED
        // unreachable: c refused the connect) fails within its few connect attempts and the
        // backoff between them (plus, at most, the wait for the recipient's earlier request to
        // settle): that is the "fail fast", far under the request timeout; it is a behaviour, not
        // a deadline, so it is checked on the 99th percentile. One that was sent and not answered
        // (UNKNOWN: timeout or connection lost; also a publish to c just after its restart, which
        // a loaded machine answers late) may take router-lib's whole deadline, ATTEMPTS x
        // requestTimeout plus the backoff ceilings (docs/router-lib.md, "Time to an outcome"):
        // that was the "slowest failed publish 15.3 s" at load 44, held against the fail-fast
        // bound by mistake. The deadline is a contract, checked on every publish.
        assertTrue(!failFast.isEmpty(), "some publishes to c were refused while it was down");
        assertTrue(
            Traffic.percentile(failFast, 99) < Fleet.REQUEST_TIMEOUT.toNanos() / 2,
            "the dead node's recipients fail fast (refused), not after the request timeout: p99 "
                + Scenario.ms(Traffic.percentile(failFast, 99))
                + " ms");
        long budget = ATTEMPTS * Fleet.REQUEST_TIMEOUT.toNanos() + backoffCeilings();
        assertTrue(
            Traffic.percentile(notAccepted, 100) <= budget + SLACK_NANOS,
            "every publish to c has its outcome within router-lib's deadline of "
                + Scenario.ms(budget)
                + " ms: "
                + Scenario.ms(Traffic.percentile(notAccepted, 100))
                + " ms");
      } finally {
        Scenario.closeAll(all);
      }
    }
  }

  private static long pct(List<StreamClient> clients, double p, long from, long to) {
    List<Long> l = new ArrayList<>();
    clients.forEach(c -> l.addAll(c.latenciesNanos(from, to)));
    return Traffic.percentile(l, p);
  }

  private static long p99(List<StreamClient> clients, long from, long to) {
    List<Long> l = new ArrayList<>();
    clients.forEach(c -> l.addAll(c.latenciesNanos(from, to)));
    return Traffic.percentile(l, 99);
  }
}
