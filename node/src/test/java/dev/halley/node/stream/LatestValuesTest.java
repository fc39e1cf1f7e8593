package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.wire.Message;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class LatestValuesTest {
  private static Message message(String data) {
    return new Message((data + "}").getBytes(StandardCharsets.UTF_8), 0, Long.MAX_VALUE);
  }

  @Test
  void patternsMatchNamesAndPrefixes() {
    LatestValues v = new LatestValues(List.of("score", "prices:*"), 10);
    assertTrue(v.applies("score"));
    assertTrue(v.applies("prices:eur"));
    assertFalse(v.applies("scores"));
    assertFalse(v.applies("room:1"));
    assertFalse(new LatestValues(List.of(), 10).enabled());
    assertTrue(new LatestValues(List.of("*"), 10).applies("anything"));
  }

  @Test
  void aHandOffWaitsForThePublishUnderWayOnItsChannel() throws Exception {
    LatestValues v = new LatestValues(List.of("c"), 10);
    UserStream stream = new UserStream("alice", 0, 100, 60_000, 0);
    v.publish("c", message("1"), () -> null);
    CountDownLatch fanningOut = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    Message second = message("2");
    CompletableFuture<Object> publish =
        CompletableFuture.supplyAsync(
            () ->
                v.publish(
                    "c",
                    second,
                    () -> {
                      fanningOut.countDown();
                      try {
                        release.await();
                      } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                      }
                      return null;
                    }));
    assertTrue(fanningOut.await(10, TimeUnit.SECONDS));
    CompletableFuture<Long> handOff =
        CompletableFuture.supplyAsync(() -> v.deliver(stream, List.of("c"), 1));
    // While the publish holds the channel, the hand-off cannot read the value or append it.
    assertThrowsTimeout(handOff);
    assertEquals(0, stream.seq());
    release.countDown();
    publish.get(10, TimeUnit.SECONDS);
    assertEquals(1, handOff.get(10, TimeUnit.SECONDS));
    assertEquals(1, stream.seq()); // exactly one copy, of the newest value
  }

  @Test
  void liveOnlyMessagesAreNotKeptAndTheOldestChannelGoesFirst() {
    LatestValues v = new LatestValues(List.of("*"), 2);
    v.publish("a", message("1"), () -> null);
    v.publish("b", message("2"), () -> null);
    v.publish("a", message("3"), () -> null); // a is now the most recent
    v.publish("c", message("4"), () -> null); // b goes
    assertEquals(2, v.size());
    UserStream s = new UserStream("alice", 0, 100, 60_000, 0);
    assertEquals(0, v.deliver(s, List.of("b"), 1));
    assertEquals(1, v.deliver(s, List.of("a", "b", "c"), 1));
    assertEquals(2, s.seq());
    v.publish("a", new Message("5}".getBytes(StandardCharsets.UTF_8), 10, 10), () -> null);
    assertEquals(0, v.deliver(s, List.of("a"), 11));
  }

  private static void assertThrowsTimeout(CompletableFuture<?> f) throws Exception {
    try {
      f.get(300, TimeUnit.MILLISECONDS);
      throw new AssertionError("the hand-off did not wait for the publish: " + f.get());
    } catch (java.util.concurrent.TimeoutException expected) {
      // still waiting, as it must
    }
  }
}
