package dev.halley.node.http;

import dev.halley.node.metrics.NodeMetrics;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.util.Objects;
import java.util.Optional;

/**
 * {@code GET /metrics}: the node's meters in the Prometheus text format (version 0.0.4).
 *
 * <pre>{@code
 * HttpHandler h = new MetricsHandler(metrics);   // metrics = NodeMetrics.prometheus()
 * }</pre>
 *
 * <p>Served on the internal listener without an API key (docs/operations.md: it carries no user
 * data; keep the internal listener off the public network). Scraping walks every meter, so it is
 * dispatched to a worker thread. Answers 404 {@code not_found} when the registry is not a
 * Prometheus registry, 405 for methods other than GET/HEAD.
 */
public final class MetricsHandler implements HttpHandler {
  static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

  private final NodeMetrics metrics;

  public MetricsHandler(NodeMetrics metrics) {
    this.metrics = Objects.requireNonNull(metrics, "metrics");
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    if (exchange.isInIoThread()) {
      exchange.dispatch(this);
      return;
    }
    if (!OperationsHandler.allowGet(exchange)) {
      return;
    }
    Optional<String> text = metrics.scrape();
    if (text.isEmpty()) {
      Json.sendError(
          exchange,
          new HttpError(404, ErrorCodes.NOT_FOUND, "metrics are not kept in Prometheus format"));
      return;
    }
    exchange.setStatusCode(200);
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, CONTENT_TYPE);
    exchange.getResponseSender().send(text.get());
  }

  @Override
  public String toString() {
    return "MetricsHandler{GET /metrics, " + metrics + "}";
  }
}
