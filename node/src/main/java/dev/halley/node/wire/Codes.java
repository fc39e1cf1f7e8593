package dev.halley.node.wire;

/**
 * Every wire constant the node uses, in one place (docs/protocol.md is the contract): error codes,
 * WebSocket close codes, event types, paths and header names.
 */
public final class Codes {
  private Codes() {}

  // Error codes (the "error" field of a JSON error body).
  public static final String BAD_REQUEST = "bad_request";
  public static final String INVALID_JSON = "invalid_json";
  public static final String INVALID_FIELD = "invalid_field";
  public static final String UNKNOWN_FIELD = "unknown_field";
  public static final String TOKEN_MISSING = "token_missing";
  public static final String TOKEN_INVALID = "token_invalid";
  public static final String TOKEN_EXPIRED = "token_expired";
  public static final String API_KEY_MISSING = "api_key_missing";
  public static final String API_KEY_INVALID = "api_key_invalid";
  public static final String ORIGIN_FORBIDDEN = "origin_forbidden";
  public static final String NOT_FOUND = "not_found";
  public static final String METHOD_NOT_ALLOWED = "method_not_allowed";
  public static final String PAYLOAD_TOO_LARGE = "payload_too_large";
  public static final String MESSAGE_TOO_LARGE = "message_too_large";
  public static final String TOO_MANY_RECIPIENTS = "too_many_recipients";
  public static final String NOT_OWNER = "not_owner";
  public static final String TOO_MANY_CONNECTIONS = "too_many_connections";
  public static final String RATE_LIMITED = "rate_limited";
  public static final String DRAINING = "draining";
  public static final String NOT_READY = "not_ready";
  public static final String SERVER_ERROR = "server_error";

  // WebSocket close codes.
  public static final int CLOSE_NORMAL = 1000;
  public static final int CLOSE_BAD_REQUEST = 4000;
  public static final int CLOSE_UNAUTHORIZED = 4001;
  public static final int CLOSE_FORBIDDEN = 4003;
  public static final int CLOSE_SLOW_CONSUMER = 4008;
  public static final int CLOSE_MOVED = 4009;
  public static final int CLOSE_RECONNECT = 4010;
  public static final int CLOSE_SERVER_ERROR = 4011;
  public static final int CLOSE_TOO_MANY_CONNECTIONS = 4029;

  // Event types.
  public static final String EVENT_HELLO = "hello";
  public static final String EVENT_MESSAGE = "message";
  public static final String EVENT_RESET = "reset";
  public static final String EVENT_MOVED = "moved";
  public static final String EVENT_RECONNECT = "reconnect";
  public static final String EVENT_PING = "ping";

  // Reset reasons.
  public static final String RESET_GAP = "gap";
  public static final String RESET_EPOCH = "epoch";

  // Publish outcomes.
  public static final String STATUS_ACCEPTED = "accepted";
  public static final String STATUS_DUPLICATE = "duplicate";

  // Query parameters and headers.
  public static final String PARAM_TOKEN = "token";
  public static final String PARAM_LAST_EVENT_ID = "lastEventId";
  public static final String PARAM_TIMEOUT_MS = "timeoutMs";
  public static final String HEADER_LAST_EVENT_ID = "Last-Event-ID";
}
