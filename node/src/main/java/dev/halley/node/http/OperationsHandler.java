package dev.halley.node.http;

import dev.halley.node.admission.Readiness;
import dev.halley.node.metrics.NodeMetrics;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.HttpString;
import io.undertow.util.Methods;
import java.util.Objects;

/**
 * Serves the operations endpoints of the internal listener ({@code /healthz}, {@code /readyz},
 * {@code /metrics}) without an API key, and hands every other request to {@code next}.
 *
 * <pre>{@code
 * HttpHandler internal = new OperationsHandler(apiKeyCheckedRoutes, readiness, metrics);
 * }</pre>
 *
 * <p>Wrap it outside the API-key check. Runs on the IO thread; {@link MetricsHandler} dispatches
 * itself to a worker.
 */
public final class OperationsHandler implements HttpHandler {
  private final HttpHandler next;
  private final HttpHandler health;
  private final HttpHandler ready;
  private final HttpHandler metrics;

  public OperationsHandler(HttpHandler next, Readiness readiness, NodeMetrics metrics) {
    this.next = Objects.requireNonNull(next, "next");
    this.health = new HealthHandler();
    this.ready = new ReadinessHandler(readiness);
    this.metrics = new MetricsHandler(metrics);
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    switch (exchange.getRelativePath()) {
      case "/healthz" -> health.handleRequest(exchange);
      case "/readyz" -> ready.handleRequest(exchange);
      case "/metrics" -> metrics.handleRequest(exchange);
      default -> next.handleRequest(exchange);
    }
  }

  /** True for GET and HEAD; otherwise answers 405 {@code method_not_allowed} and returns false. */
  static boolean allowGet(HttpServerExchange exchange) {
    HttpString m = exchange.getRequestMethod();
    if (Methods.GET.equals(m) || Methods.HEAD.equals(m)) {
      return true;
    }
    exchange.getResponseHeaders().put(io.undertow.util.Headers.ALLOW, "GET, HEAD");
    Json.sendError(
        exchange,
        new HttpError(
            405,
            ErrorCodes.METHOD_NOT_ALLOWED,
            m + " is not allowed on " + exchange.getRequestPath()));
    return false;
  }

  @Override
  public String toString() {
    return "OperationsHandler{/healthz, /readyz, /metrics, next=" + next + "}";
  }
}
