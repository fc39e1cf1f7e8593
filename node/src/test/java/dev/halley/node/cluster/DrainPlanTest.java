package dev.halley.node.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DrainPlanTest {
  @Test
  void spreadsDelaysEvenlyOverThePeriod() {
    DrainPlan plan = new DrainPlan(30_000, new SplittableRandom(42));
    int n = 1_000;
    long[] delays = plan.delays(n);
    assertEquals(n, delays.length);
    // 10 windows of 3 s each get exactly a tenth of the clients: no reconnect storm.
    int[] perWindow = new int[10];
    for (long d : delays) {
      assertTrue(d >= 0 && d < 30_000, "delay out of the period: " + d);
      perWindow[(int) (d / 3_000)]++;
    }
    for (int count : perWindow) {
      assertEquals(100, count, Arrays.toString(perWindow));
    }
  }

  @Test
  void eachClientLandsInItsOwnSlotForAnyCount() {
    for (int n : new int[] {1, 2, 7, 333, 40_000}) {
      long period = 10_000;
      long[] delays = new DrainPlan(period, new SplittableRandom(n)).delays(n);
      Arrays.sort(delays);
      for (int i = 0; i < n; i++) {
        long from = (long) Math.floor((double) period * i / n);
        long to = (long) Math.ceil((double) period * (i + 1) / n);
        assertTrue(
            delays[i] >= from && delays[i] <= to && delays[i] < period,
            "n="
                + n
                + ": delay "
                + delays[i]
                + " outside slot "
                + i
                + " ["
                + from
                + ", "
                + to
                + "]");
      }
    }
  }

  @Test
  void delaysAreShuffledNotHandedOutInOrder() {
    long[] delays = new DrainPlan(30_000, new SplittableRandom(7)).delays(100);
    long[] sorted = delays.clone();
    Arrays.sort(sorted);
    assertNotEquals(Arrays.toString(sorted), Arrays.toString(delays));
  }

  @Test
  void singleDelaysStayInThePeriod() {
    DrainPlan plan = new DrainPlan(500, new SplittableRandom(1));
    for (int i = 0; i < 1_000; i++) {
      long d = plan.delayMs();
      assertTrue(d >= 0 && d < 500, "delay " + d);
    }
  }

  @Test
  void rejectsANonPositivePeriod() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> new DrainPlan(0, new SplittableRandom()));
    assertEquals("drainPeriodMs must be > 0: 0", e.getMessage());
  }
}
