package dev.halley.it.fleet;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;

/**
 * Waits on a condition (never on time alone), failing with what it waited for: Awaitility, polled
 * every 20 ms on the caller's thread. A probe that fails (an exception, or an {@link
 * AssertionError} such as a node's request that timed out on a busy machine) counts as "not yet"
 * until the deadline, and the last failure is the timeout's cause.
 */
public final class Await {
  private Await() {}

  public static void until(BooleanSupplier condition, String what, Duration timeout) {
    until(condition, () -> what, timeout);
  }

  public static void until(BooleanSupplier condition, Supplier<String> what, Duration timeout) {
    AtomicReference<Throwable> lastFailure = new AtomicReference<>();
    try {
      Awaitility.await()
          .atMost(timeout)
          .pollDelay(Duration.ZERO)
          .pollInterval(Duration.ofMillis(20))
          .pollInSameThread()
          .until(
              () -> {
                try {
                  return condition.getAsBoolean();
                } catch (RuntimeException | AssertionError e) {
                  lastFailure.set(e);
                  return false;
                }
              });
    } catch (ConditionTimeoutException e) {
      throw new AssertionError(
          "timed out after " + timeout + " waiting for: " + what.get(), lastFailure.get());
    }
  }
}
