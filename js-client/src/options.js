// The client's options: defaults, checks that name the bad value, and the map and storage inputs.

import { TRANSPORTS } from "./codes.js";
import { backoffOptions } from "./backoff.js";
import { parseMap } from "./map.js";
import { DEFAULT_LONGPOLL_TIMEOUT_MS } from "./transports/longpoll.js";

export const DEFAULTS = Object.freeze({
  helloTimeoutMs: 10000,
  longPollTimeoutMs: DEFAULT_LONGPOLL_TIMEOUT_MS,
  heartbeatMs: 30000,
  maxReconnectDelayMs: 60000,
  getTokenTimeoutMs: 10000,
  rememberTransportMs: 3600000,
  storageKey: "halley.transport",
  conflationIntervalMs: 0,
});

export function toMap(raw) {
  return parseMap(typeof raw === "string" ? raw : JSON.stringify(raw));
}

export function defaultStorage() {
  try {
    return globalThis.sessionStorage ?? undefined;
  } catch {
    return undefined; // storage disabled by the browser's privacy settings
  }
}

export function checkOptions(options) {
  if (options === null || typeof options !== "object")
    throw new TypeError(`options must be an object: ${options}`);
  const {
    userId,
    token,
    getToken,
    map,
    mapUrl,
    getMap,
    transport,
    transports = TRANSPORTS,
  } = options;
  if (typeof userId !== "string" || userId === "")
    throw new TypeError(`userId must be a non-empty string: ${userId}`);
  if (token === undefined && typeof getToken !== "function")
    throw new TypeError("token or getToken is required");
  if (token !== undefined && (typeof token !== "string" || token === ""))
    throw new TypeError(`token must be a non-empty string: ${token}`);
  if (getToken !== undefined && typeof getToken !== "function")
    throw new TypeError(`getToken must be a function: ${getToken}`);
  if (map === undefined && mapUrl === undefined && getMap === undefined)
    throw new TypeError("map, mapUrl or getMap is required");
  if (getMap !== undefined && typeof getMap !== "function")
    throw new TypeError(`getMap must be a function: ${getMap}`);
  if (
    !Array.isArray(transports) ||
    transports.length === 0 ||
    transports.some((t) => !TRANSPORTS.includes(t))
  ) {
    throw new TypeError(
      `transports must be a non-empty list of ${TRANSPORTS.join(", ")}: ${transports}`,
    );
  }
  if (transport !== undefined && !TRANSPORTS.includes(transport))
    throw new TypeError(
      `transport must be one of ${TRANSPORTS.join(", ")}: ${transport}`,
    );
  // An option given as undefined takes its default, like an absent one.
  const given = Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  );
  const o = {
    ...DEFAULTS,
    ...given,
    transports: [...transports],
    backoff: backoffOptions(options.backoff),
  };
  for (const key of [
    "helloTimeoutMs",
    "longPollTimeoutMs",
    "heartbeatMs",
    "maxReconnectDelayMs",
    "getTokenTimeoutMs",
    "rememberTransportMs",
  ]) {
    if (!Number.isFinite(o[key]) || o[key] <= 0)
      throw new TypeError(`${key} must be a number > 0: ${o[key]}`);
  }
  // The frequency limit (docs/protocol.md): a poll answer waits for it, so it must end before the
  // connect times out.
  if (
    !Number.isInteger(o.conflationIntervalMs) ||
    o.conflationIntervalMs < 0 ||
    o.conflationIntervalMs >= o.helloTimeoutMs
  )
    throw new TypeError(
      `conflationIntervalMs must be an integer >= 0 and < helloTimeoutMs: ${o.conflationIntervalMs}`,
    );
  return o;
}
