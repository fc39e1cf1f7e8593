package dev.halley.node.transport.ws;

import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.StreamingReplay;
import dev.halley.node.transport.ConflationInterval;
import dev.halley.node.transport.ConnectRequest;
import dev.halley.node.transport.ConnectionSetup;
import dev.halley.node.transport.HandoffWait;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.ServerConnection;
import io.undertow.util.Headers;
import org.xnio.StreamConnection;

/**
 * {@code GET /v1/ws}: checks the token, ownership and resume point as plain HTTP (so failures are
 * JSON errors, never a half-open socket), does the RFC 6455 handshake ({@link WsHandshake}), takes
 * the upgraded socket ({@link WsSocket}: the node frames WebSocket itself, issue 12) and attaches a
 * {@link WsConnection} that starts with {@code hello} and the replay. The Origin was checked by
 * {@link dev.halley.node.http.CorsHandler}.
 *
 * <p>Client frames carry nothing the node needs: {@link WsReader} checks and drops them, and a
 * message over {@code wsClientFrameMaxBytes} closes the connection with 1009 from its frame header,
 * before any of it is read (issue 11 item 4).
 */
public final class WebSocketTransport implements HttpHandler {
  private final NodeContext node;

  public WebSocketTransport(NodeContext node) {
    this.node = node;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    long interval;
    try {
      interval = ConflationInterval.of(exchange, node.config);
    } catch (HttpError e) {
      Json.sendError(exchange, e);
      return;
    }
    String accept = WsHandshake.accept(exchange);
    if (accept == null) {
      return; // answered
    }
    ConnectRequest req = ConnectRequest.of(exchange);
    ServerConnection http = exchange.getConnection();
    exchange.getResponseHeaders().put(Headers.UPGRADE, "websocket");
    exchange.getResponseHeaders().put(Headers.SEC_WEB_SOCKET_ACCEPT, accept);
    exchange.upgradeChannel(
        (StreamConnection socket, HttpServerExchange upgraded) ->
            upgraded(socket, http, req, interval));
    exchange.endExchange();
  }

  /** IO thread: the 101 went out; the socket is the WebSocket's now. */
  private void upgraded(
      StreamConnection connection, ServerConnection http, ConnectRequest req, long interval) {
    UpgradedRequest.release(http); // the upgrade is done: do not keep its request
    WsSocket socket = new WsSocket(connection, node.config.operations().wsClientFrameMaxBytes());
    HandoffWait.run(
        node,
        req,
        connection.getIoThread(),
        (resume, onRelay) -> open(req, socket, resume, onRelay, interval));
  }

  /** Opens the stream and starts the connection; false while a handoff waits for relays. */
  private boolean open(
      ConnectRequest req,
      WsSocket socket,
      dev.halley.node.stream.Handoff.Resume resume,
      Runnable onRelay,
      long interval) {
    if (!socket.isOpen() || socket.closing()) {
      return true; // the client left while its handoff waited
    }
    WsConnection conn;
    try {
      StreamingReplay<WsConnection> replay =
          node.openStream(
              req.principal(),
              req.resume(),
              resume,
              onRelay,
              stream -> {
                WsConnection c =
                    new WsConnection(
                        stream,
                        socket,
                        node.codec,
                        node.config.connectionQueueMaxEvents(),
                        node.config.heartbeatMs());
                return new StreamingReplay<>(
                    ConnectionSetup.configure(node, c, interval), null, node::hello);
              });
      if (replay == null) {
        socket.watchWhileHeld(); // a client that gives up is closed and uncounted at once
        return false;
      }
      conn = replay.connection();
    } catch (HttpError e) {
      // The map changed after the upgrade was admitted, or moved the user away: what a map
      // change tells a registered connection, moved then close 4009, so the client goes to the
      // new owner.
      socket.sendTextAndClose(node.movedEvent(req.principal().user()), CloseCodes.MOVED, "moved");
      return true;
    }
    conn.start();
    ConnectionSetup.opened(node, conn, req.principal(), true);
    return true;
  }

  @Override
  public String toString() {
    return "WebSocketTransport(GET /v1/ws)";
  }
}
