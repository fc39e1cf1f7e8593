// codes.js must say what docs/protocol.md says: every close code and error code, and the action.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  Action,
  CloseCode,
  ErrorCode,
  actionForClose,
  actionForStatus,
} from "../src/codes.js";

const protocol = readFileSync(
  new URL("../../docs/protocol.md", import.meta.url),
  "utf8",
);

function tableAfter(heading) {
  const start = protocol.indexOf(heading);
  assert.ok(start >= 0, `docs/protocol.md has no "${heading}"`);
  const rows = [];
  for (const line of protocol.slice(start).split("\n").slice(1)) {
    if (line.startsWith("|"))
      rows.push(
        line
          .split("|")
          .slice(1, -1)
          .map((c) => c.trim()),
      );
    else if (rows.length > 0) break;
  }
  return rows.slice(2); // header and separator
}

test("every close code of docs/protocol.md is in codes.js, with the documented action", () => {
  const documented = tableAfter("## Close codes");
  assert.ok(documented.length >= 9);
  const expectedAction = (text) => {
    if (text.startsWith("stop")) return Action.STOP;
    if (text.startsWith("get a new token")) return Action.TOKEN;
    if (text.startsWith("fetch the map")) return Action.MOVED;
    if (text.includes("`delayMs`")) return Action.RECONNECT;
    if (text.startsWith("reconnect with backoff")) return Action.BACKOFF;
    throw new Error(`unknown action text: ${text}`);
  };
  for (const [code, name, action] of documented) {
    assert.equal(
      CloseCode[name.toUpperCase()],
      Number(code),
      `close code ${name}`,
    );
    assert.equal(
      actionForClose(Number(code)),
      expectedAction(action),
      `action for ${code} ${name}`,
    );
  }
  const sent = Object.values(CloseCode).filter((c) => c !== CloseCode.ABNORMAL);
  assert.deepEqual(
    sent.sort(),
    documented.map(([code]) => Number(code)).sort(),
  );
});

test("every error code of docs/protocol.md is in codes.js", () => {
  const documented = tableAfter("## Errors");
  const codes = new Set(Object.values(ErrorCode));
  let count = 0;
  for (const [, errors] of documented) {
    for (const [, code] of errors.matchAll(/`([a-z_]+)`/g)) {
      assert.ok(codes.has(code), `codes.js lacks ${code}`);
      count++;
    }
  }
  assert.ok(count >= 20, `found only ${count} codes`);
});

test("HTTP statuses at connect time map to the same actions as their close codes", () => {
  assert.equal(actionForStatus(401), Action.TOKEN);
  assert.equal(actionForStatus(421), Action.MOVED);
  assert.equal(actionForStatus(429), Action.BACKOFF);
  assert.equal(actionForStatus(503), Action.BACKOFF);
  assert.equal(actionForStatus(500), Action.BACKOFF);
  assert.equal(actionForStatus(400), Action.STOP);
  assert.equal(actionForStatus(403), Action.STOP);
});

test("an unknown close code reconnects with backoff rather than giving up", () => {
  assert.equal(actionForClose(4999), Action.BACKOFF);
  assert.equal(actionForClose(1006), Action.BACKOFF);
});
