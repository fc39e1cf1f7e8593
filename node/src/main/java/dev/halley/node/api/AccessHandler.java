package dev.halley.node.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.RequestTooBigException;
import java.util.Set;

/**
 * {@code POST /v1/users/{user}/disconnect|block|unblock|revoke} and {@code GET
 * /v1/users/{user}/access}: the access calls of docs/protocol.md for a user this node owns, or that
 * the pending map brings here (issue 14: a dual-mode publisher's block must hold on the new owner
 * after the cut-over; 421 otherwise). Replies {@code {"user", "node", "disconnected": n,
 * "blockedUntil", "revokedBefore", "revokedJtis"}}. Bodies are small JSON objects (at most 4096
 * bytes), read without blocking.
 */
public final class AccessHandler implements HttpHandler {
  private static final Set<String> ACTIONS = Set.of("disconnect", "block", "unblock", "revoke");
  private static final long MAX_BODY_BYTES = 4096;

  private final NodeContext node;

  public AccessHandler(NodeContext node) {
    this.node = node;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    UserPath path;
    try {
      path = UserPath.parse(exchange);
      if (exchange.getRequestMethod().toString().equals("GET")) {
        if (!path.rest().equals("access")) {
          throw new HttpError(404, ErrorCodes.NOT_FOUND, "no such path");
        }
        node.requireOwnerOrGainer(path.user());
        ObjectNode reply = node.access.describe(path.user());
        reply.put("node", node.nodeId);
        node.pendingMapVersion(reply);
        Json.send(exchange, 200, reply);
        return;
      }
      if (!ACTIONS.contains(path.rest())) {
        throw new HttpError(404, ErrorCodes.NOT_FOUND, "no such path");
      }
      node.requireOwnerOrGainer(path.user());
      if (exchange.getRequestContentLength() > MAX_BODY_BYTES) {
        throw tooLarge();
      }
    } catch (HttpError e) {
      Json.sendError(exchange, e);
      return;
    }
    exchange.setMaxEntitySize(MAX_BODY_BYTES);
    UserPath p = path;
    exchange
        .getRequestReceiver()
        .receiveFullBytes(
            (ex, body) -> apply(ex, p, body),
            (ex, e) -> {
              ex.setPersistent(false);
              Json.sendError(
                  ex,
                  e instanceof RequestTooBigException
                      ? tooLarge()
                      : new HttpError(400, ErrorCodes.BAD_REQUEST, "could not read the body"));
            });
  }

  private void apply(HttpServerExchange exchange, UserPath path, byte[] body) {
    try {
      JsonNode json = null;
      if (body.length > 0) {
        try {
          json = Json.MAPPER.readTree(body);
        } catch (java.io.IOException e) {
          throw new HttpError(400, ErrorCodes.INVALID_JSON, "the body is not JSON");
        }
      }
      int ended = node.access.apply(path.user(), path.rest(), json);
      ObjectNode reply = node.access.describe(path.user());
      reply.put("node", node.nodeId);
      reply.put("disconnected", ended);
      node.pendingMapVersion(reply);
      Json.send(exchange, 200, reply);
    } catch (HttpError e) {
      Json.sendError(exchange, e);
    }
  }

  private static HttpError tooLarge() {
    return new HttpError(
        413,
        ErrorCodes.PAYLOAD_TOO_LARGE,
        "the body is over the limit of " + MAX_BODY_BYTES + " bytes");
  }

  @Override
  public String toString() {
    return "AccessHandler(POST /v1/users/{user}/disconnect|block|unblock|revoke, GET .../access)";
  }
}
