package dev.halley.it.fleet;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Waits on a condition (never on time alone), failing with what it waited for. A probe that fails
 * (an exception, or an {@link AssertionError} such as a node's request that timed out on a busy
 * machine) counts as "not yet" until the deadline, and the last failure is the timeout's cause.
 */
public final class Await {
  private Await() {}

  public static void until(BooleanSupplier condition, String what, Duration timeout) {
    until(condition, () -> what, timeout);
  }

  public static void until(BooleanSupplier condition, Supplier<String> what, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    Throwable lastFailure = null;
    while (true) {
      boolean ok;
      try {
        ok = condition.getAsBoolean();
      } catch (RuntimeException | AssertionError e) {
        ok = false;
        lastFailure = e;
      }
      if (ok) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            "timed out after " + timeout + " waiting for: " + what.get(), lastFailure);
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
