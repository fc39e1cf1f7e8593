// Full-jitter exponential backoff: the delay before reconnect attempt n (0-based) is drawn
// uniformly from [0, min(maxDelayMs, baseDelayMs * 2^n)). With the defaults the first retry waits
// under 0.5 s and no retry waits 30 s or more. `random` is injectable so tests need no sleeping.

export const DEFAULT_BACKOFF = Object.freeze({
  baseDelayMs: 500,
  maxDelayMs: 30000,
});

/** The upper bound (exclusive) of the delay before attempt `attempt`. */
export function backoffCeiling(
  attempt,
  { baseDelayMs, maxDelayMs } = DEFAULT_BACKOFF,
) {
  const exp = Math.min(attempt, 30); // 2^30 * base is past any sane cap; avoids Infinity
  return Math.min(maxDelayMs, baseDelayMs * 2 ** exp);
}

/** A delay in milliseconds for attempt `attempt`, in [0, backoffCeiling(attempt)). */
export function backoffDelay(
  attempt,
  options = DEFAULT_BACKOFF,
  random = Math.random,
) {
  return Math.floor(random() * backoffCeiling(attempt, options));
}

/** Checks user options; throws with the bad value named. */
export function backoffOptions(options = {}) {
  const merged = { ...DEFAULT_BACKOFF, ...options };
  for (const key of ["baseDelayMs", "maxDelayMs"]) {
    const value = merged[key];
    if (!Number.isFinite(value) || value <= 0) {
      throw new TypeError(`backoff.${key} must be a number > 0: ${value}`);
    }
  }
  if (merged.maxDelayMs < merged.baseDelayMs) {
    throw new TypeError(
      `backoff.maxDelayMs must be >= baseDelayMs: ${merged.maxDelayMs}`,
    );
  }
  return merged;
}
