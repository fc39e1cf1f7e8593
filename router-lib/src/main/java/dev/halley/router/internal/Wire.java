package dev.halley.router.internal;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;

/** Paths, codes and reply fields of a node's internal listener (docs/protocol.md). */
public final class Wire {
  public static final String PUBLISH_PATH = "/v1/publish";
  public static final String PENDING_MAP_PATH = "/v1/admin/map/pending";

  // Our own failure reasons (the node's error codes are passed through as they are).
  public static final String SERVER_ERROR = "server_error";
  public static final String MISDIRECTED = "misdirected";
  public static final String BACKLOG_FULL = "backlog_full";
  public static final String NO_NODE = "no_node";
  public static final String BAD_REPLY = "bad_reply";

  private Wire() {}

  /** The {@code error} code of an error body, or {@code http_<status>} when there is none. */
  public static String errorCode(JsonNode body, int status) {
    if (body != null && body.path("error").isTextual()) {
      return body.get("error").asText();
    }
    return "http_" + status;
  }

  public static String errorMessage(JsonNode body, int status) {
    if (body != null && body.path("message").isTextual()) {
      return body.get("message").asText();
    }
    return "HTTP " + status;
  }

  /** {@code base + path}, where base may carry a path prefix with or without a trailing slash. */
  public static URI resolve(URI base, String path) {
    String b = base.toString();
    if (b.endsWith("/")) {
      b = b.substring(0, b.length() - 1);
    }
    return URI.create(b + path);
  }

  /** One percent-encoded path segment (a {@code /} in a channel name becomes {@code %2F}). */
  public static String segment(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
