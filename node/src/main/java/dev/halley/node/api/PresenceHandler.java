package dev.halley.node.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.UserStream;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;

/**
 * {@code GET /v1/users/{user}/presence}: {@code {"user", "online", "connections"}}; {@code GET
 * /v1/users/{user}/access} is handed to {@code access}.
 */
public final class PresenceHandler implements HttpHandler {
  private final NodeContext node;
  private final HttpHandler access;

  public PresenceHandler(NodeContext node, HttpHandler access) {
    this.node = node;
    this.access = access;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    try {
      UserPath path = UserPath.parse(exchange);
      if (path.rest().equals("access")) {
        access.handleRequest(exchange);
        return;
      }
      if (!path.rest().equals("presence")) {
        throw new HttpError(404, ErrorCodes.NOT_FOUND, "no such path");
      }
      node.requireOwner(path.user());
      UserStream s = node.streams.get(path.user());
      int n = s == null ? 0 : s.connectionCount();
      ObjectNode reply = Json.MAPPER.createObjectNode();
      reply.put("user", path.user());
      reply.put("online", n > 0);
      reply.put("connections", n);
      Json.send(exchange, 200, reply);
    } catch (HttpError e) {
      Json.sendError(exchange, e);
    }
  }

  @Override
  public String toString() {
    return "PresenceHandler(GET /v1/users/{user}/presence)";
  }
}
