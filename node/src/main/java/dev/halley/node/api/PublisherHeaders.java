package dev.halley.node.api;

import dev.halley.node.cluster.Publishers;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.HttpString;
import java.util.Objects;

/**
 * Records the app tier's {@code Halley-Publisher} and {@code Halley-Map-Versions} headers (issue
 * 14; both optional) in {@link Publishers}, then calls {@code next}. A malformed or too long value
 * is a 400 {@code bad_request}; a repeated header too. IO thread, never blocks.
 */
public final class PublisherHeaders implements HttpHandler {
  private static final HttpString PUBLISHER = new HttpString(Publishers.HEADER_PUBLISHER);
  private static final HttpString VERSIONS = new HttpString(Publishers.HEADER_MAP_VERSIONS);

  private final Publishers publishers;
  private final HttpHandler next;

  public PublisherHeaders(Publishers publishers, HttpHandler next) {
    this.publishers = Objects.requireNonNull(publishers, "publishers");
    this.next = Objects.requireNonNull(next, "next");
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    try {
      publishers.record(single(exchange, PUBLISHER), single(exchange, VERSIONS));
    } catch (HttpError e) {
      Json.sendError(exchange, e);
      return;
    }
    next.handleRequest(exchange);
  }

  private static String single(HttpServerExchange exchange, HttpString name) {
    var values = exchange.getRequestHeaders().get(name);
    if (values == null || values.isEmpty()) {
      return null;
    }
    if (values.size() > 1) {
      throw HttpError.badRequest("header " + name + " is repeated");
    }
    return values.getFirst();
  }

  @Override
  public String toString() {
    return "PublisherHeaders -> " + next;
  }
}
