import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_BACKOFF,
  backoffCeiling,
  backoffDelay,
  backoffOptions,
} from "../src/backoff.js";

test("ceiling doubles from the base delay and stops at the cap", () => {
  const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 100].map((n) => backoffCeiling(n));
  assert.deepEqual(
    ceilings,
    [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
});

test("every delay lies in [0, ceiling) whatever the random draw", () => {
  for (let attempt = 0; attempt < 40; attempt++) {
    for (const draw of [0, 0.25, 0.5, 0.999999]) {
      const delay = backoffDelay(attempt, DEFAULT_BACKOFF, () => draw);
      assert.ok(delay >= 0, `attempt ${attempt} draw ${draw}: ${delay}`);
      assert.ok(
        delay < backoffCeiling(attempt),
        `attempt ${attempt} draw ${draw}: ${delay}`,
      );
      assert.ok(Number.isInteger(delay));
    }
  }
});

test("full jitter: the draw scales the whole range, so a zero draw retries at once", () => {
  assert.equal(
    backoffDelay(3, DEFAULT_BACKOFF, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(3, DEFAULT_BACKOFF, () => 0.5),
    2000,
  );
});

test("custom bounds are honoured", () => {
  const options = backoffOptions({ baseDelayMs: 100, maxDelayMs: 250 });
  assert.deepEqual(
    [0, 1, 2, 3].map((n) => backoffCeiling(n, options)),
    [100, 200, 250, 250],
  );
});

test("bad bounds fail fast naming the value", () => {
  assert.throws(
    () => backoffOptions({ baseDelayMs: 0 }),
    /baseDelayMs must be a number > 0: 0/,
  );
  assert.throws(
    () => backoffOptions({ maxDelayMs: "x" }),
    /maxDelayMs must be a number > 0: x/,
  );
  assert.throws(
    () => backoffOptions({ baseDelayMs: 10, maxDelayMs: 5 }),
    /maxDelayMs must be >= baseDelayMs: 5/,
  );
});
