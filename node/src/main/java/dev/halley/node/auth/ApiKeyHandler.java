package dev.halley.node.auth;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;

/**
 * Guards the internal listener: {@code Authorization: Bearer <key>} must match one of the
 * configured keys (several at once, for rotation), compared in constant time; else 401 {@code
 * api_key_missing} or {@code api_key_invalid}.
 */
public final class ApiKeyHandler implements HttpHandler {
  private final byte[][] keys;
  private final HttpHandler next;

  public ApiKeyHandler(List<String> apiKeys, HttpHandler next) {
    this.keys = new byte[apiKeys.size()][];
    for (int i = 0; i < keys.length; i++) {
      keys[i] = apiKeys.get(i).getBytes(StandardCharsets.UTF_8);
    }
    this.next = next;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    String key = Bearer.credential(exchange);
    if (key == null || key.isEmpty()) {
      Json.sendError(
          exchange,
          401,
          ErrorCodes.API_KEY_MISSING,
          "an API key is required (Authorization: Bearer)");
      return;
    }
    byte[] given = key.getBytes(StandardCharsets.UTF_8);
    boolean ok = false;
    for (byte[] k : keys) {
      ok |= MessageDigest.isEqual(k, given);
    }
    if (!ok) {
      Json.sendError(exchange, 401, ErrorCodes.API_KEY_INVALID, "the API key is not valid");
      return;
    }
    next.handleRequest(exchange);
  }

  @Override
  public String toString() {
    return "ApiKeyHandler(" + keys.length + " keys) -> " + next;
  }
}
