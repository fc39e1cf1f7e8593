package dev.halley.node.api;

import dev.halley.node.cluster.NodeContext;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.nio.charset.StandardCharsets;

/** {@code GET /v1/map}: the public view of the current cluster map (no internal URLs). */
public final class MapHandler implements HttpHandler {
  private final NodeContext node;

  public MapHandler(NodeContext node) {
    this.node = node;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    exchange.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-cache");
    Json.send(exchange, 200, node.map().publicViewJson().getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public String toString() {
    return "MapHandler(GET /v1/map)";
  }
}
