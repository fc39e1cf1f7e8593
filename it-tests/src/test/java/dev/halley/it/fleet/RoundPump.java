package dev.halley.it.fleet;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What {@link Traffic} and {@link KeyedTraffic} share: pump threads that each run a round every
 * {@code periodMs} (at most ten minutes of rounds, whatever the test does; a pump behind its pace
 * goes on at once, without a catch-up burst), the count of rounds the first pump completed, and a
 * stop that ends the pumps and then waits for the outcomes of what they published.
 *
 * <p>Threading: each pump is its own daemon thread; {@link #start}, {@link #stop} and the waits
 * from the test's thread; the counters are atomic.
 */
public abstract class RoundPump implements AutoCloseable {
  private static final Duration MAX_RUN = Duration.ofMinutes(10);

  protected final long periodMs;
  private final int catchUpRounds;
  private final AtomicLong rounds = new AtomicLong();
  private final AtomicLong skipped = new AtomicLong();
  private final AtomicBoolean stopped = new AtomicBoolean();
  private final List<Thread> pumps = new ArrayList<>();
  private volatile long startNanos;
  private volatile long stopNanos;

  protected RoundPump(long periodMs) {
    this(periodMs, 0);
  }

  /**
   * {@code catchUpRounds}: a pump behind its pace by up to that many rounds runs them at once, so
   * that a short stall (a GC, a container starting) does not lower the offered rate; behind by
   * more, it drops the debt and counts the rounds it skipped ({@link #skippedRounds}). 0: never
   * catches up.
   */
  protected RoundPump(long periodMs, int catchUpRounds) {
    this.periodMs = periodMs;
    this.catchUpRounds = catchUpRounds;
  }

  /**
   * Adds a pump (before {@link #start}) that calls {@code round} once a period until stopped; the
   * first pump added counts {@link #rounds}. A round that throws ends its pump.
   */
  protected final void pump(String name, Runnable round) {
    boolean counts = pumps.isEmpty();
    Thread t =
        new Thread(
            () -> {
              long next = System.nanoTime();
              long limit = MAX_RUN.toMillis() / periodMs;
              for (long n = 0; !stopped.get() && n < limit; n++) {
                round.run();
                if (counts) {
                  rounds.incrementAndGet();
                }
                next = pace(next);
                if (next < 0) {
                  return;
                }
              }
            },
            name);
    t.setDaemon(true);
    pumps.add(t);
  }

  /**
   * Waits for the next round's time (the pump's pace, not a wait for a condition); -1 if
   * interrupted.
   */
  private long pace(long next) {
    next += periodMs * 1_000_000;
    long now = System.nanoTime();
    long sleep = (next - now) / 1_000_000;
    if (sleep <= 0) {
      // Behind (CPU, router-lib's backpressure): the next round at once, within the catch-up.
      long behind = -sleep / periodMs;
      if (behind < catchUpRounds) {
        return next;
      }
      skipped.addAndGet(behind);
      return now;
    }
    try {
      Thread.sleep(sleep);
    } catch (InterruptedException e) {
      return -1;
    }
    return next;
  }

  /** Starts the pumps. */
  protected final void startPumps() {
    startNanos = System.nanoTime();
    pumps.forEach(Thread::start);
  }

  /** Whether {@link #stop} was called. */
  protected final boolean stopped() {
    return stopped.get();
  }

  public final long rounds() {
    return rounds.get();
  }

  /** Rounds the pumps skipped, behind their pace by more than their catch-up. */
  public final long skippedRounds() {
    return skipped.get();
  }

  /** Waits until {@code n} more rounds have been published. */
  public final void awaitRounds(long n) {
    long target = rounds.get() + n;
    Await.until(
        () -> rounds.get() >= target, "traffic: " + target + " rounds", Duration.ofMinutes(2));
  }

  /**
   * Stops publishing (once: a second call returns at once) and waits until every outcome is in
   * ({@link #awaitOutcomes}, bounded by router-lib's own timeouts).
   */
  public final void stop() {
    if (stopped.getAndSet(true)) {
      return;
    }
    try {
      for (Thread t : pumps) {
        t.join(30_000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    stopNanos = System.nanoTime();
    awaitOutcomes();
  }

  /** After the pumps ended: waits for the outcomes of what they published. */
  protected abstract void awaitOutcomes();

  /** Seconds from {@link #startPumps} to {@link #stop} (or now, while running). */
  protected final double seconds() {
    long end = stopNanos == 0 ? System.nanoTime() : stopNanos;
    return (end - startNanos) / 1e9;
  }

  @Override
  public void close() {
    stop();
  }
}
