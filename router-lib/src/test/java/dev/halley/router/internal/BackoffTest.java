package dev.halley.router.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class BackoffTest {
  private final Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(2));

  @Test
  void ceilingDoublesPerRetryUpToTheMax() {
    assertEquals(Duration.ofMillis(100).toNanos(), backoff.ceilingNanos(2));
    assertEquals(Duration.ofMillis(200).toNanos(), backoff.ceilingNanos(3));
    assertEquals(Duration.ofMillis(1600).toNanos(), backoff.ceilingNanos(6));
    assertEquals(Duration.ofSeconds(2).toNanos(), backoff.ceilingNanos(7));
    assertEquals(Duration.ofSeconds(2).toNanos(), backoff.ceilingNanos(1000));
  }

  @Test
  void fullJitterSpansZeroToTheCeiling() {
    assertEquals(Duration.ZERO, backoff.delay(4, 0.0));
    assertEquals(Duration.ofMillis(200), backoff.delay(4, 0.5));
    assertEquals(Duration.ofMillis(399), backoff.delay(4, 0.9975));
  }
}
