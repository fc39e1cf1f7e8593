package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static dev.halley.router.TestCluster.userOn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.testing.SseTestClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** router-lib merges every real node's channel members, within a deadline, naming the silent. */
class ChannelPresenceTest {
  private static final TokenMinter MINTER = TokenMinter.hs256(TestCluster.SECRET);
  private static final Duration TTL = Duration.ofMinutes(5);

  private static Publisher publisher(ClusterMap map) {
    return Publisher.builder()
        .mapSource(MapSource.of(() -> map))
        .apiKey(API_KEY)
        .mapRefreshInterval(Duration.ZERO)
        .build();
  }

  @Test
  void membersOfEveryNodeAreMergedAndAHangingNodeIsNamedWithinTheDeadline() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b", "c");
        HangingServer hanging = new HangingServer()) {
      ClusterMap m = cluster.map();
      String onA = userOn(m, "a", 0);
      String onB = userOn(m, "b", 0);
      String onC = userOn(m, "c", 0);
      try (Publisher p = publisher(m);
          SseTestClient a =
              SseTestClient.open(cluster.publicUrl("a"), MINTER.mint(onA, TTL, Set.of("room:1")));
          SseTestClient a2 =
              SseTestClient.open(cluster.publicUrl("a"), MINTER.mint(onA, TTL, Set.of("room:1")));
          SseTestClient b = SseTestClient.open(cluster.publicUrl("b"), MINTER.mint(onB, TTL));
          SseTestClient c =
              SseTestClient.open(cluster.publicUrl("c"), MINTER.mint(onC, TTL, Set.of("room:1")))) {
        p.subscribe(onB, "room:1").get(20, TimeUnit.SECONDS);

        ChannelPresence all = p.channelPresence("room:1").get(20, TimeUnit.SECONDS);
        assertTrue(all.complete(), all.toString());
        assertEquals(3, all.users());
        assertEquals(4, all.connections());
        assertEquals(List.of("a", "b", "c"), all.answered().stream().sorted().toList());
        assertEquals(
            List.of(
                    new ChannelPresence.Member(onA, "a", 2),
                    new ChannelPresence.Member(onB, "b", 1),
                    new ChannelPresence.Member(onC, "c", 1))
                .stream()
                .sorted(java.util.Comparator.comparing(ChannelPresence.Member::user))
                .toList(),
            all.members());

        try (Publisher partial = publisher(TestCluster.rewrite(m, "c", hanging.url()))) {
          long start = System.nanoTime();
          ChannelPresence some =
              partial
                  .channelPresence("room:1", Duration.ofMillis(500), 1000)
                  .get(20, TimeUnit.SECONDS);
          long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
          assertFalse(some.complete());
          assertEquals(Map.of("c", "timeout"), some.missing());
          assertEquals(2, some.users());
          assertTrue(tookMs < 10_000, "took " + tookMs + " ms");
        }
      }
    }
  }

  @Test
  void badArgumentsFailFast() throws Exception {
    try (TestCluster cluster = new TestCluster("a");
        Publisher p = publisher(cluster.map())) {
      assertThrows(IllegalArgumentException.class, () -> p.channelPresence("bad name"));
      assertThrows(
          IllegalArgumentException.class, () -> p.channelPresence("room", Duration.ZERO, 10));
      assertThrows(
          IllegalArgumentException.class,
          () -> p.channelPresence("room", Duration.ofSeconds(1), 0));
      assertEquals(0, p.channelPresence("room:empty").get(20, TimeUnit.SECONDS).users());
    }
  }
}
