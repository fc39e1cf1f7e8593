// Long-polling: `GET /v1/poll` once (answers at once, so the client knows it is connected), then
// `GET /v1/longpoll` in a loop, each answer a batch `{events, lastEventId}`.
// Same shape as websocket.js and sse.js: connect(params, handlers, deps) -> { close() }.

import { EventType } from "../codes.js";
import { checkEvent, readErrorBody, transportUrl } from "../event.js";

export const name = "longpoll";

/** How long the node holds a request (milliseconds, default 25000, the node's default). */
export const DEFAULT_LONGPOLL_TIMEOUT_MS = 25000;

/**
 * Polls `${baseUrl}` (`handoff` as in websocket.js, on each request that resumes from the given
 * `lastEventId`). Handlers: `onOpen()` after the first 200, `onEvent(event)` per event,
 * `onPosition(lastEventId)` after each batch, `onEnd(result)` exactly once unless close() came
 * first. `result`: `{ opened, status, body }` for an HTTP error, `{ opened, error }` for a network
 * failure or a bad body, `{ opened }` after a batch that held `moved`, `reconnect`,
 * `disconnect` or `token_expired`.
 */
export function connect(
  { baseUrl, token, lastEventId, timeoutMs, handoff, conflationIntervalMs },
  handlers,
  deps = {},
) {
  const fetchImpl = deps.fetch ?? globalThis.fetch.bind(globalThis);
  const holdMs = timeoutMs ?? DEFAULT_LONGPOLL_TIMEOUT_MS;
  const abort = new AbortController();
  let opened = false;
  let ended = false;
  let position = lastEventId;

  const end = (result) => {
    if (ended) return;
    ended = true;
    abort.abort();
    handlers.onEnd({ opened, ...result });
  };

  (async () => {
    for (let first = true; !ended; first = false) {
      // The handoff belongs to the old owner's position: it goes with every request that still
      // resumes from it (in practice the first; the answer's lastEventId is the new owner's).
      const withHandoff =
        handoff && position && position === lastEventId ? handoff : undefined;
      const url = first
        ? transportUrl(baseUrl, "/v1/poll", {
            token,
            lastEventId: position,
            handoff: withHandoff,
            conflationIntervalMs: conflationIntervalMs || undefined,
          })
        : transportUrl(baseUrl, "/v1/longpoll", {
            token,
            lastEventId: position,
            handoff: withHandoff,
            timeoutMs: holdMs,
            conflationIntervalMs: conflationIntervalMs || undefined,
          });
      let batch;
      try {
        const response = await fetchImpl(url, {
          cache: "no-store",
          signal: abort.signal,
        });
        if (ended) return;
        if (!response.ok) {
          end({ status: response.status, body: await readErrorBody(response) });
          return;
        }
        batch = parseBatch(await response.json());
      } catch (error) {
        end({ error });
        return;
      }
      if (ended) return;
      if (!opened) {
        opened = true;
        handlers.onOpen?.();
      }
      let control = false;
      for (const event of batch.events) {
        if (ended) return;
        handlers.onEvent(event);
        if (
          event.type === EventType.MOVED ||
          event.type === EventType.RECONNECT ||
          event.type === EventType.DISCONNECT ||
          event.type === EventType.TOKEN_EXPIRED
        )
          control = true;
      }
      if (ended) return;
      if (batch.lastEventId) position = batch.lastEventId;
      handlers.onPosition?.(position);
      if (control) {
        end({});
        return;
      }
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

/** Checks a long-poll or poll body `{events: [...], lastEventId}`; throws a TypeError if malformed. */
export function parseBatch(body) {
  if (
    body === null ||
    typeof body !== "object" ||
    !Array.isArray(body.events)
  ) {
    throw new TypeError(
      `long-poll body has no events array: ${JSON.stringify(body)?.slice(0, 100)}`,
    );
  }
  if (
    body.lastEventId !== undefined &&
    body.lastEventId !== null &&
    typeof body.lastEventId !== "string"
  ) {
    throw new TypeError(
      `long-poll lastEventId is not a string: ${body.lastEventId}`,
    );
  }
  return {
    events: body.events.map(checkEvent),
    lastEventId: body.lastEventId ?? undefined,
  };
}
