// Event parsing per transport, each against a small fake of the browser API it uses.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import * as websocket from "../src/transports/websocket.js";
import * as sse from "../src/transports/sse.js";
import { SseParser } from "../src/transports/sse.js";
import * as longpoll from "../src/transports/longpoll.js";
import { parseBatch } from "../src/transports/longpoll.js";
import { parseEvent } from "../src/event.js";
import { FakeWebSocket, fakeFetch, json, settle, streamBody } from "./fakes.js";

const base = {
  baseUrl: "http://127.0.0.1:7101",
  token: "t.k.n",
  lastEventId: "00ab:7",
};

function recorder() {
  const log = [];
  return {
    log,
    handlers: {
      onOpen: () => log.push(["open"]),
      onEvent: (e) => log.push(["event", e]),
      onActivity: () => log.push(["activity"]),
      onPosition: (id) => log.push(["position", id]),
      onEnd: (r) => log.push(["end", r]),
    },
  };
}

beforeEach(() => FakeWebSocket.reset());

test("parseEvent rejects what is not a protocol event, naming it", () => {
  assert.deepEqual(parseEvent('{"type":"ping"}'), { type: "ping" });
  assert.throws(() => parseEvent("nope"), /not JSON: nope/);
  assert.throws(() => parseEvent("[1]"), /not an object/);
  assert.throws(() => parseEvent('{"id":"a:1"}'), /no type/);
  assert.throws(
    () => parseEvent('{"type":"message","data":1}'),
    /message event has no id/,
  );
});

test("websocket: URL carries token and resume point; one event per frame; close code reported once", () => {
  const { log, handlers } = recorder();
  websocket.connect(base, handlers, { WebSocket: FakeWebSocket });
  const socket = FakeWebSocket.last();
  assert.equal(
    socket.url,
    "ws://127.0.0.1:7101/v1/ws?token=t.k.n&lastEventId=00ab%3A7",
  );
  socket.open();
  socket.send({
    type: "hello",
    node: "a",
    epoch: "00ab",
    lastEventId: "00ab:7",
    heartbeatMs: 1000,
  });
  socket.send({
    type: "message",
    id: "00ab:8",
    data: { text: "hi" },
    channel: "room:1",
  });
  socket.serverClose(4009, "moved");
  socket.serverClose(1006);
  assert.deepEqual(log, [
    ["open"],
    [
      "event",
      {
        type: "hello",
        node: "a",
        epoch: "00ab",
        lastEventId: "00ab:7",
        heartbeatMs: 1000,
      },
    ],
    [
      "event",
      {
        type: "message",
        id: "00ab:8",
        data: { text: "hi" },
        channel: "room:1",
      },
    ],
    ["end", { opened: true, code: 4009, reason: "moved" }],
  ]);
});

test("websocket: https base becomes wss and a bad frame ends the connection as an error", () => {
  const { log, handlers } = recorder();
  websocket.connect(
    { baseUrl: "https://n.example.com/halley/", token: "x" },
    handlers,
    { WebSocket: FakeWebSocket },
  );
  const socket = FakeWebSocket.last();
  assert.equal(socket.url, "wss://n.example.com/halley/v1/ws?token=x");
  socket.open();
  socket.send("not json");
  assert.equal(socket.closedWith, 1000);
  assert.equal(log.length, 2);
  assert.equal(log[1][0], "end");
  assert.match(log[1][1].error.message, /not JSON/);
});

test("websocket: a socket that never opened reports 1006 unopened; close() silences it", () => {
  const a = recorder();
  websocket.connect(base, a.handlers, { WebSocket: FakeWebSocket });
  FakeWebSocket.last().serverClose(1006);
  assert.deepEqual(a.log, [["end", { opened: false, code: 1006, reason: "" }]]);

  const b = recorder();
  const handle = websocket.connect(base, b.handlers, {
    WebSocket: FakeWebSocket,
  });
  handle.close();
  assert.equal(FakeWebSocket.last().closedWith, 1000);
  FakeWebSocket.last().serverClose(1000);
  assert.deepEqual(b.log, []);
});

test("SSE parser: chunks split anywhere, CRLF, multi-line data, comments, ids", () => {
  const out = [];
  const parser = new SseParser({
    onEvent: (e) => out.push(e),
    onComment: (c) => out.push({ comment: c }),
  });
  const text =
    'retry: 2000\r\n\r\nid: e:1\r\nevent: message\r\ndata: {"type":"message","id":"e:1","data":"x"}\r\n\r\n' +
    ': ping\n\nevent: hello\ndata: {"a":\ndata: 1}\n\n' +
    "data:no-space\r\rid: e:2\ndata: z\n\n";
  for (let i = 0; i < text.length; i += 3) parser.feed(text.slice(i, i + 3));
  assert.deepEqual(out, [
    {
      id: "e:1",
      event: "message",
      data: '{"type":"message","id":"e:1","data":"x"}',
    },
    { comment: "ping" },
    { id: undefined, event: "hello", data: '{"a":\n1}' },
    { id: undefined, event: "message", data: "no-space" },
    { id: "e:2", event: "message", data: "z" },
  ]);
});

test("sse: streams events from a 200, heartbeats count as activity, end of stream is reported", async () => {
  const body = streamBody();
  const fetch = fakeFetch({
    "/v1/sse": () => new Response(body.stream, { status: 200 }),
  });
  const { log, handlers } = recorder();
  sse.connect(base, handlers, { fetch });
  await settle();
  const call = fetch.calls[0];
  assert.equal(call.url.searchParams.get("token"), "t.k.n");
  assert.equal(call.url.searchParams.get("lastEventId"), "00ab:7");
  assert.equal(call.init.headers.Accept, "text/event-stream");
  body.write(
    'retry: 1000\n\nid: 00ab:7\nevent: hello\ndata: {"type":"hello","node":"a"}\n\n: ping\n\n',
  );
  body.write(
    'id: 00ab:8\nevent: message\ndata: {"type":"message","id":"00ab:8","data":[1,2]}\n\n',
  );
  await settle();
  body.end();
  await settle();
  assert.deepEqual(log, [
    ["open"],
    ["event", { type: "hello", node: "a" }],
    ["activity"],
    ["event", { type: "message", id: "00ab:8", data: [1, 2] }],
    ["end", { opened: true }],
  ]);
});

test("sse: an HTTP error is reported with its status and JSON body", async () => {
  const fetch = fakeFetch({
    "/v1/sse": () =>
      json(421, {
        error: "not_owner",
        message: "b owns u",
        owner: { id: "b", url: "http://b" },
        mapVersion: 4,
      }),
  });
  const { log, handlers } = recorder();
  sse.connect(base, handlers, { fetch });
  await settle();
  assert.deepEqual(log, [
    [
      "end",
      {
        opened: false,
        status: 421,
        body: {
          error: "not_owner",
          message: "b owns u",
          owner: { id: "b", url: "http://b" },
          mapVersion: 4,
        },
      },
    ],
  ]);
});

test("longpoll: polls once, then long-polls from the returned position, until a control event", async () => {
  const answers = [
    { events: [], lastEventId: "e:3" },
    {
      events: [
        { type: "message", id: "e:4", data: "a" },
        { type: "reset", id: "e:9", reason: "gap" },
      ],
      lastEventId: "e:9",
    },
    { events: [{ type: "reconnect", delayMs: 500 }], lastEventId: "e:9" },
  ];
  const fetch = fakeFetch({
    "/v1/poll": () => json(200, answers.shift()),
    "/v1/longpoll": () => json(200, answers.shift()),
  });
  const { log, handlers } = recorder();
  longpoll.connect({ ...base, timeoutMs: 20000 }, handlers, { fetch });
  await settle();
  assert.deepEqual(
    fetch.calls.map((c) => `${c.url.pathname}?${c.url.searchParams}`),
    [
      "/v1/poll?token=t.k.n&lastEventId=00ab%3A7",
      "/v1/longpoll?token=t.k.n&lastEventId=e%3A3&timeoutMs=20000",
      "/v1/longpoll?token=t.k.n&lastEventId=e%3A9&timeoutMs=20000",
    ],
  );
  assert.deepEqual(log, [
    ["open"],
    ["position", "e:3"],
    ["event", { type: "message", id: "e:4", data: "a" }],
    ["event", { type: "reset", id: "e:9", reason: "gap" }],
    ["position", "e:9"],
    ["event", { type: "reconnect", delayMs: 500 }],
    ["position", "e:9"],
    ["end", { opened: true }],
  ]);
});

test("longpoll: HTTP errors and malformed bodies end it", async () => {
  const a = recorder();
  longpoll.connect(base, a.handlers, {
    fetch: fakeFetch({
      "/v1/poll": () => json(401, { error: "token_expired", message: "exp" }),
    }),
  });
  await settle();
  assert.deepEqual(a.log, [
    [
      "end",
      {
        opened: false,
        status: 401,
        body: { error: "token_expired", message: "exp" },
      },
    ],
  ]);

  const b = recorder();
  longpoll.connect(base, b.handlers, {
    fetch: fakeFetch({ "/v1/poll": () => json(200, { nope: 1 }) }),
  });
  await settle();
  assert.equal(b.log.length, 1);
  assert.match(b.log[0][1].error.message, /no events array/);
});

test("parseBatch checks every event", () => {
  assert.deepEqual(
    parseBatch({ events: [{ type: "ping" }], lastEventId: "e:1" }),
    { events: [{ type: "ping" }], lastEventId: "e:1" },
  );
  assert.throws(() => parseBatch({ events: [{ id: "x" }] }), /no type/);
  assert.throws(
    () => parseBatch({ events: [], lastEventId: 5 }),
    /not a string/,
  );
});

test("handoff: every transport puts it in the query verbatim next to lastEventId, never without one", async () => {
  const handoff = "00ab:3:7 &=+";
  const ws = recorder();
  websocket.connect({ ...base, handoff }, ws.handlers, {
    WebSocket: FakeWebSocket,
  });
  assert.equal(
    new URL(FakeWebSocket.last().url).searchParams.get("handoff"),
    handoff,
  );
  websocket.connect({ ...base, lastEventId: undefined, handoff }, ws.handlers, {
    WebSocket: FakeWebSocket,
  });
  assert.equal(
    FakeWebSocket.last().url,
    "ws://127.0.0.1:7101/v1/ws?token=t.k.n",
  );

  const fetch = fakeFetch({
    "/v1/sse": () => new Response(streamBody().stream, { status: 200 }),
    "/v1/poll": () => json(200, { events: [], lastEventId: "00ab:7" }),
    "/v1/longpoll": () => new Promise(() => {}),
  });
  const handles = [
    sse.connect({ ...base, handoff }, recorder().handlers, { fetch }),
    longpoll.connect({ ...base, handoff }, recorder().handlers, { fetch }),
  ];
  await settle();
  assert.deepEqual(
    fetch.calls.map((c) => [c.url.pathname, c.url.searchParams.get("handoff")]),
    [
      ["/v1/sse", handoff],
      ["/v1/poll", handoff],
      // the poll answered the same position (nothing new yet): still resuming from it
      ["/v1/longpoll", handoff],
    ],
  );
  handles.forEach((h) => h.close());
});

test("conflationIntervalMs: every transport puts it in the query of every request; 0 leaves it out", async () => {
  websocket.connect(
    { ...base, conflationIntervalMs: 500 },
    recorder().handlers,
    {
      WebSocket: FakeWebSocket,
    },
  );
  assert.equal(
    new URL(FakeWebSocket.last().url).searchParams.get("conflationIntervalMs"),
    "500",
  );
  websocket.connect({ ...base, conflationIntervalMs: 0 }, recorder().handlers, {
    WebSocket: FakeWebSocket,
  });
  assert.equal(
    new URL(FakeWebSocket.last().url).searchParams.has("conflationIntervalMs"),
    false,
  );

  const answers = [
    { events: [], lastEventId: "00ab:7" },
    { events: [], lastEventId: "00ab:8" },
  ];
  const fetch = fakeFetch({
    "/v1/sse": () => new Response(streamBody().stream, { status: 200 }),
    "/v1/poll": () => json(200, answers.shift()),
    "/v1/longpoll": () =>
      answers.length > 0 ? json(200, answers.shift()) : new Promise(() => {}),
  });
  const handles = [
    sse.connect({ ...base, conflationIntervalMs: 250 }, recorder().handlers, {
      fetch,
    }),
    longpoll.connect(
      { ...base, conflationIntervalMs: 250 },
      recorder().handlers,
      {
        fetch,
      },
    ),
  ];
  await settle();
  assert.deepEqual(
    fetch.calls.map((c) => [
      c.url.pathname,
      c.url.searchParams.get("conflationIntervalMs"),
    ]),
    [
      ["/v1/sse", "250"],
      ["/v1/poll", "250"],
      ["/v1/longpoll", "250"],
      ["/v1/longpoll", "250"],
    ],
  );
  handles.forEach((h) => h.close());
});
