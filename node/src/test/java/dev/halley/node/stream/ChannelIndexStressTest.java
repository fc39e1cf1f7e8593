package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Bounded stress (issue 9 item 4): a join racing the last member's leave of a channel, many times
 * over, two threads released together. Every join must end up in the channel index.
 */
class ChannelIndexStressTest {
  private static final Clock CLOCK = Clock.fixed(Instant.ofEpochMilli(1_000), ZoneOffset.UTC);
  private static final int ROUNDS = 100_000;

  @Test
  void aJoinRacingTheLastMembersLeaveIsNeverLostFromTheIndex() throws Exception {
    CyclicBarrier start = new CyclicBarrier(2);
    UserStreams[] round = new UserStreams[1];
    Thread leaver =
        new Thread(
            () -> {
              try {
                for (int i = 0; i < ROUNDS; i++) {
                  start.await(10, TimeUnit.SECONDS);
                  round[0].unsubscribe("b", "room");
                  start.await(10, TimeUnit.SECONDS);
                }
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
            },
            "leaver");
    int lost = 0;
    for (int i = 0; i < ROUNDS; i++) {
      UserStreams streams = new UserStreams(10, 60_000, 100, CLOCK);
      streams.subscribe("b", "room");
      round[0] = streams;
      if (i == 0) {
        leaver.start();
      }
      start.await(10, TimeUnit.SECONDS);
      streams.subscribe("a", "room");
      start.await(10, TimeUnit.SECONDS);
      if (!streams.subscribers("room").contains(streams.get("a"))) {
        lost++;
      }
    }
    leaver.join();
    assertEquals(0, lost, "joins lost from the index in " + ROUNDS + " rounds");
  }
}
