package dev.halley.node.transport.sse;

import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.StreamingReplay;
import dev.halley.node.transport.ConflationInterval;
import dev.halley.node.transport.ConnectRequest;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import io.undertow.util.SameThreadExecutor;
import java.nio.charset.StandardCharsets;
import org.xnio.channels.StreamSinkChannel;

/**
 * {@code GET /v1/sse}: a {@code text/event-stream} response that starts with {@code retry:}, then
 * {@code hello} and the replay or {@code reset}, then live events. Held as a suspended exchange on
 * its IO thread (no thread per connection).
 */
public final class SseTransport implements HttpHandler {
  private static final HttpString X_ACCEL_BUFFERING = new HttpString("X-Accel-Buffering");

  private final NodeContext node;
  private final byte[] retry;

  public SseTransport(NodeContext node) {
    this.node = node;
    this.retry =
        ("retry: " + node.config.sseRetryMs() + "\n\n").getBytes(StandardCharsets.US_ASCII);
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    ConnectRequest req = ConnectRequest.of(exchange);
    long interval;
    try {
      interval = ConflationInterval.of(exchange, node.config);
    } catch (HttpError e) {
      Json.sendError(exchange, e);
      return;
    }
    exchange.setStatusCode(200);
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, "text/event-stream; charset=utf-8");
    exchange.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-cache");
    exchange.getResponseHeaders().put(X_ACCEL_BUFFERING, "no");
    exchange.setPersistent(false);
    exchange.dispatch(SameThreadExecutor.INSTANCE, () -> connect(exchange, req, interval));
  }

  private void connect(HttpServerExchange exchange, ConnectRequest req, long interval) {
    // Taken once, and only when the stream opens: a 421 below still needs the response sender.
    StreamSinkChannel[] sink = {null};
    SseConnection conn;
    try {
      conn =
          node.openStream(
                  req.principal(),
                  req.resume(),
                  stream -> {
                    if (sink[0] == null) {
                      sink[0] = exchange.getResponseChannel();
                    }
                    SseConnection c =
                        new SseConnection(
                            stream,
                            exchange,
                            sink[0],
                            node.codec,
                            node.config.connectionQueueMaxEvents(),
                            node.config.heartbeatMs());
                    c.operations(node.ops, node.config.connectionQueueMaxBytes());
                    c.keyInterval(interval);
                    return new StreamingReplay<>(c, retry, node::hello);
                  })
              .connection();
    } catch (HttpError e) {
      Json.sendError(exchange, e); // the map changed since admission: 421 naming the new owner
      return;
    }
    conn.start();
    node.access.opened(conn, req.principal());
    conn.closeAtTokenExpiry(req.principal().validUntilMs(), node.clock.millis());
  }

  @Override
  public String toString() {
    return "SseTransport(GET /v1/sse)";
  }
}
