package dev.halley.node.wire;

/**
 * The {@code "error"} field of every JSON error body, {@code {"error": code, "message": text}}
 * (docs/protocol.md, Errors).
 */
public final class ErrorCodes {
  private ErrorCodes() {}

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
  public static final String HEADERS_TOO_LARGE = "headers_too_large";
  public static final String REQUEST_TIMEOUT = "request_timeout";
  public static final String UPGRADE_REQUIRED = "upgrade_required";
  public static final String MESSAGE_TOO_LARGE = "message_too_large";
  public static final String TOO_MANY_RECIPIENTS = "too_many_recipients";
  public static final String NOT_OWNER = "not_owner";
  public static final String MAP_VERSION_CONFLICT = "map_version_conflict";
  public static final String NO_PENDING_MAP = "no_pending_map";
  public static final String TOO_MANY_CONNECTIONS = "too_many_connections";
  public static final String OVER_CAPACITY = "over_capacity";
  public static final String RATE_LIMITED = "rate_limited";
  public static final String DRAINING = "draining";
  public static final String NOT_READY = "not_ready";
  public static final String SERVER_ERROR = "server_error";
  public static final String USER_BLOCKED = "user_blocked";
  public static final String TOKEN_REVOKED = "token_revoked";
  public static final String ACCESS_LIST_FULL = "access_list_full";

  /** A handoff's carried state has a bad signature or is another user's (issue 14). */
  public static final String HANDOFF_INVALID = "handoff_invalid";

  /** The {@code code} of a {@code disconnect} event sent by {@code POST .../disconnect}. */
  public static final String DISCONNECTED = "disconnected";
}
