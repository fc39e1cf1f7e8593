// Server-Sent Events over fetch and a streamed body (not EventSource: fetch shows the HTTP
// status and JSON error body, and leaves reconnecting to the client's own state machine).
// Same shape as websocket.js and longpoll.js: connect(params, handlers, deps) -> { close() }.

import { parseEvent, readErrorBody, transportUrl } from "../event.js";

export const name = "sse";

/**
 * Opens `${baseUrl}/v1/sse` (`handoff` as in websocket.js). Handlers: `onOpen()` on a 200 response, `onEvent(event)` per
 * event, `onActivity()` per heartbeat comment, `onEnd(result)` exactly once unless close() came
 * first. `result`: `{ opened, status, body }` for an HTTP error, `{ opened, error }` for a network
 * failure or a bad event, `{ opened }` when the stream ended.
 */
export function connect(
  { baseUrl, token, lastEventId, handoff, conflationIntervalMs },
  handlers,
  deps = {},
) {
  const fetchImpl = deps.fetch ?? globalThis.fetch.bind(globalThis);
  const url = transportUrl(baseUrl, "/v1/sse", {
    token,
    lastEventId,
    handoff: lastEventId ? handoff : undefined,
    conflationIntervalMs: conflationIntervalMs || undefined,
  });
  const abort = new AbortController();
  let opened = false;
  let ended = false;

  const end = (result) => {
    if (ended) return;
    ended = true;
    abort.abort();
    handlers.onEnd({ opened, ...result });
  };

  (async () => {
    let response;
    try {
      response = await fetchImpl(url, {
        headers: { Accept: "text/event-stream" },
        cache: "no-store",
        signal: abort.signal,
      });
    } catch (error) {
      end({ error });
      return;
    }
    if (ended) return;
    if (!response.ok) {
      end({ status: response.status, body: await readErrorBody(response) });
      return;
    }
    opened = true;
    handlers.onOpen?.();
    const parser = new SseParser({
      onEvent: (frame) => {
        if (ended) return;
        let event;
        try {
          event = parseEvent(frame.data);
        } catch (error) {
          end({ error });
          return;
        }
        handlers.onEvent(event);
      },
      onComment: () => !ended && handlers.onActivity?.(),
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || ended) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
      end({});
    } catch (error) {
      end({ error });
    }
  })();

  return {
    close() {
      if (ended) return;
      ended = true;
      abort.abort();
    },
  };
}

/**
 * An incremental text/event-stream parser (the WHATWG algorithm, minus what the protocol does not
 * use): feed it chunks split anywhere; it calls `onEvent({ id, event, data })` per blank-line
 * terminated event with data, and `onComment(text)` per comment line.
 */
export class SseParser {
  #buffer = "";
  #data = [];
  #event = "";
  #id = undefined;

  constructor({ onEvent, onComment = () => {} }) {
    this.onEvent = onEvent;
    this.onComment = onComment;
  }

  feed(chunk) {
    this.#buffer += chunk;
    let match;
    // A line ends with \r\n, \n or \r; a lone \r at the very end may be the first half of \r\n.
    while ((match = /\r\n|\n|\r(?!$)/.exec(this.#buffer)) !== null) {
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      this.#line(line);
    }
  }

  #line(line) {
    if (line === "") {
      if (this.#data.length > 0) {
        this.onEvent({
          id: this.#id,
          event: this.#event || "message",
          data: this.#data.join("\n"),
        });
      }
      this.#data = [];
      this.#event = "";
      this.#id = undefined;
      return;
    }
    if (line.startsWith(":")) {
      this.onComment(line.slice(1).trimStart());
      return;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.#data.push(value);
    else if (field === "event") this.#event = value;
    else if (field === "id") this.#id = value;
    // `retry` is ignored: the client's own backoff decides.
  }
}
