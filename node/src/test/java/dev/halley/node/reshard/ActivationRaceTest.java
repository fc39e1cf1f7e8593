package dev.halley.node.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.node.InternalApi;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 14, bounded stress: channel messages published to a moving user's old owner while it
 * activates. The activation used two write sections of the map lock, one clearing the pending map
 * and one switching the active map; a publish in between saw no pending map and the old active map,
 * so it appended the channel message to the moving user's stream without reporting a position. The
 * old owner then listed that seq as unreported in the {@code handoff}, the publisher had no
 * position to relay, and the new owner kept a plain copy the client already had (ReshardIT: the
 * client's first event after a covered handoff was a message it had received from the old owner).
 * Now both happen in one write section: every channel message the old owner appends after S has its
 * position reported, so a {@code handoff} lists no unreported seq (no latest-value channels here).
 */
class ActivationRaceTest {
  private static final int CYCLES = 60;
  private static final int PUBLISHERS = 8;

  private ReshardPair pair;

  @BeforeEach
  void start() {
    pair = new ReshardPair(ops -> ops.movedSpreadMs(0).handoffWaitMs(2_000), node -> node);
  }

  @AfterEach
  void stop() {
    pair.close();
  }

  /** Map {@code version}: a alone (odd) or a and c (even, c with the real ports of map 4). */
  private ClusterMap map(int version) {
    String c =
        String.format(
            ", {\"id\": \"c\", \"publicUrl\": \"http://127.0.0.1:%d\", \"internalUrl\":"
                + " \"http://127.0.0.1:%d\"}",
            pair.c.publicPort(), pair.c.internalPort());
    return ClusterMap.parse(
        String.format(
            "{\"version\": %d, \"nodes\": [{\"id\": \"a\", \"publicUrl\": \"http://127.0.0.1:%d\","
                + " \"internalUrl\": \"http://127.0.0.1:%d\"}%s]}",
            version, pair.a.publicPort(), pair.a.internalPort(), version % 2 == 0 ? c : ""));
  }

  @Test
  void everyChannelMessageAnOldOwnerAppendsWhileActivatingHasItsPositionReported()
      throws Exception {
    String u = pair.movers("race", 1).get(0); // map 4 (and every even one) moves it to c
    FollowingClient f =
        pair.follow(FollowingClient.Transport.WS, u, List.of(ReshardPair.ROOM), true);
    List<String> handoffs = new ArrayList<>();
    for (int cycle = 1; cycle <= CYCLES; cycle++) {
      int version = 3 + cycle;
      ClusterMap next = map(version);
      boolean toC = version % 2 == 0;
      InternalApi gainer = toC ? pair.apiC : pair.apiA;
      InternalApi loser = toC ? pair.apiA : pair.apiC;
      assertEquals(200, gainer.send("POST", "/v1/admin/map/pending", next.toJson()).status());
      assertEquals(200, loser.send("POST", "/v1/admin/map/pending", next.toJson()).status());
      assertEquals(
          200,
          gainer.send("POST", "/v1/admin/map/activate", "{\"version\": " + version + "}").status());
      AtomicBoolean publishing = new AtomicBoolean(true);
      List<Thread> threads = new ArrayList<>();
      for (int p = 0; p < PUBLISHERS; p++) {
        Thread t =
            new Thread(
                () -> {
                  while (publishing.get()) {
                    ObjectNode m = InternalApi.JSON.createObjectNode();
                    m.put("channel", ReshardPair.ROOM);
                    m.put("data", "x");
                    ReshardPair.post(loser, m);
                  }
                },
                "race-publisher-" + p);
        t.start();
        threads.add(t);
      }
      try {
        assertEquals(
            200,
            loser
                .send("POST", "/v1/admin/map/activate", "{\"version\": " + version + "}")
                .status());
      } finally {
        publishing.set(false);
        for (Thread t : threads) {
          t.join(20_000);
        }
      }
      int moves = cycle;
      Awaitility.await("the client followed move " + cycle + ": " + f.raw)
          .atMost(Duration.ofSeconds(20))
          .until(() -> f.moves.size() >= moves || !f.errors.isEmpty());
      assertEquals(List.of(), f.errors);
      handoffs.add(f.moves.get(cycle - 1).path("handoff").asText());
    }
    List<String> withUnreported =
        handoffs.stream().filter(h -> h.split(":", -1).length > 3).toList();
    assertEquals(
        List.of(),
        withUnreported,
        "handoffs listing seqs appended without a reported position, of " + handoffs.size());
  }
}
