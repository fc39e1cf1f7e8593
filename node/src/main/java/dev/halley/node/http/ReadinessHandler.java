package dev.halley.node.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.admission.Readiness;
import dev.halley.node.metrics.NodeMetrics;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.util.Objects;

/**
 * {@code GET /readyz}: readiness for load balancers and orchestrators; {@code 200 {"status":
 * "ready"}} when the cluster map is loaded and the node is not draining, else {@code 503 {"error":
 * "not_ready"|"draining", "message": ...}}.
 *
 * <pre>{@code
 * HttpHandler h = new ReadinessHandler(readiness);
 * }</pre>
 *
 * <p>No API key, no blocking, runs on the IO thread. Other methods than GET/HEAD get 405.
 */
public final class ReadinessHandler implements HttpHandler {
  private final Readiness readiness;

  public ReadinessHandler(Readiness readiness) {
    this.readiness = Objects.requireNonNull(readiness, "readiness");
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    if (!OperationsHandler.allowGet(exchange)) {
      return;
    }
    String reason = readiness.notReadyReason();
    ObjectNode body = Json.MAPPER.createObjectNode();
    if (reason == null) {
      body.put("status", "ready");
      Json.send(exchange, 200, body);
      return;
    }
    body.put("error", reason);
    body.put(
        "message",
        reason.equals(NodeMetrics.REJECT_DRAINING)
            ? "the node is draining"
            : "the cluster map is not loaded yet");
    Json.send(exchange, 503, body);
  }

  @Override
  public String toString() {
    return "ReadinessHandler{GET /readyz, " + readiness + "}";
  }
}
