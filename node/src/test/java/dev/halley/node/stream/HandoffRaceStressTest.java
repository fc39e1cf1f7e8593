package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.wire.Control;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.Message;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;

/**
 * Bounded stress of the concurrent part of the handoff resume (issue 14): relays of the old owner's
 * events [S, F] arrive on several publisher threads, in any order, interleaved with plain messages
 * (what the old owner never had), while a client resumes with the handoff and waits (its attempt is
 * retried at each relay, as {@code HandoffWait} does). Every round must end covered, and the client
 * must get every plain message and no relayed one it had (X = F: it had them all) exactly once,
 * through the replay or live, with no reset. Fails if a relay's wake-up can be lost (the waiter
 * registered after the relay checked for waiters) or if a relay between the decision and the
 * registration could be delivered twice.
 */
class HandoffRaceStressTest {
  private static final String OLD = "00112233445566aa";
  private static final EventCodec CODEC = new EventCodec("ffeeddccbbaa9988");
  private static final int ROUNDS = 400;
  private static final int RELAYED = 12;
  private static final int PLAIN = 6;

  /** A connection that records message texts. */
  static final class Client extends Connection {
    final List<String> got = Collections.synchronizedList(new ArrayList<>());

    Client(UserStream s) {
      super(s, Runnable::run, 10_000);
    }

    @Override
    public String transport() {
      return "test";
    }

    @Override
    protected void flush() {
      while (poll()) {
        if (polledItem instanceof Message m) {
          String t = new String(m.tail, StandardCharsets.UTF_8); // "text"}
          got.add(t.substring(1, t.length() - 2));
        } else if (((Control) polledItem).type.equals("reset")) {
          got.add("RESET");
        }
      }
    }

    @Override
    protected void closeTransport(int code, String reason) {}
  }

  private static Message msg(String text) {
    return new Message(
        ("\"" + text + "\"}").getBytes(StandardCharsets.UTF_8), 1_000, Long.MAX_VALUE);
  }

  @Test
  void relaysRacingAWaitingHandoffEndCoveredWithEveryMessageOnce() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(3);
    SplittableRandom random = new SplittableRandom(14);
    try {
      for (int round = 0; round < ROUNDS; round++) {
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
                new ChannelIndex());
        long s = 5;
        long f = s + RELAYED - 1;
        Handoff.Token token = new Handoff.Token(OLD, s, f);
        List<Long> order = new ArrayList<>();
        for (long q = s; q <= f; q++) {
          order.add(q);
        }
        Collections.shuffle(order, new java.util.Random(random.nextLong()));
        List<Long> a = order.subList(0, RELAYED / 2);
        List<Long> b = order.subList(RELAYED / 2, RELAYED);
        // A few relays before the client comes, the rest racing its wait.
        int early = random.nextInt(3);
        for (int i = 0; i < early; i++) {
          relay(stream, a.get(i));
        }
        CyclicBarrier go = new CyclicBarrier(3);
        CountDownLatch done = new CountDownLatch(2);
        int startA = early;
        pool.execute(
            () -> {
              await(go);
              for (int i = startA; i < a.size(); i++) {
                relay(stream, a.get(i));
                if (i % 2 == 0) {
                  plain(stream, "p-a" + i);
                }
              }
              done.countDown();
            });
        pool.execute(
            () -> {
              await(go);
              for (int i = 0; i < b.size(); i++) {
                relay(stream, b.get(i));
                if (i % 2 == 1) {
                  plain(stream, "p-b" + i);
                }
              }
              done.countDown();
            });
        Client client = new Client(stream);
        AtomicBoolean opened = new AtomicBoolean();
        AtomicInteger attempts = new AtomicInteger();
        Handoff.Decision[] decision = {null};
        Runnable[] attempt = {null};
        attempt[0] =
            () -> {
              attempts.incrementAndGet();
              Handoff.Resume r = new Handoff.Resume(OLD, f, token, false, 0);
              AtomicBoolean taken = new AtomicBoolean();
              int res =
                  stream.open(
                      CODEC,
                      new EventCodec.EventId(OLD, f),
                      r,
                      () -> {
                        if (taken.compareAndSet(false, true)) {
                          pool.execute(attempt[0]);
                        }
                      },
                      Set.of(),
                      Long.MAX_VALUE,
                      1_000,
                      new StreamingReplay<>(client, null, p -> CODEC.hello("n", 4, p, 25_000)));
              if (res == UserStream.OPENED) {
                decision[0] = r.decision;
                opened.set(true);
              }
            };
        pool.execute(
            () -> {
              await(go);
              attempt[0].run();
            });
        assertTrue(done.await(20, TimeUnit.SECONDS));
        try {
          Awaitility.await()
              .pollDelay(Duration.ZERO)
              .pollInterval(Duration.ofMillis(1))
              .atMost(Duration.ofSeconds(20))
              .untilTrue(opened);
        } catch (ConditionTimeoutException e) {
          throw new AssertionError(
              "round " + round + ": the wait was not woken (" + attempts + " attempts)", e);
        }
        assertEquals(Handoff.Outcome.COVERED, decision[0].outcome(), "round " + round);
        // Plain messages after the last relay still arrive live.
        plain(stream, "live");
        List<String> got = new ArrayList<>(client.got);
        List<String> want = new ArrayList<>();
        for (int i = 0; i < a.size(); i += 2) {
          if (i >= startA) {
            want.add("p-a" + i);
          }
        }
        for (int i = 1; i < b.size(); i += 2) {
          want.add("p-b" + i);
        }
        want.add("live");
        assertTrue(!got.contains("RESET"), "round " + round + ": " + got);
        assertEquals(new java.util.TreeSet<>(want), new java.util.TreeSet<>(got), "round " + round);
        assertEquals(want.size(), got.size(), "round " + round + ", no repeat: " + got);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private static void relay(UserStream s, long oldSeq) {
    s.publish(msg("r" + oldSeq), 1_000, new EventCodec.EventId(OLD, oldSeq), false, false, null);
  }

  private static void plain(UserStream s, String text) {
    s.publish(msg(text), 1_000);
  }

  private static void await(CyclicBarrier b) {
    try {
      b.await(20, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
