package dev.halley.node.auth;

import io.undertow.server.HttpServerExchange;
import io.undertow.util.HeaderValues;
import io.undertow.util.Headers;

/** Reads the {@code Authorization: Bearer} credential of a request (browser token or API key). */
public final class Bearer {
  private Bearer() {}

  /** The Bearer credential of the Authorization header, or null. */
  public static String credential(HttpServerExchange exchange) {
    HeaderValues auth = exchange.getRequestHeaders().get(Headers.AUTHORIZATION);
    if (auth == null || auth.isEmpty()) {
      return null;
    }
    String v = auth.getFirst().trim();
    if (v.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return v.substring(7).trim();
    }
    return "";
  }
}
