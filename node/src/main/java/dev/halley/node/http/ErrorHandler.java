package dev.halley.node.http;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The outermost handler of each listener: an {@link HttpError} thrown below becomes its JSON error,
 * anything else a logged 500 {@code server_error} (never an HTML page or a hung request).
 */
public final class ErrorHandler implements HttpHandler {
  private static final Logger LOG = LoggerFactory.getLogger(ErrorHandler.class);
  private final HttpHandler next;

  public ErrorHandler(HttpHandler next) {
    this.next = next;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    try {
      next.handleRequest(exchange);
    } catch (HttpError e) {
      Json.sendError(exchange, e);
    } catch (Exception | Error e) {
      LOG.error("request failed: {} {}", exchange.getRequestMethod(), exchange.getRequestPath(), e);
      Json.sendError(exchange, 500, ErrorCodes.SERVER_ERROR, "internal error");
    }
  }

  @Override
  public String toString() {
    return "ErrorHandler -> " + next;
  }
}
