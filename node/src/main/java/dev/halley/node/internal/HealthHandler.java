package dev.halley.node.internal;

import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.nio.charset.StandardCharsets;

/** {@code GET /healthz} and {@code GET /readyz}: {@code 200 {"status": "up"}} while running. */
public final class HealthHandler implements HttpHandler {
  private static final byte[] UP = "{\"status\":\"up\"}".getBytes(StandardCharsets.US_ASCII);

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    Json.send(exchange, 200, UP);
  }

  @Override
  public String toString() {
    return "HealthHandler(GET /healthz, /readyz)";
  }
}
