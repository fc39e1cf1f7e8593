package dev.halley.node.http;

import dev.halley.node.wire.ErrorCodes;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import io.undertow.util.Methods;

/**
 * {@code GET} and {@code HEAD} take no body on any route of the node (transports, the map, /js/,
 * presence, health, metrics): a request that announces one ({@code Content-Length} above 0 or
 * {@code Transfer-Encoding}) is answered 400 {@code bad_request} with {@code Connection: close} at
 * once, before routing, instead of being served while its body is held until {@code
 * requestBodyTimeoutMs}. What the client sends of the body is then read and dropped (at most {@link
 * #DRAIN_LIMIT_BYTES}, and only while it keeps arriving) so it receives the 400 rather than a
 * reset, and the connection closes. IO thread.
 */
public final class NoBodyOnGet implements HttpHandler {
  /** Bytes of a refused GET body read and dropped before the connection is cut. */
  static final long DRAIN_LIMIT_BYTES = 64 * 1024;

  private final HttpHandler next;

  public NoBodyOnGet(HttpHandler next) {
    this.next = next;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    var method = exchange.getRequestMethod();
    if ((method.equals(Methods.GET) || method.equals(Methods.HEAD)) && hasBody(exchange)) {
      BodyReader.refuseAndClose(
          exchange,
          400,
          ErrorCodes.BAD_REQUEST,
          method + " takes no request body (Content-Length or Transfer-Encoding was sent)",
          DRAIN_LIMIT_BYTES);
      return;
    }
    next.handleRequest(exchange);
  }

  private static boolean hasBody(HttpServerExchange exchange) {
    var headers = exchange.getRequestHeaders();
    return headers.contains(Headers.TRANSFER_ENCODING) || exchange.getRequestContentLength() > 0;
  }

  @Override
  public String toString() {
    return "NoBodyOnGet -> " + next;
  }
}
