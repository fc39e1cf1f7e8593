// Decoding of the protocol's JSON events, shared by every transport.

import { EventType } from "./codes.js";

const KNOWN = new Set(Object.values(EventType));

/**
 * Parses one event (a WebSocket frame, an SSE `data:` line, or an element of a long-poll batch).
 * Throws a TypeError naming the problem when it is not a protocol event.
 */
export function parseEvent(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TypeError(`event is not JSON: ${String(text).slice(0, 100)}`);
  }
  return checkEvent(value);
}

/** Checks an already decoded event object. */
export function checkEvent(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `event is not an object: ${JSON.stringify(value)?.slice(0, 100)}`,
    );
  }
  if (typeof value.type !== "string") {
    throw new TypeError(
      `event has no type: ${JSON.stringify(value).slice(0, 100)}`,
    );
  }
  if (
    (value.type === EventType.MESSAGE || value.type === EventType.RESET) &&
    typeof value.id !== "string"
  ) {
    throw new TypeError(
      `${value.type} event has no id: ${JSON.stringify(value).slice(0, 100)}`,
    );
  }
  return value;
}

/** Whether the event type is one this client knows (unknown types are ignored, for forward compatibility). */
export function isKnownEvent(event) {
  return KNOWN.has(event.type);
}

/** `${baseUrl}${path}?token=..&lastEventId=..`, leaving out parameters that are absent. */
export function transportUrl(baseUrl, path, params) {
  // Relative to the base, so a node behind a proxy at https://host/halley/ keeps its prefix.
  const url = new URL(
    path.replace(/^\//, ""),
    baseUrl.endsWith("/") ? baseUrl : baseUrl + "/",
  );
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "")
      url.searchParams.set(key, String(value));
  }
  return url.toString();
}

/** Reads a JSON error body `{error, message}`; never throws. */
export async function readErrorBody(response) {
  try {
    const body = await response.json();
    return body && typeof body === "object" ? body : {};
  } catch {
    return {};
  }
}
