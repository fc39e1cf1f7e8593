// What the client does after a connection attempt ends: a pure function of the attempt's result,
// plus the helpers that read a moved target and a server error out of it.

import {
  Action,
  CloseCode,
  ErrorCode,
  EventType,
  actionForClose,
  actionForDisconnect,
  actionForStatus,
} from "./codes.js";
import { HalleyError } from "./errors.js";

/** Move to the next transport in the fallback order (an action only the client takes). */
export const FALLBACK = "fallback";

/**
 * What to do after a connection attempt ended. Pure, exported for tests. `result` is a
 * transport's end result plus `ready` (hello seen, or first poll answered), `control` (a `moved` or
 * `reconnect` event seen), `timeout` (no hello in time) or `idle` (no heartbeat in time).
 */
export function decide(result, { forced }) {
  if (result.control?.type === EventType.MOVED) return Action.MOVED;
  if (result.control?.type === EventType.RECONNECT) return Action.RECONNECT;
  if (result.control?.type === EventType.DISCONNECT)
    return actionForDisconnect(result.control.code);
  if (result.control?.type === EventType.TOKEN_EXPIRED) return Action.TOKEN;
  if (result.status !== undefined) return actionForStatus(result.status);
  if (result.code !== undefined) {
    if (result.code === CloseCode.ABNORMAL && !result.opened)
      return Action.PROBE;
    return actionForClose(result.code);
  }
  // Connected at the HTTP level but no hello in time: something on the way buffers the stream.
  if (result.timeout && !result.ready)
    return forced ? Action.BACKOFF : FALLBACK;
  return Action.BACKOFF; // network failure, stream ended, idle, bad frame
}

export function movedTarget(result) {
  if (result.control?.type === EventType.MOVED)
    return { url: result.control.url, mapVersion: result.control.mapVersion };
  const body = result.body ?? {};
  return { url: body.owner?.url, mapVersion: body.mapVersion };
}

export function errorFrom(result) {
  if (result.control?.type === EventType.DISCONNECT) {
    const { code, reason, until } = result.control;
    const error = new HalleyError(
      code ?? ErrorCode.DISCONNECTED,
      reason ?? `the app ended the connection (${code})`,
      { status: result.code, fatal: code !== ErrorCode.TOKEN_REVOKED },
    );
    if (until !== undefined) error.until = until;
    return error;
  }
  if (result.status !== undefined) {
    const body = result.body ?? {};
    const error = new HalleyError(
      body.error ?? `http_${result.status}`,
      body.message ?? `HTTP ${result.status}`,
      { status: result.status },
    );
    if (body.until !== undefined) error.until = body.until;
    return error;
  }
  if (
    result.code !== undefined &&
    result.code !== CloseCode.ABNORMAL &&
    result.code !== CloseCode.NORMAL
  ) {
    return new HalleyError(
      closeCodeName(result.code),
      result.reason || `closed with ${result.code}`,
      { status: result.code },
    );
  }
  if (result.error)
    return new HalleyError(
      ErrorCode.PROTOCOL_ERROR,
      String(result.error?.message ?? result.error),
      { cause: result.error },
    );
  return undefined;
}

function closeCodeName(code) {
  const entry = Object.entries(CloseCode).find(([, value]) => value === code);
  return entry ? entry[0].toLowerCase() : `close_${code}`;
}
