package dev.halley.router.internal;

import java.time.Duration;

/**
 * Exponential backoff with full jitter: before attempt n, uniform in [0, min(max, base*2^(n-2))].
 */
public final class Backoff {
  private final long baseNanos;
  private final long maxNanos;

  public Backoff(Duration base, Duration max) {
    this.baseNanos = base.toNanos();
    this.maxNanos = max.toNanos();
  }

  /** The cap before {@code attempt} (2 = the first retry). */
  public long ceilingNanos(int attempt) {
    int shift = Math.min(Math.max(attempt - 2, 0), 30);
    long ceiling = baseNanos << shift;
    return ceiling <= 0 || ceiling > maxNanos ? maxNanos : ceiling;
  }

  /** The delay before {@code attempt}, given a uniform random {@code unit} in [0, 1). */
  public Duration delay(int attempt, double unit) {
    return Duration.ofNanos((long) (ceilingNanos(attempt) * unit));
  }
}
