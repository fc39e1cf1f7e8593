// Every close code, error code and event type of docs/protocol.md, in one place, and what the
// client does about each. A change here is a protocol change: update docs/protocol.md with it.

/** WebSocket close codes (docs/protocol.md, "Close codes"). */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  ABNORMAL: 1006, // set by the browser when the socket dropped or never opened; never sent
  PROTOCOL_ERROR: 1002, // the client broke RFC 6455 framing
  INVALID_PAYLOAD: 1007, // the client sent a text message that is not UTF-8
  MESSAGE_TOO_BIG: 1009, // the client sent a message over the node's wsClientFrameMaxBytes
  BAD_REQUEST: 4000,
  UNAUTHORIZED: 4001,
  FORBIDDEN: 4003,
  SLOW_CONSUMER: 4008,
  MOVED: 4009,
  RECONNECT: 4010,
  SERVER_ERROR: 4011,
  TOO_MANY_CONNECTIONS: 4029,
  DISCONNECTED: 4030,
  USER_BLOCKED: 4031,
  TOKEN_REVOKED: 4032,
});

/** Error codes of JSON error bodies (docs/protocol.md, "Errors"), plus the client's own. */
export const ErrorCode = Object.freeze({
  BAD_REQUEST: "bad_request",
  INVALID_JSON: "invalid_json",
  INVALID_FIELD: "invalid_field",
  UNKNOWN_FIELD: "unknown_field",
  TOKEN_MISSING: "token_missing",
  TOKEN_INVALID: "token_invalid",
  TOKEN_EXPIRED: "token_expired",
  API_KEY_MISSING: "api_key_missing",
  API_KEY_INVALID: "api_key_invalid",
  ORIGIN_FORBIDDEN: "origin_forbidden",
  NOT_FOUND: "not_found",
  METHOD_NOT_ALLOWED: "method_not_allowed",
  PAYLOAD_TOO_LARGE: "payload_too_large",
  HEADERS_TOO_LARGE: "headers_too_large",
  REQUEST_TIMEOUT: "request_timeout",
  UPGRADE_REQUIRED: "upgrade_required",
  MESSAGE_TOO_LARGE: "message_too_large",
  TOO_MANY_RECIPIENTS: "too_many_recipients",
  NOT_OWNER: "not_owner",
  RATE_LIMITED: "rate_limited",
  TOO_MANY_CONNECTIONS: "too_many_connections",
  /** The node is at its socket limit (503 with Retry-After); the client reconnects with backoff. */
  OVER_CAPACITY: "over_capacity",
  DRAINING: "draining",
  NOT_READY: "not_ready",
  SERVER_ERROR: "server_error",
  /** The app blocked the user (403 at connect, or a `disconnect` event); `until` says how long. */
  USER_BLOCKED: "user_blocked",
  /** The token was revoked (401 at connect, or a `disconnect` event): ask getToken for a new one. */
  TOKEN_REVOKED: "token_revoked",
  /** The app disconnected the user (a `disconnect` event); the client stops. */
  DISCONNECTED: "disconnected",
  ACCESS_LIST_FULL: "access_list_full",
  /**
   * A resume's `handoff` carried a state this cluster did not sign, or another user's (400 at
   * connect, live resharding); like every 400, the client stops.
   */
  HANDOFF_INVALID: "handoff_invalid",
  // Client-side codes (never on the wire).
  /** getToken threw, returned nothing, or its fresh token was rejected at once. */
  TOKEN_REFUSED: "token_refused",
  /** getToken did not answer within getTokenTimeoutMs; the client retries with backoff. */
  TOKEN_TIMEOUT: "token_timeout",
  /** The map could not be loaded or parsed. */
  MAP_UNAVAILABLE: "map_unavailable",
  /** The forced transport (or every transport) is blocked; the client keeps retrying. */
  TRANSPORT_UNAVAILABLE: "transport_unavailable",
  /** A frame or body that is not the protocol's JSON. */
  PROTOCOL_ERROR: "protocol_error",
  /** The connection dropped; the client reconnects with backoff. */
  CONNECTION_LOST: "connection_lost",
});

/** Event types (docs/protocol.md, "Events"). */
export const EventType = Object.freeze({
  HELLO: "hello",
  MESSAGE: "message",
  RESET: "reset",
  MOVED: "moved",
  RECONNECT: "reconnect",
  PING: "ping",
  DISCONNECT: "disconnect",
  /** The token ends now: SSE and long-poll send it before their response ends (WebSocket: 4001). */
  TOKEN_EXPIRED: "token_expired",
});

/** Transport names, in the default fallback order. */
export const TRANSPORTS = Object.freeze(["websocket", "sse", "longpoll"]);

/**
 * What the client does next. `stop`: end for good and report; `token`: get a new token, then
 * reconnect; `moved`: fetch the map and go to the new owner; `reconnect`: wait the server's delay;
 * `backoff`: wait a full-jitter delay, then reconnect and resume; `probe`: the WebSocket never
 * opened and the browser does not say why, so ask the node over plain HTTP.
 */
export const Action = Object.freeze({
  STOP: "stop",
  TOKEN: "token",
  MOVED: "moved",
  RECONNECT: "reconnect",
  BACKOFF: "backoff",
  PROBE: "probe",
});

const CLOSE_ACTIONS = new Map([
  [CloseCode.NORMAL, Action.STOP],
  [CloseCode.BAD_REQUEST, Action.STOP],
  [CloseCode.UNAUTHORIZED, Action.TOKEN],
  [CloseCode.FORBIDDEN, Action.STOP],
  [CloseCode.SLOW_CONSUMER, Action.BACKOFF],
  [CloseCode.PROTOCOL_ERROR, Action.BACKOFF],
  [CloseCode.INVALID_PAYLOAD, Action.BACKOFF],
  [CloseCode.MESSAGE_TOO_BIG, Action.BACKOFF],
  [CloseCode.MOVED, Action.MOVED],
  [CloseCode.RECONNECT, Action.RECONNECT],
  [CloseCode.SERVER_ERROR, Action.BACKOFF],
  [CloseCode.TOO_MANY_CONNECTIONS, Action.BACKOFF],
  [CloseCode.DISCONNECTED, Action.STOP],
  [CloseCode.USER_BLOCKED, Action.STOP],
  [CloseCode.TOKEN_REVOKED, Action.TOKEN],
]);

/** The action for a `disconnect` event's code: only a revoked token is worth a new attempt. */
export function actionForDisconnect(code) {
  return code === ErrorCode.TOKEN_REVOKED ? Action.TOKEN : Action.STOP;
}

/** The action for a WebSocket close code; unknown codes reconnect with backoff. */
export function actionForClose(code) {
  return CLOSE_ACTIONS.get(code) ?? Action.BACKOFF;
}

/** The action for an HTTP error status at connect time (SSE, long-poll, the WebSocket probe). */
export function actionForStatus(status) {
  if (status === 401) return Action.TOKEN;
  if (status === 421) return Action.MOVED;
  if (status === 429 || status === 503 || status >= 500) return Action.BACKOFF;
  return Action.STOP; // 400, 403, 404, 405, 413: retrying cannot help
}
