package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.wire.Message;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Two parts of a connection's queue on their own, with the time given by the test (no clock, no
 * sleep): {@link QueueBytes}' bound with the replay and the bytes in flight, and {@link
 * FrequencyLimit}'s per-key interval and its sweep.
 */
class QueueBytesAndLimitTest {
  private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

  @Test
  void theByteBoundAppliesBeyondTheReplayAndCountsBytesInFlight() {
    QueueBytes b = new QueueBytes();
    b.max(200);
    assertEquals(66, QueueBytes.of(new Message("1}".getBytes(StandardCharsets.UTF_8), 0, 1, null)));
    b.added(500); // the replay: before replayQueued nothing is over the bound
    assertFalse(b.wouldExceed(100, false));
    b.replayQueued();
    assertFalse(b.wouldExceed(200, false), "exactly the bound beyond the replay");
    assertTrue(b.wouldExceed(201, false));
    b.removed(300); // taken from the replay: the replay shrinks with it
    assertTrue(b.wouldExceed(201, false));
    b.pinned(150); // a frame in flight counts against the bound
    assertTrue(b.wouldExceed(51, false));
    assertFalse(b.wouldExceed(50, false));
    assertTrue(b.wouldExceed(10_000, true), "an empty queue with a frame in flight is bounded");
    b.pinned(-150);
    assertFalse(b.wouldExceed(10_000, true), "one event alone on an empty queue is always taken");
    b.pinned(-1_000);
    assertEquals(0, b.pinned(), "releasing more than is held leaves none, not a negative count");
  }

  @Test
  void aKeyIsTakenOncePerIntervalAndOtherKeysAreNotHeld() {
    FrequencyLimit limit = new FrequencyLimit(new Object(), Runnable::run, () -> {});
    long t = 1_000_000 * MS;
    assertFalse(limit.holds("k", t), "no interval set: no limit");
    limit.interval(100);
    assertFalse(limit.holds("k", t));
    assertTrue(limit.holds("k", t + 99 * MS));
    assertFalse(limit.holds("other", t + 99 * MS));
    assertFalse(limit.holds(null, t + 99 * MS), "a message without a key is never held");
    assertFalse(limit.holds("k", t + 100 * MS));
    assertTrue(limit.holds("k", t + 150 * MS));
  }

  @Test
  void keysWhoseIntervalPassedAreSweptOnceTheMapDoubles() {
    FrequencyLimit limit = new FrequencyLimit(new Object(), Runnable::run, () -> {});
    limit.interval(10);
    long t = 5_000_000 * MS;
    for (int i = 0; i < 63; i++) {
      limit.holds("old-" + i, t);
    }
    assertEquals(63, limit.keys());
    limit.holds("new", t + 11 * MS); // the 64th key: the 63 past ones are swept
    assertEquals(1, limit.keys());
  }
}
