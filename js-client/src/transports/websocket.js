// WebSocket transport: one JSON event per text frame; the server ends with a close code.
// Same shape as sse.js and longpoll.js: connect(params, handlers, deps) -> { close() }.
// Receive-only: the protocol has no client-to-node messages (apps post through their own server).

import { CloseCode } from "../codes.js";
import { parseEvent, transportUrl } from "../event.js";

export const name = "websocket";

/**
 * Opens `${baseUrl}/v1/ws` (`handoff`, the string of an earlier `moved`, goes in the query with
 * `lastEventId`, never without it). Handlers: `onOpen()` when the socket is open, `onEvent(event)` per
 * event, `onEnd(result)` exactly once unless close() came first. `result`: `{ opened, code,
 * reason }` where `code` is the close code (1006 when the socket dropped or never opened: the
 * browser does not tell why), or `{ opened, error }` for a frame that is not a protocol event.
 */
export function connect(
  { baseUrl, token, lastEventId, handoff, conflationIntervalMs },
  handlers,
  deps = {},
) {
  const WebSocketImpl = deps.WebSocket ?? globalThis.WebSocket;
  const url = transportUrl(baseUrl, "/v1/ws", {
    token,
    lastEventId,
    handoff: lastEventId ? handoff : undefined,
    conflationIntervalMs: conflationIntervalMs || undefined,
  }).replace(/^http/, "ws");
  let opened = false;
  let ended = false;
  let socket;

  const end = (result) => {
    if (ended) return;
    ended = true;
    detach();
    handlers.onEnd({ opened, ...result });
  };
  const detach = () => {
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
  };

  if (typeof WebSocketImpl !== "function") {
    // Node before 22 has no global WebSocket: say so, then end like a socket that never opened.
    handlers.onDebug?.(
      "no WebSocket implementation (globalThis.WebSocket is missing: Node < 22?); pass one as " +
        "deps.WebSocket or set transports to skip it",
    );
  }
  try {
    socket = new WebSocketImpl(url);
  } catch (err) {
    // A malformed URL or a blocked scheme: as good as a socket that never opened.
    queueMicrotask(() =>
      end({ code: CloseCode.ABNORMAL, reason: String(err?.message ?? err) }),
    );
    return { close() {} };
  }
  socket.onopen = () => {
    opened = true;
    handlers.onOpen?.();
  };
  socket.onmessage = (message) => {
    if (ended) return;
    let event;
    try {
      event = parseEvent(message.data);
    } catch (error) {
      try {
        socket.close(CloseCode.NORMAL);
      } catch {}
      end({ error });
      return;
    }
    handlers.onEvent(event);
  };
  socket.onerror = () => {}; // always followed by close, which carries the code
  socket.onclose = (event) => end({ code: event.code, reason: event.reason });

  return {
    close() {
      if (ended) return;
      ended = true;
      detach();
      try {
        socket.close(CloseCode.NORMAL);
      } catch {}
    },
  };
}
