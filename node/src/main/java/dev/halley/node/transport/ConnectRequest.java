package dev.halley.node.transport;

import dev.halley.node.auth.Bearer;
import dev.halley.node.auth.TokenVerifier;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Params;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.HttpString;
import java.util.Deque;

/**
 * The checks every browser transport runs before it connects: the token (header or {@code
 * ?token=}), ownership of its user, and the resume point ({@code lastEventId}, or SSE's {@code
 * Last-Event-ID} header, which wins).
 */
public record ConnectRequest(TokenVerifier.Principal principal, EventCodec.EventId resume) {
  private static final HttpString LAST_EVENT_ID = new HttpString(Params.HEADER_LAST_EVENT_ID);

  /**
   * Verifies the request.
   *
   * @throws HttpError 400, 401 or 421
   */
  public static ConnectRequest read(
      HttpServerExchange exchange, NodeContext node, boolean sseHeader) {
    node.ops.checkNew(exchange);
    String token = Bearer.credential(exchange);
    if (token == null) {
      token = query(exchange, Params.TOKEN);
    }
    TokenVerifier.Principal principal = node.tokens.verify(token);
    node.requireOwner(principal.user());
    String last = null;
    if (sseHeader) {
      last = exchange.getRequestHeaders().getFirst(LAST_EVENT_ID);
    }
    if (last == null || last.isEmpty()) {
      last = query(exchange, Params.LAST_EVENT_ID);
    }
    EventCodec.EventId resume = last == null || last.isEmpty() ? null : EventCodec.parseId(last);
    node.ops.admit(exchange, principal.user());
    return new ConnectRequest(principal, resume);
  }

  /** A single query parameter; a repeated one is a 400. */
  public static String query(HttpServerExchange exchange, String name) {
    Deque<String> values = exchange.getQueryParameters().get(name);
    if (values == null || values.isEmpty()) {
      return null;
    }
    if (values.size() > 1) {
      throw HttpError.badRequest("query parameter " + name + " is repeated");
    }
    return values.getFirst();
  }
}
