package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.Message;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * Bounded stress of contract change 5's race (issue 14): a publisher that left dual mode sends a
 * channel message plainly while a client resumes on the new owner with a handoff whose relays are
 * all held, its token granting that channel, which was never relayed for it. The node records the
 * publisher's header before it fans the message out ({@code PublisherHeaders}); the stream reads
 * the record after it has indexed the token's channels. Every round must end either in a {@code
 * reset} or with the message delivered to the client (live or in the replay), exactly once: never
 * covered with the message missing.
 */
class ChannelCheckRaceStressTest {
  private static final String OLD = "00112233445566aa";
  private static final EventCodec CODEC = new EventCodec("ffeeddccbbaa9988");
  private static final int ROUNDS = 3_000;

  @Test
  void aPlainChannelMessageOfAPublisherThatLeftDualModeIsNeverMissedByACoveredHandoff()
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(2);
    int covered = 0;
    int reset = 0;
    try {
      for (int round = 0; round < ROUNDS; round++) {
        ChannelIndex index = new ChannelIndex();
        UserStream stream =
            new UserStream(
                "alice",
                0,
                1_000,
                Long.MAX_VALUE,
                600_000,
                1_000,
                BufferDrops.NONE,
                BufferBudget.unlimited(),
                index);
        // The old owner's S = F = 5 was relayed: rules 1-4 say covered.
        stream.publish(
            new Message(bytes("k5"), 1_000, Long.MAX_VALUE),
            1_000,
            new EventCodec.EventId(OLD, 5),
            false,
            true,
            null);
        Handoff.Token token = new Handoff.Token(OLD, 5, 5);
        AtomicBoolean leftDual = new AtomicBoolean();
        HandoffRaceStressTest.Client client = new HandoffRaceStressTest.Client(stream);
        Handoff.Resume r =
            new Handoff.Resume(
                OLD, 5, token, false, 0, false, 0, Long.MAX_VALUE, () -> !leftDual.get());
        CyclicBarrier go = new CyclicBarrier(2);
        CountDownLatch done = new CountDownLatch(2);
        pool.execute(
            () -> {
              await(go);
              leftDual.set(true); // PublisherHeaders: the header is recorded first
              for (UserStream s : index.subscribers("room")) {
                s.publish(
                    new Message(bytes("m"), "room", 1_000, Long.MAX_VALUE),
                    1_000,
                    null,
                    false,
                    true,
                    null);
              }
              done.countDown();
            });
        pool.execute(
            () -> {
              await(go);
              stream.open(
                  CODEC,
                  new EventCodec.EventId(OLD, 5),
                  r,
                  null,
                  Set.of("room"),
                  Long.MAX_VALUE,
                  1_000,
                  new StreamingReplay<>(client, null, p -> CODEC.hello("n", 4, p, 25_000)));
              done.countDown();
            });
        assertTrue(done.await(20, TimeUnit.SECONDS), "round " + round);
        List<String> got = new ArrayList<>(client.got);
        if (r.decision.outcome() == Handoff.Outcome.COVERED) {
          covered++;
          assertEquals(List.of("m"), got, "round " + round + ": covered, so m once");
        } else {
          reset++;
          assertEquals(Handoff.Outcome.RESET_GAP, r.decision.outcome(), "round " + round);
          assertEquals("RESET", got.get(0), "round " + round + ": " + got);
        }
      }
    } finally {
      pool.shutdownNow();
    }
    System.out.println("change 5 race: " + covered + " covered, " + reset + " reset");
  }

  private static byte[] bytes(String text) {
    return ("\"" + text + "\"}").getBytes(StandardCharsets.UTF_8);
  }

  private static void await(CyclicBarrier b) {
    try {
      b.await(20, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
