package dev.halley.it.fleet;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waits on a condition (never on time alone), failing with what it waited for. */
public final class Await {
  private Await() {}

  public static void until(BooleanSupplier condition, String what, Duration timeout) {
    until(condition, () -> what, timeout);
  }

  public static void until(BooleanSupplier condition, Supplier<String> what, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      boolean ok;
      try {
        ok = condition.getAsBoolean();
      } catch (RuntimeException e) {
        ok = false;
      }
      if (ok) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + timeout + " waiting for: " + what.get());
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting for: " + what.get());
      }
    }
  }
}
