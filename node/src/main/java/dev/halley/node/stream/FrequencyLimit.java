package dev.halley.node.stream;

import dev.halley.node.wire.IoTimers;
import java.util.HashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * A connection's frequency limit (issue #16, docs/protocol.md "Frequency limit"): with an interval
 * set, a keyed message is taken for writing only when its key's last one was taken at least that
 * long ago; until then it waits at its place in the queue (a newer one with its key replaces it
 * there) and so do the events behind it, and a wake-up on the IO thread flushes again when it may
 * go. Keys whose instant has passed are swept once the map doubles.
 *
 * <p>Owner: the {@link Connection} that holds it, made when the connection is given an interval.
 * Every method runs with that connection's lock held, on its IO thread (the taking side); the
 * wake-up takes the lock itself.
 */
final class FrequencyLimit {
  private final Executor io;
  private final Runnable wake;
  private long intervalNanos;
  // Key -> System.nanoTime() at which the key may be written again.
  private HashMap<String, Long> next;
  private int sweepAt;
  private long wakeAt;
  private boolean wakeArmed;

  /**
   * A limit taking {@code lock} (the connection) for its wake-up on {@code io}, which then runs
   * {@code flush}; wake-ups need an XNIO IO thread (on any other executor there are none).
   */
  FrequencyLimit(Object lock, Executor io, Runnable flush) {
    this.io = io;
    this.wake =
        () -> {
          synchronized (lock) {
            wakeArmed = false;
          }
          flush.run();
        };
  }

  /** At most one message per key every {@code intervalMs} ms (0: no limit). */
  void interval(long intervalMs) {
    intervalNanos = TimeUnit.MILLISECONDS.toNanos(intervalMs);
  }

  /**
   * Whether the message with conflation key {@code key} (null: none) must wait at {@code now}
   * (nanoTime); then a wake-up is armed for the instant it may go. Otherwise records that its key
   * is written now.
   */
  boolean holds(String key, long now) {
    if (intervalNanos <= 0 || key == null) {
      return false;
    }
    if (next == null) {
      next = new HashMap<>();
      sweepAt = 64;
    }
    Long at = next.get(key);
    if (at != null && at - now > 0) {
      armWake(at, now);
      return true;
    }
    next.put(key, now + intervalNanos);
    if (next.size() >= sweepAt) {
      next.values().removeIf(t -> t - now <= 0);
      sweepAt = Math.max(64, next.size() * 2);
    }
    return false;
  }

  /** Keys remembered now (for tests of the sweep). */
  int keys() {
    return next == null ? 0 : next.size();
  }

  /** Flushes again at {@code at} (nanoTime), unless a wake-up comes earlier. */
  private void armWake(long at, long now) {
    if (wakeArmed && wakeAt - at <= 0) {
      return;
    }
    if (!(io instanceof org.xnio.XnioIoThread t)) {
      return;
    }
    long delayMs = Math.max(1, TimeUnit.NANOSECONDS.toMillis(at - now + 999_999));
    if (IoTimers.after(t, delayMs, TimeUnit.MILLISECONDS, wake) == null) {
      return; // the node is stopping: its IO threads take no tasks
    }
    wakeArmed = true;
    wakeAt = at;
  }
}
