package dev.halley.node.transport.sse;

import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.StreamingReplay;
import dev.halley.node.transport.ConflationInterval;
import dev.halley.node.transport.ConnectRequest;
import dev.halley.node.transport.ConnectionSetup;
import dev.halley.node.transport.HandoffWait;
import dev.halley.node.transport.HeldRequest;
import dev.halley.node.transport.PeerClose;
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
    exchange.setStatusCode(200);
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, "text/event-stream; charset=utf-8");
    exchange.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-cache");
    exchange.getResponseHeaders().put(X_ACCEL_BUFFERING, "no");
    exchange.setPersistent(false);
    long interval;
    try {
      interval = ConflationInterval.of(exchange, node.config);
    } catch (HttpError e) {
      Json.sendError(exchange, e);
      return;
    }
    exchange.dispatch(SameThreadExecutor.INSTANCE, () -> connect(exchange, req, interval));
  }

  private void connect(HttpServerExchange exchange, ConnectRequest req, long interval) {
    // Taken once, and only when the stream opens: a 421 below still needs the response sender.
    // Shared by the attempts of a handoff that waits (the channel can be taken only once).
    StreamSinkChannel[] sink = {null};
    HandoffWait.run(
        node,
        req,
        exchange.getIoThread(),
        (resume, onRelay) -> open(exchange, req, resume, onRelay, sink, interval));
  }

  /** Opens the stream and starts the response; false while a handoff waits for relays. */
  private boolean open(
      HttpServerExchange exchange,
      ConnectRequest req,
      dev.halley.node.stream.Handoff.Resume resume,
      Runnable onRelay,
      StreamSinkChannel[] sink,
      long interval) {
    if (exchange.isComplete() || !exchange.getConnection().isOpen()) {
      return true; // the client left while its handoff waited
    }
    SseConnection conn;
    try {
      StreamingReplay<SseConnection> replay =
          node.openStream(
              req.principal(),
              req.resume(),
              resume,
              onRelay,
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
                return new StreamingReplay<>(
                    ConnectionSetup.configure(node, c, interval), retry, node::hello);
              });
      if (replay == null) {
        // a client that gives up is closed (its exchange ends, uncounted) at once
        PeerClose.watch(exchange.getConnection(), false, c -> {});
        return false;
      }
      conn = replay.connection();
    } catch (HttpError e) {
      if (e.status() == 421 && node.movedAway(req.principal().user()) && sink[0] == null) {
        // The last map change moved the user away (its stream is gone): moved, never 421.
        byte[] moved = node.movedEvent(req.principal().user());
        exchange
            .getResponseSender()
            .send(
                new String(retry, StandardCharsets.US_ASCII)
                    + "event: "
                    + dev.halley.node.wire.EventTypes.MOVED
                    + "\ndata: "
                    + new String(moved, StandardCharsets.UTF_8)
                    + "\n\n");
        return true;
      }
      Json.sendError(exchange, e); // the map changed since admission: 421 naming the new owner
      return true;
    }
    conn.start();
    ConnectionSetup.opened(node, conn, req.principal(), true);
    HeldRequest.release(exchange);
    return true;
  }

  @Override
  public String toString() {
    return "SseTransport(GET /v1/sse)";
  }
}
