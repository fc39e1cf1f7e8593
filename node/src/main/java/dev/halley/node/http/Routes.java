package dev.halley.node.http;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import io.undertow.util.Methods;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A listener's routing table: exact paths and path prefixes, each with its allowed methods; an
 * unknown path answers 404 {@code not_found}, a known path with another method 405 {@code
 * method_not_allowed} (with {@code Allow}). {@code OPTIONS} is left to the CORS handler in front.
 */
public final class Routes implements HttpHandler {
  private final Map<String, Map<HttpString, HttpHandler>> exact = new LinkedHashMap<>();
  private final List<Map.Entry<String, Map<HttpString, HttpHandler>>> prefixes = new ArrayList<>();

  public Routes exact(String method, String path, HttpHandler handler) {
    exact.computeIfAbsent(path, p -> new LinkedHashMap<>()).put(new HttpString(method), handler);
    return this;
  }

  /** Every path starting with {@code prefix} (which ends with "/"). */
  public Routes prefix(String method, String prefix, HttpHandler handler) {
    for (Map.Entry<String, Map<HttpString, HttpHandler>> e : prefixes) {
      if (e.getKey().equals(prefix)) {
        e.getValue().put(new HttpString(method), handler);
        return this;
      }
    }
    Map<HttpString, HttpHandler> m = new LinkedHashMap<>();
    m.put(new HttpString(method), handler);
    prefixes.add(Map.entry(prefix, m));
    return this;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    String path = exchange.getRequestPath();
    Map<HttpString, HttpHandler> byMethod = exact.get(path);
    if (byMethod == null) {
      for (Map.Entry<String, Map<HttpString, HttpHandler>> e : prefixes) {
        if (path.startsWith(e.getKey()) && path.length() > e.getKey().length()) {
          byMethod = e.getValue();
          break;
        }
      }
    }
    if (byMethod == null) {
      Json.sendError(exchange, 404, ErrorCodes.NOT_FOUND, "no such path: " + abbreviate(path));
      return;
    }
    HttpString method = exchange.getRequestMethod();
    HttpHandler h = byMethod.get(method);
    if (h == null && method.equals(Methods.HEAD)) {
      h = byMethod.get(Methods.GET);
    }
    if (h == null) {
      StringBuilder allow = new StringBuilder();
      for (HttpString m : byMethod.keySet()) {
        allow.append(allow.length() == 0 ? "" : ", ").append(m);
      }
      exchange.getResponseHeaders().put(Headers.ALLOW, allow.toString());
      Json.sendError(
          exchange,
          405,
          ErrorCodes.METHOD_NOT_ALLOWED,
          method + " is not allowed on " + abbreviate(path) + " (allowed: " + allow + ")");
      return;
    }
    h.handleRequest(exchange);
  }

  private static String abbreviate(String s) {
    return s.length() > 100 ? s.substring(0, 100) + "..." : s;
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("Routes{");
    exact.forEach((p, m) -> sb.append(m.keySet()).append(' ').append(p).append(", "));
    prefixes.forEach(
        e -> sb.append(e.getValue().keySet()).append(' ').append(e.getKey()).append("*, "));
    return sb.append('}').toString();
  }
}
