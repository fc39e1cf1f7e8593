/**
 * An error the client reports through its `error` listeners (and on `disconnected` states).
 * `code` is an ErrorCode from codes.js, `status` the HTTP status or WebSocket close code when the
 * server sent one, and `fatal` says whether the client stopped (true) or keeps reconnecting.
 */
export class HalleyError extends Error {
  constructor(code, message, { status, fatal = false, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "HalleyError";
    this.code = code;
    this.status = status;
    this.fatal = fatal;
  }
}
