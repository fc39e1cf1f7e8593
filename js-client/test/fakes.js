// Small fakes of the browser APIs the transports use (WebSocket, fetch) and of the clock, so unit
// tests run without a network and without sleeping. Integration tests use the real ones.

/** A WebSocket whose server side the test drives. */
export class FakeWebSocket {
  static instances = [];

  constructor(url) {
    this.url = url;
    this.closedWith = undefined;
    FakeWebSocket.instances.push(this);
  }

  static reset() {
    FakeWebSocket.instances = [];
  }

  static last() {
    return FakeWebSocket.instances.at(-1);
  }

  // Server side.
  open() {
    this.onopen?.({});
  }
  send(event) {
    this.onmessage?.({
      data: typeof event === "string" ? event : JSON.stringify(event),
    });
  }
  serverClose(code, reason = "") {
    this.onclose?.({ code, reason });
  }

  // Client side.
  close(code) {
    this.closedWith = code;
  }
}

/** A streamed response body the test writes to. */
export function streamBody() {
  let controller;
  const stream = new ReadableStream({ start: (c) => (controller = c) });
  const encoder = new TextEncoder();
  return {
    stream,
    write: (text) => controller.enqueue(encoder.encode(text)),
    end: () => controller.close(),
  };
}

/**
 * A fetch that answers from `routes`: `{ "/v1/map": (url, init) => Response, ... }` keyed by
 * path; records every call in `calls`. A route may return a promise (a held long-poll).
 */
export function fakeFetch(routes) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const parsed = new URL(url);
    calls.push({ url: parsed, init });
    const route = routes[parsed.pathname];
    if (!route)
      return json(404, { error: "not_found", message: parsed.pathname });
    return route(parsed, init);
  };
  fetch.calls = calls;
  fetch.callsTo = (path) => calls.filter((c) => c.url.pathname === path);
  return fetch;
}

export function json(status, body) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** A fake setTimeout/clearTimeout; `advance(ms)` runs due timers in order. */
export class FakeClock {
  now = 0;
  #timers = new Map();
  #next = 1;

  setTimeout = (fn, ms) => {
    const id = this.#next++;
    this.#timers.set(id, { at: this.now + Math.max(0, ms), fn });
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  /** Delays of the pending timers, relative to now. */
  pending() {
    return [...this.#timers.values()]
      .map((t) => t.at - this.now)
      .sort((a, b) => a - b);
  }

  async advance(ms) {
    const until = this.now + ms;
    for (;;) {
      await settle();
      const due = [...this.#timers.entries()]
        .filter(([, t]) => t.at <= until)
        .sort((a, b) => a[1].at - b[1].at);
      if (due.length === 0) break;
      const [id, timer] = due[0];
      this.#timers.delete(id);
      this.now = timer.at;
      timer.fn();
    }
    this.now = until;
    await settle();
  }
}

/** Lets pending promises and stream reads run. */
export async function settle() {
  for (let i = 0; i < 20; i++)
    await new Promise((resolve) => setImmediate(resolve));
}

/** Records what a client emits, in order, for recorder-style assertions. */
export class Recorder {
  events = [];

  constructor(client) {
    client.on("state", (state, detail) =>
      this.events.push({ kind: "state", state, detail }),
    );
    client.on("message", (m) => this.events.push({ kind: "message", ...m }));
    client.on("reset", (r) => this.events.push({ kind: "reset", ...r }));
    client.on("error", (e) =>
      this.events.push({
        kind: "error",
        code: e.code,
        fatal: e.fatal,
        error: e,
      }),
    );
  }

  states() {
    return this.events.filter((e) => e.kind === "state").map((e) => e.state);
  }

  messages() {
    return this.events.filter((e) => e.kind === "message").map((e) => e.data);
  }

  errors() {
    return this.events.filter((e) => e.kind === "error").map((e) => e.code);
  }
}
