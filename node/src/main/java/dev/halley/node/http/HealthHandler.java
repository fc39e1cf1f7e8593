package dev.halley.node.http;

import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.nio.charset.StandardCharsets;

/**
 * {@code GET /healthz}: liveness, {@code 200 {"status": "up"}} as long as the listener answers.
 *
 * <pre>{@code
 * HttpHandler h = new HealthHandler();   // mounted by OperationsHandler on the internal listener
 * }</pre>
 *
 * <p>No API key, no blocking, runs on the IO thread. Other methods than GET/HEAD get 405.
 */
public final class HealthHandler implements HttpHandler {
  private static final byte[] UP = "{\"status\":\"up\"}".getBytes(StandardCharsets.UTF_8);

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    if (!OperationsHandler.allowGet(exchange)) {
      return;
    }
    Json.send(exchange, 200, UP);
  }

  @Override
  public String toString() {
    return "HealthHandler{GET /healthz}";
  }
}
