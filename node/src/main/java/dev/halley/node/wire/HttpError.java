package dev.halley.node.wire;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request failure that becomes an HTTP status with the JSON body {@code {"error", "message"}}
 * plus optional extra fields (421 adds {@code owner} and {@code mapVersion}).
 */
public final class HttpError extends RuntimeException {
  private final int status;
  private final String code;
  private final ObjectNode extra;

  public HttpError(int status, String code, String message) {
    this(status, code, message, null);
  }

  public HttpError(int status, String code, String message, ObjectNode extra) {
    super(message, null, false, false);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }

  public int status() {
    return status;
  }

  public String code() {
    return code;
  }

  /** The JSON body of this error. */
  public byte[] body() {
    ObjectNode body = Json.MAPPER.createObjectNode();
    body.put("error", code);
    body.put("message", getMessage());
    if (extra != null) {
      body.setAll(extra);
    }
    return Json.bytes(body);
  }

  public static HttpError badRequest(String message) {
    return new HttpError(400, ErrorCodes.BAD_REQUEST, message);
  }

  public static HttpError invalidField(String message) {
    return new HttpError(400, ErrorCodes.INVALID_FIELD, message);
  }
}
