package dev.halley.node.cluster;

import java.util.Objects;
import java.util.random.RandomGenerator;

/**
 * Randomised reconnect delays for a draining node, spread evenly over the drain period so that the
 * clients of a restarting node do not all come back at the same moment.
 *
 * <pre>{@code
 * DrainPlan plan = new DrainPlan(30_000, new SplittableRandom());
 * long[] delays = plan.delays(connections.size()); // one per connection, in [0, 30000)
 * // send each connection {"type": "reconnect", "delayMs": delays[i]}, then close it with 4010
 * }</pre>
 *
 * <p>{@link #delays(int)} is stratified: the period is cut into {@code n} equal slots, each
 * connection gets a uniform random delay inside its own slot, and the slots are shuffled; so any
 * window of the period receives its fair share of reconnects (at most one more), whatever {@code
 * n}. {@link #delayMs()} is a plain uniform delay for a single late connection.
 *
 * <p>Not thread-safe (the random generator is not); use one per drain. Units: milliseconds.
 */
public final class DrainPlan {
  private final long periodMs;
  private final RandomGenerator random;

  /**
   * @param periodMs the drain period, milliseconds (default in NodeConfig: 30000); > 0
   * @param random the source of randomness (seeded in tests)
   */
  public DrainPlan(long periodMs, RandomGenerator random) {
    if (periodMs <= 0) {
      throw new IllegalArgumentException("drainPeriodMs must be > 0: " + periodMs);
    }
    this.periodMs = periodMs;
    this.random = Objects.requireNonNull(random, "random");
  }

  public long periodMs() {
    return periodMs;
  }

  /** One delay per connection, each in {@code [0, periodMs)}, evenly spread and shuffled. */
  public long[] delays(int n) {
    if (n < 0) {
      throw new IllegalArgumentException("n must be >= 0: " + n);
    }
    long[] out = new long[n];
    for (int i = 0; i < n; i++) {
      double from = (double) periodMs * i / n;
      double to = (double) periodMs * (i + 1) / n;
      long d = (long) Math.floor(from + random.nextDouble() * (to - from));
      out[i] = Math.min(periodMs - 1, Math.max(0, d));
    }
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      long t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }

  /** A single uniform delay in {@code [0, periodMs)}. */
  public long delayMs() {
    return random.nextLong(periodMs);
  }

  @Override
  public String toString() {
    return "DrainPlan{periodMs=" + periodMs + "}";
  }
}
