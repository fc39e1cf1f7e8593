package dev.halley.node.http;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.RequestTooBigException;
import java.io.IOException;

/**
 * In front of every handler of a listener: a request with a chunked body is decoded by {@link
 * ChunkedBody} (strict framing, the body limit checked against the sizes announced), and a framing
 * error in what arrived with the head is answered 400 {@code bad_request} at once, before routing,
 * and the connection closes; sizes there that announce more than {@code maxBodyBytes} are answered
 * 413 {@code payload_too_large} at once (then drained while the client still sends, as {@link
 * BodyReader} does). Framing errors found later reach whoever reads the body (publish and the admin
 * map answer 400, a handler that answered without reading has its connection closed).
 */
public final class ChunkedFraming implements HttpHandler {
  private final long maxBodyBytes;
  private final int maxLineBytes;
  private final HttpHandler next;

  /**
   * {@code maxBodyBytes}: no body may announce more; {@code maxLineBytes}: the longest chunk-size
   * line (with extensions) and trailer section.
   */
  public ChunkedFraming(long maxBodyBytes, int maxLineBytes, HttpHandler next) {
    this.maxBodyBytes = maxBodyBytes;
    this.maxLineBytes = maxLineBytes;
    this.next = next;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    IOException e = ChunkedBody.install(exchange, maxBodyBytes, maxLineBytes);
    if (e instanceof RequestTooBigException) {
      BodyReader.refuse(exchange, maxBodyBytes); // 413, then drains while the client sends
      return;
    }
    if (e != null) {
      exchange.setPersistent(false);
      Json.sendError(exchange, 400, ErrorCodes.BAD_REQUEST, e.getMessage());
      return;
    }
    next.handleRequest(exchange);
  }

  @Override
  public String toString() {
    return "ChunkedFraming -> " + next;
  }
}
