// The client's state machine against fakes of the browser APIs and a fake clock: state
// transitions, resume, backoff, token refresh, moves, drains and transport fallback.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createClient, ErrorCode } from "../src/index.js";
import { owner } from "../src/hash.js";
import { parseMap } from "../src/map.js";
import { backoffCeiling } from "../src/backoff.js";
import {
  FakeClock,
  FakeWebSocket,
  Recorder,
  fakeFetch,
  json,
  settle,
  streamBody,
} from "./fakes.js";

const ONE = {
  version: 1,
  nodes: [{ id: "a", publicUrl: "http://a.test:7101", weight: 1 }],
};
const TWO = {
  version: 2,
  nodes: [
    { id: "a", publicUrl: "http://a.test:7101", weight: 1 },
    { id: "b", publicUrl: "http://b.test:7102", weight: 1 },
  ],
};
const hello = (over = {}) => ({
  type: "hello",
  node: "a",
  epoch: "00000000000000aa",
  mapVersion: 1,
  lastEventId: "00000000000000aa:0",
  heartbeatMs: 1000,
  ...over,
});

class MemoryStorage {
  items = new Map();
  getItem = (k) => this.items.get(k) ?? null;
  setItem = (k, v) => this.items.set(k, String(v));
}

let clock;
beforeEach(() => {
  FakeWebSocket.reset();
  clock = new FakeClock();
});

function client(options = {}, fetchRoutes = {}) {
  const fetch = fakeFetch(fetchRoutes);
  const c = createClient({
    userId: "alice",
    token: "tok1",
    map: ONE,
    storage: null,
    ...options,
    deps: {
      WebSocket: FakeWebSocket,
      fetch,
      setTimeout: clock.setTimeout,
      clearTimeout: clock.clearTimeout,
      random: () => 0.5,
      ...options.deps,
    },
  });
  return { c, rec: new Recorder(c), fetch };
}

async function connectWs(c) {
  c.connect();
  await settle();
  const socket = FakeWebSocket.last();
  socket.open();
  socket.send(hello());
  return socket;
}

test("connects over WebSocket, then delivers messages, channel messages and resets in order", async () => {
  const { c, rec } = client();
  const room = [];
  c.onChannel("room:1", (m) => room.push(m.data));
  const socket = await connectWs(c);
  assert.equal(socket.url, "ws://a.test:7101/v1/ws?token=tok1");
  socket.send({ type: "message", id: "00000000000000aa:1", data: { n: 1 } });
  socket.send({ type: "ping" });
  socket.send({
    type: "message",
    id: "00000000000000aa:2",
    data: { n: 2 },
    channel: "room:1",
  });
  socket.send({ type: "reset", id: "00000000000000aa:9", reason: "gap" });
  assert.deepEqual(rec.states(), ["connecting", "connected"]);
  assert.deepEqual(rec.events[1].detail, {
    node: "a",
    url: "http://a.test:7101",
    transport: "websocket",
    epoch: "00000000000000aa",
  });
  assert.deepEqual(rec.messages(), [{ n: 1 }, { n: 2 }]);
  assert.deepEqual(room, [{ n: 2 }]);
  assert.deepEqual(rec.events.at(-1), {
    kind: "reset",
    id: "00000000000000aa:9",
    reason: "gap",
  });
  assert.deepEqual(c.info, {
    state: "connected",
    node: "a",
    url: "http://a.test:7101",
    transport: "websocket",
    lastEventId: "00000000000000aa:9",
  });
  c.close();
  assert.deepEqual(rec.states(), ["connecting", "connected", "disconnected"]);
  assert.equal(socket.closedWith, 1000);
});

test("a dropped connection resumes from the last event ID after a full-jitter delay", async () => {
  const { c, rec } = client();
  const first = await connectWs(c);
  first.send({ type: "message", id: "00000000000000aa:5", data: "x" });
  first.serverClose(1006);
  await settle();
  assert.deepEqual(rec.states(), ["connecting", "connected", "disconnected"]);
  assert.deepEqual(clock.pending(), [backoffCeiling(0) * 0.5]);
  await clock.advance(backoffCeiling(0) * 0.5);
  assert.equal(FakeWebSocket.instances.length, 2);
  assert.equal(
    FakeWebSocket.last().url,
    "ws://a.test:7101/v1/ws?token=tok1&lastEventId=00000000000000aa%3A5",
  );
  assert.deepEqual(rec.states(), [
    "connecting",
    "connected",
    "disconnected",
    "connecting",
  ]);
  c.close();
});

test("backoff grows while attempts fail and starts over after a connection succeeds", async () => {
  const { c } = client(
    { transport: "websocket" },
    {
      "/v1/poll": () => json(503, { error: "not_ready", message: "starting" }),
    },
  );
  c.connect();
  const delays = [];
  for (let i = 0; i < 5; i++) {
    await settle();
    FakeWebSocket.last().serverClose(1006); // never opened; the probe says 503: back off
    await settle();
    delays.push(clock.pending()[0]);
    await clock.advance(clock.pending()[0]);
  }
  assert.deepEqual(
    delays,
    [0, 1, 2, 3, 4].map((n) => backoffCeiling(n) * 0.5),
  );
  const socket = FakeWebSocket.last();
  socket.open();
  socket.send(hello());
  socket.serverClose(4011);
  await settle();
  assert.deepEqual(clock.pending(), [backoffCeiling(0) * 0.5]);
  c.close();
});

test("401 asks getToken again and reconnects with the new token", async () => {
  let calls = 0;
  const getToken = async () => `fresh${++calls}`;
  const { c, rec } = client({ token: undefined, getToken });
  const socket = await connectWs(c);
  assert.match(socket.url, /token=fresh1/);
  socket.serverClose(4001, "token_expired");
  await settle();
  assert.equal(calls, 2);
  assert.match(FakeWebSocket.last().url, /token=fresh2/);
  assert.deepEqual(rec.errors(), []);
  c.close();
});

test("stops with token_refused when getToken refuses", async () => {
  const { c, rec } = client({
    getToken: async () => {
      throw new Error("logged out");
    },
  });
  const socket = await connectWs(c);
  socket.serverClose(4001);
  await settle();
  assert.deepEqual(rec.errors(), [ErrorCode.TOKEN_REFUSED]);
  const last = rec.events.at(-1);
  assert.equal(last.state, "disconnected");
  assert.equal(last.detail.willRetry, false);
  assert.match(last.detail.error.message, /getToken failed: logged out/);
  assert.equal(c.state, "disconnected");
  assert.deepEqual(clock.pending(), []);
});

test("stops when a fresh token is rejected again, and when there is no getToken", async () => {
  let asked = 0;
  const a = client({ getToken: async () => `t${++asked}` });
  a.c.connect();
  await settle();
  FakeWebSocket.last().serverClose(4001); // the first token: ask for another
  await settle();
  assert.equal(asked, 1);
  assert.match(FakeWebSocket.last().url, /token=t1/);
  FakeWebSocket.last().serverClose(4001, "token_invalid"); // the fresh one too: stop
  await settle();
  assert.equal(asked, 1);
  assert.deepEqual(a.rec.errors(), [ErrorCode.TOKEN_REFUSED]);
  assert.match(
    a.rec.events.at(-1).detail.error.message,
    /fresh token from getToken was rejected/,
  );

  const b = client(
    { transport: "sse" },
    {
      "/v1/sse": () =>
        json(401, { error: "token_expired", message: "expired" }),
    },
  );
  b.c.connect();
  await settle();
  assert.deepEqual(b.rec.errors(), [ErrorCode.TOKEN_REFUSED]);
  assert.match(
    b.rec.events.at(-1).detail.error.message,
    /no getToken.*expired/,
  );
});

test("moved: fetches the map again and goes to the new owner, resuming", async () => {
  const moving = ["alice", "bob", "carol", "dave", "erin", "frank"].find(
    (u) => owner(u, parseMap(JSON.stringify(TWO))).id === "b",
  );
  const { c, rec, fetch } = client(
    { userId: moving },
    { "/v1/map": () => json(200, TWO) },
  );
  const socket = await connectWs(c);
  socket.send({ type: "message", id: "00000000000000aa:3", data: 1 });
  socket.send({
    type: "moved",
    node: "b",
    url: "http://b.test:7102",
    mapVersion: 2,
  });
  socket.serverClose(4009);
  await settle();
  assert.equal(fetch.callsTo("/v1/map")[0].url.origin, "http://b.test:7102");
  assert.equal(
    FakeWebSocket.last().url,
    "ws://b.test:7102/v1/ws?token=tok1&lastEventId=00000000000000aa%3A3",
  );
  FakeWebSocket.last().open();
  FakeWebSocket.last().send(hello({ node: "b", epoch: "00000000000000bb" }));
  assert.deepEqual(rec.states(), [
    "connecting",
    "connected",
    "connecting",
    "connected",
  ]);
  assert.equal(c.info.node, "b");
  c.close();
});

test("421 at connect time on SSE uses the owner in the body when the map cannot be had", async () => {
  const sseCalls = [];
  const { c, rec } = client(
    { transport: "sse" },
    {
      "/v1/sse": (url) => {
        sseCalls.push(url.origin);
        if (url.origin === "http://a.test:7101")
          return json(421, {
            error: "not_owner",
            message: "b owns alice",
            owner: { id: "b", url: "http://b.test:7102" },
            mapVersion: 7,
          });
        const body = streamBody();
        body.write(
          `event: hello\ndata: ${JSON.stringify(hello({ node: "b" }))}\n\n`,
        );
        return new Response(body.stream, { status: 200 });
      },
      "/v1/map": () => json(503, { error: "not_ready", message: "starting" }),
    },
  );
  c.connect();
  await settle();
  assert.deepEqual(sseCalls, ["http://a.test:7101", "http://b.test:7102"]);
  assert.deepEqual(rec.states(), ["connecting", "connected"]);
  assert.deepEqual(rec.errors(), [ErrorCode.MAP_UNAVAILABLE]);
  assert.equal(c.info.node, "b");
  c.close();
});

test("reconnect (drain): waits the server's delay, then resumes on the owner", async () => {
  const { c, rec } = client();
  const socket = await connectWs(c);
  socket.send({ type: "message", id: "00000000000000aa:4", data: 1 });
  socket.send({ type: "reconnect", delayMs: 1234 });
  socket.serverClose(4010);
  await settle();
  assert.deepEqual(clock.pending(), [1234]);
  assert.deepEqual(rec.events.at(-1).detail, {
    willRetry: true,
    delayMs: 1234,
  });
  await clock.advance(1233);
  assert.equal(FakeWebSocket.instances.length, 1);
  await clock.advance(1);
  assert.equal(FakeWebSocket.instances.length, 2);
  assert.match(FakeWebSocket.last().url, /lastEventId=00000000000000aa%3A4/);
  c.close();
});

test("WebSocket blocked on the way: probes, falls back to SSE, and remembers it", async () => {
  const storage = new MemoryStorage();
  const routes = {
    "/v1/poll": () =>
      json(200, { events: [], lastEventId: "00000000000000aa:0" }),
    "/v1/sse": () => {
      const body = streamBody();
      body.write(`event: hello\ndata: ${JSON.stringify(hello())}\n\n`);
      return new Response(body.stream, { status: 200 });
    },
  };
  const { c, rec, fetch } = client({ storage }, routes);
  c.connect();
  await settle();
  FakeWebSocket.last().serverClose(1006);
  await settle();
  await clock.advance(clock.pending()[0]); // first strike: one more try after a backoff delay
  FakeWebSocket.last().serverClose(1006);
  await settle();
  assert.equal(FakeWebSocket.instances.length, 2);
  assert.equal(fetch.callsTo("/v1/poll").length, 2);
  assert.equal(fetch.callsTo("/v1/sse").length, 1);
  assert.deepEqual(rec.states(), [
    "connecting",
    "disconnected",
    "connecting",
    "connected",
  ]);
  assert.equal(rec.events.at(-1).detail.transport, "sse");
  assert.equal(
    JSON.parse(storage.getItem("halley.transport")).transport,
    "sse",
  );
  // The probe asked for no replay: no lastEventId, only the token.
  assert.deepEqual(
    [...fetch.callsTo("/v1/poll")[0].url.searchParams.keys()],
    ["token"],
  );
  c.close();

  const again = client({ storage }, routes);
  again.c.connect();
  await settle();
  assert.equal(
    FakeWebSocket.instances.length,
    2,
    "no WebSocket attempt the second time",
  );
  assert.equal(again.c.info.transport, "sse");
  again.c.close();
});

test("a forced transport never falls back; it reports and retries", async () => {
  const { c, rec } = client(
    { transport: "websocket" },
    { "/v1/poll": () => json(200, { events: [] }) },
  );
  c.connect();
  for (let i = 0; i < 3; i++) {
    await settle();
    FakeWebSocket.last().serverClose(1006);
    await settle();
    await clock.advance(clock.pending()[0]);
  }
  assert.equal(FakeWebSocket.instances.length, 4);
  assert.deepEqual(
    rec.errors(),
    Array(3).fill(ErrorCode.TRANSPORT_UNAVAILABLE),
  );
  c.close();
});

test("an SSE stream that a proxy buffers (no hello in time) falls back to long-polling", async () => {
  const { c, rec, fetch } = client(
    { transports: ["sse", "longpoll"], helloTimeoutMs: 5000 },
    {
      "/v1/sse": () => new Response(streamBody().stream, { status: 200 }),
      "/v1/poll": () =>
        json(200, { events: [], lastEventId: "00000000000000aa:0" }),
      "/v1/longpoll": () => new Promise(() => {}), // held
    },
  );
  c.connect();
  await settle();
  await clock.advance(4999);
  assert.deepEqual(rec.states(), ["connecting"]);
  await clock.advance(1);
  assert.deepEqual(rec.states(), ["connecting", "connected"]);
  assert.equal(rec.events.at(-1).detail.transport, "longpoll");
  assert.equal(fetch.callsTo("/v1/longpoll").length, 1);
  c.close();
});

test("a silent connection (no heartbeat) is dropped and resumed", async () => {
  const { c, rec } = client();
  const socket = await connectWs(c); // hello says heartbeatMs 1000: silence limit 7000
  await clock.advance(6000);
  socket.send({ type: "ping" });
  await clock.advance(6999);
  assert.equal(c.state, "connected");
  await clock.advance(1);
  assert.equal(socket.closedWith, 1000);
  assert.deepEqual(rec.states(), ["connecting", "connected", "disconnected"]);
  c.close();
});

test("the map can come from a URL; bad options fail fast", async () => {
  const { c, fetch } = client(
    { map: undefined, mapUrl: "http://app.test/api/map" },
    { "/api/map": () => json(200, ONE) },
  );
  await connectWs(c);
  assert.equal(fetch.callsTo("/api/map").length, 1);
  assert.equal(c.state, "connected");
  c.close();
  assert.throws(
    () => createClient({ token: "t", map: ONE }),
    /userId must be a non-empty string/,
  );
  assert.throws(
    () => createClient({ userId: "u", map: ONE }),
    /token or getToken is required/,
  );
  assert.throws(
    () => createClient({ userId: "u", token: "t" }),
    /map, mapUrl or getMap is required/,
  );
  assert.throws(
    () =>
      createClient({
        userId: "u",
        token: "t",
        map: ONE,
        transport: "carrier-pigeon",
      }),
    /transport must be one of/,
  );
  assert.throws(
    () =>
      createClient({ userId: "u", token: "t", map: ONE, helloTimeoutMs: -1 }),
    /helloTimeoutMs must be a number > 0: -1/,
  );
  for (const bad of [-1, 1.5, "500", 10000]) {
    assert.throws(
      () =>
        createClient({
          userId: "u",
          token: "t",
          map: ONE,
          conflationIntervalMs: bad,
        }),
      /conflationIntervalMs must be an integer >= 0 and < helloTimeoutMs/,
    );
  }
});

test("conflationIntervalMs is sent on connect (the frequency limit)", async () => {
  const { c } = client({ conflationIntervalMs: 500 });
  const socket = await connectWs(c);
  assert.equal(
    socket.url,
    "ws://a.test:7101/v1/ws?token=tok1&conflationIntervalMs=500",
  );
  c.close();
});

test("close() during a backoff wait cancels it; nothing is emitted afterwards", async () => {
  const { c, rec } = client();
  const socket = await connectWs(c);
  socket.serverClose(1006);
  await settle();
  c.close();
  assert.deepEqual(clock.pending(), []);
  const count = rec.events.length;
  await clock.advance(60000);
  assert.equal(rec.events.length, count);
  assert.deepEqual(rec.events.at(-1).detail, {
    willRetry: false,
    error: undefined,
  });
});

test("close() while the map is being fetched opens no connection", async () => {
  let answer;
  const { c, rec } = client(
    { map: undefined, mapUrl: "http://app.test/api/map" },
    { "/api/map": () => new Promise((resolve) => (answer = resolve)) },
  );
  c.connect();
  await settle();
  c.close();
  answer(json(200, ONE));
  await settle();
  assert.equal(FakeWebSocket.instances.length, 0);
  assert.deepEqual(rec.states(), ["connecting", "disconnected"]);
});

test("options given as undefined take their defaults", async () => {
  const { c } = client({
    helloTimeoutMs: undefined,
    heartbeatMs: undefined,
    transport: undefined,
    backoff: undefined,
  });
  await connectWs(c);
  assert.equal(c.info.transport, "websocket");
  c.close();
});

test("without a WebSocket implementation, a debug event says why before falling back", async () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "WebSocket");
  Object.defineProperty(globalThis, "WebSocket", {
    value: undefined,
    configurable: true,
    writable: true,
  });
  try {
    const { c } = client({ deps: { WebSocket: undefined } });
    const debug = [];
    c.on("debug", (d) => debug.push(d));
    c.connect();
    await settle();
    assert.equal(debug.length >= 1, true, JSON.stringify(debug));
    assert.equal(debug[0].transport, "websocket");
    assert.match(debug[0].message, /no WebSocket implementation/);
    c.close();
  } finally {
    if (saved) Object.defineProperty(globalThis, "WebSocket", saved);
    else delete globalThis.WebSocket;
  }
});

test("disconnect (WebSocket 4031 user_blocked): surfaces the block and does not reconnect", async () => {
  const { c, rec } = client();
  const seen = [];
  c.on("disconnect", (d) => seen.push(d));
  const socket = await connectWs(c);
  socket.send({
    type: "disconnect",
    code: "user_blocked",
    reason: "spam",
    until: 1767225600000,
  });
  socket.serverClose(4031, "user_blocked");
  await settle();
  assert.deepEqual(seen, [
    { code: "user_blocked", reason: "spam", until: 1767225600000 },
  ]);
  assert.deepEqual(rec.errors(), [ErrorCode.USER_BLOCKED]);
  const last = rec.events.at(-1);
  assert.equal(last.state, "disconnected");
  assert.equal(last.detail.willRetry, false);
  assert.equal(last.detail.error.until, 1767225600000);
  assert.equal(last.detail.error.fatal, true);
  assert.equal(FakeWebSocket.instances.length, 1);
  assert.deepEqual(clock.pending(), []);
});

test("a disconnect event on SSE and long-poll stops the client too", async () => {
  for (const transport of ["sse", "longpoll"]) {
    const routes = {
      "/v1/sse": () => {
        const body = streamBody();
        body.write(`event: hello\ndata: ${JSON.stringify(hello())}\n\n`);
        body.write(
          `event: disconnect\ndata: ${JSON.stringify({ type: "disconnect", code: "disconnected" })}\n\n`,
        );
        body.end();
        return new Response(body.stream, { status: 200 });
      },
      "/v1/poll": () =>
        json(200, { events: [], lastEventId: "00000000000000aa:0" }),
      "/v1/longpoll": () =>
        json(200, {
          events: [{ type: "disconnect", code: "disconnected" }],
          lastEventId: "00000000000000aa:0",
        }),
    };
    const { c, rec, fetch } = client({ transport }, routes);
    c.connect();
    await settle();
    assert.deepEqual(rec.errors(), [ErrorCode.DISCONNECTED], transport);
    assert.equal(rec.events.at(-1).detail.willRetry, false, transport);
    const path = transport === "sse" ? "/v1/sse" : "/v1/longpoll";
    assert.equal(fetch.callsTo(path).length, 1, transport);
  }
});

test("a revoked token (4032, or 401 token_revoked) asks getToken once, then stops if refused", async () => {
  let calls = 0;
  const { c, rec } = client({ getToken: async () => `fresh${++calls}` });
  const socket = await connectWs(c);
  socket.send({ type: "disconnect", code: "token_revoked" });
  socket.serverClose(4032, "token_revoked");
  await settle();
  assert.equal(calls, 1);
  assert.match(FakeWebSocket.last().url, /token=fresh1/);
  FakeWebSocket.last().serverClose(4032, "token_revoked");
  await settle();
  assert.equal(calls, 1);
  assert.deepEqual(rec.errors(), [ErrorCode.TOKEN_REFUSED]);

  const b = client(
    { transport: "sse" },
    {
      "/v1/sse": () =>
        json(403, {
          error: "user_blocked",
          message: "blocked",
          until: 1767225600000,
        }),
    },
  );
  b.c.connect();
  await settle();
  assert.deepEqual(b.rec.errors(), [ErrorCode.USER_BLOCKED]);
  assert.equal(b.rec.events.at(-1).detail.error.until, 1767225600000);
  assert.equal(b.rec.events.at(-1).detail.willRetry, false);
  // The client stopped, so the error says so (it said fatal: false before).
  assert.equal(b.rec.events.at(-1).detail.error.fatal, true);
});

// ---- issue 9 item 9 ----

test("moved to a node that stays unreachable: after two failures the map is fetched again and followed", async () => {
  const moving = ["alice", "bob", "carol", "dave", "erin", "frank"].find(
    (u) => owner(u, parseMap(JSON.stringify(TWO))).id === "b",
  );
  const mapFrom = [];
  const { c, rec } = client(
    { userId: moving },
    {
      "/v1/map": (url) => {
        mapFrom.push(url.origin);
        if (url.origin === "http://b.test:7102")
          throw new TypeError("unreachable");
        return json(200, { ...ONE, version: 3 }); // the operator rolled the map back
      },
      "/v1/poll": () => {
        throw new TypeError("unreachable"); // b does not answer the probe either
      },
    },
  );
  const socket = await connectWs(c);
  socket.send({
    type: "moved",
    node: "b",
    url: "http://b.test:7102",
    mapVersion: 2,
  });
  socket.serverClose(4009);
  await settle();
  assert.match(FakeWebSocket.last().url, /^ws:\/\/b\.test:7102\//);
  FakeWebSocket.last().serverClose(1006); // b: first failure
  await settle();
  await clock.advance(clock.pending()[0]);
  assert.match(FakeWebSocket.last().url, /^ws:\/\/b\.test:7102\//);
  FakeWebSocket.last().serverClose(1006); // b: second failure
  await settle();
  await clock.advance(clock.pending()[0]);
  assert.deepEqual(mapFrom, ["http://b.test:7102", "http://a.test:7101"]);
  assert.match(FakeWebSocket.last().url, /^ws:\/\/a\.test:7101\//);
  FakeWebSocket.last().open();
  FakeWebSocket.last().send(hello());
  assert.equal(c.state, "connected");
  assert.equal(rec.events.at(-1).detail.url, "http://a.test:7101");
  c.close();
});

test("a remembered transport is probed again after rememberTransportMs", async () => {
  const storage = new MemoryStorage();
  storage.setItem(
    "halley.transport",
    JSON.stringify({ transport: "sse", since: 0 }),
  );
  const sse = {
    "/v1/sse": () => {
      const body = streamBody();
      body.write(`event: hello\ndata: ${JSON.stringify(hello())}\n\n`);
      return new Response(body.stream, { status: 200 });
    },
  };
  clock.now = 3599999;
  const early = client({ storage, deps: { now: () => clock.now } }, sse);
  early.c.connect();
  await settle();
  assert.equal(FakeWebSocket.instances.length, 0, "still within the hour: sse");
  assert.equal(early.c.info.transport, "sse");
  early.c.close();
  assert.equal(JSON.parse(storage.getItem("halley.transport")).since, 0);

  clock.now = 3600000;
  const late = client({ storage, deps: { now: () => clock.now } }, sse);
  const socket = await connectWs(late.c);
  assert.equal(late.c.info.transport, "websocket");
  assert.ok(socket);
  assert.deepEqual(JSON.parse(storage.getItem("halley.transport")), {
    transport: "websocket",
    since: 3600000,
  });
  late.c.close();
});

test("token_expired before an SSE response ends: a new token at once, no 401 round trip", async () => {
  let calls = 0;
  const getToken = async () => `fresh${++calls}`;
  const tokens = [];
  const { c, rec, fetch } = client(
    { token: undefined, getToken, transport: "sse" },
    {
      "/v1/sse": (url) => {
        tokens.push(url.searchParams.get("token"));
        const body = streamBody();
        body.write(`event: hello\ndata: ${JSON.stringify(hello())}\n\n`);
        if (tokens.length === 1) {
          body.write(
            `event: token_expired\ndata: {"type":"token_expired"}\n\n`,
          );
          body.end();
        }
        return new Response(body.stream, { status: 200 });
      },
    },
  );
  c.connect();
  await settle();
  assert.deepEqual(tokens, ["fresh1", "fresh2"]);
  assert.equal(fetch.callsTo("/v1/sse").length, 2);
  assert.deepEqual(rec.errors(), []);
  assert.deepEqual(rec.states(), [
    "connecting",
    "connected",
    "connecting",
    "connected",
  ]);
  c.close();
});

test("token_expired in a long-poll batch ends the loop and renews the token", async () => {
  let calls = 0;
  const getToken = async () => `fresh${++calls}`;
  const polls = [];
  const { c, fetch } = client(
    { token: undefined, getToken, transport: "longpoll" },
    {
      "/v1/poll": (url) => {
        polls.push(url.searchParams.get("token"));
        return json(200, { events: [], lastEventId: "00000000000000aa:0" });
      },
      "/v1/longpoll": (url) =>
        url.searchParams.get("token") === "fresh1"
          ? json(200, {
              events: [{ type: "token_expired" }],
              lastEventId: "00000000000000aa:0",
            })
          : new Promise(() => {}),
    },
  );
  c.connect();
  await settle();
  assert.deepEqual(polls, ["fresh1", "fresh2"]);
  assert.equal(
    fetch
      .callsTo("/v1/longpoll")
      .filter((x) => x.url.searchParams.get("token") === "fresh1").length,
    1,
    "no request with the expired token after the signal",
  );
  c.close();
});

test("getToken that never answers times out with token_timeout and is retried with backoff", async () => {
  let calls = 0;
  const getToken = () => {
    calls += 1;
    return calls === 1 ? new Promise(() => {}) : Promise.resolve("late");
  };
  const { c, rec } = client({
    token: undefined,
    getToken,
    getTokenTimeoutMs: 5000,
  });
  c.connect();
  await settle();
  await clock.advance(4999);
  assert.deepEqual(rec.errors(), []);
  await clock.advance(1);
  assert.deepEqual(rec.errors(), [ErrorCode.TOKEN_TIMEOUT]);
  assert.equal(rec.events.at(-1).detail.willRetry, true);
  await clock.advance(clock.pending()[0]);
  assert.equal(calls, 2);
  assert.match(FakeWebSocket.last().url, /token=late/);
  c.close();
});

// ---- resharding: `moved` with `handoff` (docs/protocol.md) ----

/** A user that `owner` puts on b under TWO (a under ONE). */
const MOVER = ["alice", "bob", "carol", "dave", "erin", "frank"].find(
  (u) => owner(u, parseMap(JSON.stringify(TWO))).id === "b",
);
/** Characters a query must escape, so "verbatim" is checked, not only "present". */
const HANDOFF = "5f0c1e2d3a4b5c6d:17:42 +&=/?#%";
const movedWithHandoff = (handoff = HANDOFF) => ({
  type: "moved",
  node: "b",
  url: "http://b.test:7102",
  mapVersion: 2,
  handoff,
});
const query = (call) => Object.fromEntries(call.url.searchParams);

test("message key: a message event's key is passed to the app, and absent when the node sent none", async () => {
  const { c, rec } = client();
  const room = [];
  c.onChannel("room:1", (m) => room.push(m));
  const socket = await connectWs(c);
  socket.send({
    type: "message",
    id: "00000000000000aa:1",
    data: 1,
    key: "k-1",
  });
  socket.send({
    type: "message",
    id: "00000000000000aa:2",
    data: 2,
    channel: "room:1",
    key: "k-2",
  });
  socket.send({ type: "message", id: "00000000000000aa:3", data: 3 });
  const messages = rec.events.filter((e) => e.kind === "message");
  assert.deepEqual(messages, [
    { kind: "message", id: "00000000000000aa:1", data: 1, key: "k-1" },
    {
      kind: "message",
      id: "00000000000000aa:2",
      data: 2,
      channel: "room:1",
      key: "k-2",
    },
    { kind: "message", id: "00000000000000aa:3", data: 3 },
  ]);
  assert.equal(room[0].key, "k-2");
  assert.equal("key" in messages[2], false);
  c.close();
});

test("moved with handoff (WebSocket): the new owner gets lastEventId and the handoff verbatim, until it answers", async () => {
  const { c, rec, fetch } = client(
    { userId: MOVER },
    {
      "/v1/map": () => json(200, TWO),
      "/v1/poll": () =>
        json(200, { events: [], lastEventId: "00000000000000bb:0" }),
    },
  );
  const socket = await connectWs(c);
  socket.send({ type: "message", id: "00000000000000aa:41", data: 1 });
  socket.send({ type: "message", id: "00000000000000aa:42", data: 2 });
  socket.send(movedWithHandoff());
  socket.serverClose(4009);
  await settle();
  const toB = new URL(FakeWebSocket.last().url);
  assert.equal(toB.origin, "ws://b.test:7102");
  assert.deepEqual(Object.fromEntries(toB.searchParams), {
    token: "tok1",
    lastEventId: "00000000000000aa:42",
    handoff: HANDOFF,
  });

  // The new owner does not answer this time: the retry still carries the handoff (the probe,
  // which sends no lastEventId, never does).
  FakeWebSocket.last().serverClose(1006);
  await settle();
  assert.equal(query(fetch.callsTo("/v1/poll")[0]).handoff, undefined);
  await clock.advance(backoffCeiling(0));
  const retry = new URL(FakeWebSocket.last().url);
  assert.equal(FakeWebSocket.instances.length, 3);
  assert.equal(retry.searchParams.get("handoff"), HANDOFF);
  assert.equal(retry.searchParams.get("lastEventId"), "00000000000000aa:42");

  // It answers: the handoff is spent; a later drop resumes on b from b's IDs, without it.
  FakeWebSocket.last().open();
  FakeWebSocket.last().send(
    hello({
      node: "b",
      epoch: "00000000000000bb",
      lastEventId: "00000000000000bb:7",
    }),
  );
  FakeWebSocket.last().send({
    type: "message",
    id: "00000000000000bb:8",
    data: 3,
  });
  FakeWebSocket.last().serverClose(1006);
  await settle();
  await clock.advance(backoffCeiling(0));
  const later = new URL(FakeWebSocket.last().url);
  assert.equal(FakeWebSocket.instances.length, 4);
  assert.deepEqual(Object.fromEntries(later.searchParams), {
    token: "tok1",
    lastEventId: "00000000000000bb:8",
  });
  assert.deepEqual(rec.messages(), [1, 2, 3]);
  assert.equal(rec.events.filter((e) => e.kind === "reset").length, 0);
  c.close();
});

test("moved with handoff (SSE): the new owner gets lastEventId and the handoff verbatim", async () => {
  const { c, rec, fetch } = client(
    { userId: MOVER, transport: "sse" },
    {
      "/v1/map": () => json(200, TWO),
      "/v1/sse": (url) => {
        const body = streamBody();
        if (url.origin === "http://a.test:7101") {
          body.write(`event: hello\ndata: ${JSON.stringify(hello())}\n\n`);
          body.write(
            `id: 00000000000000aa:9\nevent: message\ndata: ${JSON.stringify({ type: "message", id: "00000000000000aa:9", data: 9, key: "k9" })}\n\n`,
          );
          body.write(
            `event: moved\ndata: ${JSON.stringify(movedWithHandoff())}\n\n`,
          );
          body.end();
        } else {
          body.write(
            `event: hello\ndata: ${JSON.stringify(hello({ node: "b", epoch: "00000000000000bb", lastEventId: "00000000000000bb:3" }))}\n\n`,
          );
        }
        return new Response(body.stream, { status: 200 });
      },
    },
  );
  c.connect();
  await settle();
  const calls = fetch.callsTo("/v1/sse");
  assert.equal(calls.length, 2);
  assert.equal(calls[1].url.origin, "http://b.test:7102");
  assert.deepEqual(query(calls[1]), {
    token: "tok1",
    lastEventId: "00000000000000aa:9",
    handoff: HANDOFF,
  });
  assert.deepEqual(query(calls[0]), { token: "tok1" });
  assert.deepEqual(rec.states(), [
    "connecting",
    "connected",
    "connecting",
    "connected",
  ]);
  assert.equal(c.info.node, "b");
  c.close();
});

test("moved with handoff (long-poll): the first poll on the new owner carries it, the long-polls after it do not", async () => {
  const held = [];
  const { c, rec, fetch } = client(
    { userId: MOVER, transport: "longpoll" },
    {
      "/v1/map": () => json(200, TWO),
      "/v1/poll": (url) =>
        url.origin === "http://a.test:7101"
          ? json(200, { events: [], lastEventId: "00000000000000aa:3" })
          : json(200, {
              events: [
                {
                  type: "message",
                  id: "00000000000000bb:12",
                  data: 5,
                  key: "k5",
                },
              ],
              lastEventId: "00000000000000bb:12",
            }),
      "/v1/longpoll": (url) => {
        if (url.origin === "http://a.test:7101")
          return json(200, {
            events: [
              { type: "message", id: "00000000000000aa:4", data: 4, key: "k4" },
              movedWithHandoff(),
            ],
            lastEventId: "00000000000000aa:4",
          });
        return new Promise((resolve) => held.push(resolve));
      },
    },
  );
  c.connect();
  await settle();
  const polls = fetch.callsTo("/v1/poll");
  assert.equal(polls.length, 2);
  assert.equal(polls[1].url.origin, "http://b.test:7102");
  assert.deepEqual(query(polls[1]), {
    token: "tok1",
    lastEventId: "00000000000000aa:4",
    handoff: HANDOFF,
  });
  const onB = fetch
    .callsTo("/v1/longpoll")
    .filter((call) => call.url.origin === "http://b.test:7102");
  assert.equal(onB.length, 1);
  assert.equal(query(onB[0]).handoff, undefined);
  assert.equal(query(onB[0]).lastEventId, "00000000000000bb:12");
  assert.deepEqual(
    rec.events.filter((e) => e.kind === "message").map((m) => m.key),
    ["k4", "k5"],
  );
  assert.equal(held.length, 1);
  c.close();
});

test("a poll-only resume (the long-poll transport's first request) on the old owner's finishing stream: replay, then moved with handoff", async () => {
  // The client was between two long-polls when the map moved its user: its next request meets
  // the old owner's finishing stream, which replays and then sends moved with handoff.
  const { c, fetch } = client(
    {
      userId: MOVER,
      transport: "longpoll",
      lastEventId: "00000000000000aa:20",
    },
    {
      "/v1/map": () => json(200, TWO),
      "/v1/poll": (url) =>
        url.origin === "http://a.test:7101"
          ? json(200, {
              events: [
                { type: "message", id: "00000000000000aa:21", data: 21 },
                movedWithHandoff("e:21:21"),
              ],
              lastEventId: "00000000000000aa:21",
            })
          : json(200, { events: [], lastEventId: "00000000000000bb:1" }),
      "/v1/longpoll": () => new Promise(() => {}),
    },
  );
  c.connect();
  await settle();
  const polls = fetch.callsTo("/v1/poll");
  assert.deepEqual(query(polls[0]), {
    token: "tok1",
    lastEventId: "00000000000000aa:20",
  });
  assert.deepEqual(query(polls[1]), {
    token: "tok1",
    lastEventId: "00000000000000aa:21",
    handoff: "e:21:21",
  });
  c.close();
});

test("a moved without handoff after one with it: the old handoff is not reused", async () => {
  const { c } = client({ userId: MOVER }, { "/v1/map": () => json(200, TWO) });
  const socket = await connectWs(c);
  socket.send({ type: "message", id: "00000000000000aa:5", data: 1 });
  socket.send(movedWithHandoff());
  socket.serverClose(4009);
  await settle();
  assert.equal(
    new URL(FakeWebSocket.last().url).searchParams.get("handoff"),
    HANDOFF,
  );
  // b (say, before it got the pending map) sends the client back without a handoff.
  FakeWebSocket.last().open();
  FakeWebSocket.last().send({
    type: "moved",
    node: "b",
    url: "http://b.test:7102",
    mapVersion: 2,
  });
  FakeWebSocket.last().serverClose(4009);
  await settle();
  assert.deepEqual(
    Object.fromEntries(new URL(FakeWebSocket.last().url).searchParams),
    { token: "tok1", lastEventId: "00000000000000aa:5" },
  );
  c.close();
});
