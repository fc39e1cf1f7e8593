// The only export surface of @halley/js-client. Browsers load it from a node at /js/index.js.

import { Client } from "./client.js";

export { Client } from "./client.js";
export { HalleyError } from "./errors.js";
export { CloseCode, ErrorCode, EventType, TRANSPORTS } from "./codes.js";
export { DEFAULT_BACKOFF } from "./backoff.js";
export { owner } from "./hash.js";
export { parseMap } from "./map.js";

/**
 * Creates a client; call `connect()` after adding listeners.
 *
 *   const client = createClient({ mapUrl: "https://a.example.com/v1/map", userId: "alice",
 *                                 getToken: () => fetch("/api/token").then((r) => r.text()) });
 *   client.on("message", (m) => console.log(m.data));
 *   client.connect();
 */
export function createClient(options) {
  return new Client(options);
}
