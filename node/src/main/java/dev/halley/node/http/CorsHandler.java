package dev.halley.node.http;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import io.undertow.util.Methods;

/**
 * CORS for the public listener: a request with an {@code Origin} that is neither on the allow-list
 * nor the node's own origin is refused with 403 {@code origin_forbidden} (this covers WebSocket
 * upgrades); allowed origins get {@code Access-Control-Allow-Origin} ({@link CorsPolicy}, which the
 * 503 of a socket over the limit follows too), and preflights are answered here with 204.
 */
public final class CorsHandler implements HttpHandler {
  private static final HttpString ALLOW_METHODS = new HttpString("Access-Control-Allow-Methods");
  private static final HttpString ALLOW_HEADERS = new HttpString("Access-Control-Allow-Headers");
  private static final HttpString MAX_AGE = new HttpString("Access-Control-Max-Age");
  private static final HttpString REQUEST_METHOD = new HttpString("Access-Control-Request-Method");

  private final HttpHandler next;
  private final CorsPolicy policy;

  public CorsHandler(CorsPolicy policy, HttpHandler next) {
    this.next = next;
    this.policy = policy;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    String origin = exchange.getRequestHeaders().getFirst(Headers.ORIGIN);
    if (origin == null) {
      next.handleRequest(exchange);
      return;
    }
    if (!policy.allows(
        origin, exchange.getRequestScheme(), exchange.getRequestHeaders().getFirst(Headers.HOST))) {
      Json.sendError(
          exchange, 403, ErrorCodes.ORIGIN_FORBIDDEN, "origin not allowed: " + abbreviate(origin));
      return;
    }
    policy.addHeaders(exchange.getResponseHeaders(), origin);
    if (exchange.getRequestMethod().equals(Methods.OPTIONS)
        && exchange.getRequestHeaders().contains(REQUEST_METHOD)) {
      exchange.getResponseHeaders().put(ALLOW_METHODS, "GET, OPTIONS");
      exchange.getResponseHeaders().put(ALLOW_HEADERS, "Authorization, Last-Event-ID");
      exchange.getResponseHeaders().put(MAX_AGE, "600");
      exchange.setStatusCode(204);
      exchange.endExchange();
      return;
    }
    next.handleRequest(exchange);
  }

  private static String abbreviate(String s) {
    return s.length() > 100 ? s.substring(0, 100) + "..." : s;
  }

  @Override
  public String toString() {
    return "CorsHandler(" + policy + ") -> " + next;
  }
}
