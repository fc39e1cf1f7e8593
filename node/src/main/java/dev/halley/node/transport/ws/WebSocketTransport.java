package dev.halley.node.transport.ws;

import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.StreamingReplay;
import dev.halley.node.transport.ConnectRequest;
import dev.halley.node.wire.CloseCodes;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.AttachmentKey;
import io.undertow.websockets.WebSocketConnectionCallback;
import io.undertow.websockets.WebSocketProtocolHandshakeHandler;
import io.undertow.websockets.core.AbstractReceiveListener;
import io.undertow.websockets.core.BufferedTextMessage;
import io.undertow.websockets.core.WebSocketChannel;
import io.undertow.websockets.spi.WebSocketHttpExchange;

/**
 * {@code GET /v1/ws}: checks the token, ownership and resume point as plain HTTP (so failures are
 * JSON errors, never a half-open socket), then upgrades and attaches a {@link WsConnection} that
 * starts with {@code hello} and the replay. The Origin was checked by {@link
 * dev.halley.node.http.CorsHandler}.
 */
public final class WebSocketTransport implements HttpHandler {
  private static final AttachmentKey<ConnectRequest> REQUEST =
      AttachmentKey.create(ConnectRequest.class);
  private static final int MAX_CLIENT_FRAME_BYTES = 4096;

  private final NodeContext node;
  private final HttpHandler handshake;

  public WebSocketTransport(NodeContext node) {
    this.node = node;
    this.handshake = new WebSocketProtocolHandshakeHandler(new Callback());
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    exchange.putAttachment(REQUEST, ConnectRequest.of(exchange));
    handshake.handleRequest(exchange);
  }

  private final class Callback implements WebSocketConnectionCallback {
    @Override
    public void onConnect(WebSocketHttpExchange exchange, WebSocketChannel channel) {
      ConnectRequest req = exchange.getAttachment(REQUEST);
      if (req == null) {
        // Not one of ours (the handshake handler was reached directly): refuse.
        org.xnio.IoUtils.safeClose(channel);
        return;
      }
      WsConnection conn =
          node.openStream(
                  req.principal(),
                  req.resume(),
                  stream -> {
                    WsConnection c =
                        new WsConnection(
                            stream,
                            channel,
                            node.codec,
                            node.config.connectionQueueMaxEvents(),
                            node.config.heartbeatMs());
                    c.operations(node.ops, node.ops.config().connectionQueueMaxBytes());
                    return new StreamingReplay<>(c, null, node::hello);
                  })
              .connection();
      channel.addCloseTask(ch -> conn.close(CloseCodes.NORMAL, "closed"));
      channel.getReceiveSetter().set(new Receiver());
      channel.resumeReceives();
      conn.start();
      node.access.opened(conn, req.principal());
      conn.closeAtTokenExpiry(req.principal().validUntilMs(), node.clock.millis());
    }
  }

  /** Client frames carry nothing the node needs; they are read and dropped. */
  private static final class Receiver extends AbstractReceiveListener {
    @Override
    protected void onFullTextMessage(WebSocketChannel channel, BufferedTextMessage message) {}

    @Override
    protected long getMaxTextBufferSize() {
      return MAX_CLIENT_FRAME_BYTES;
    }

    @Override
    protected long getMaxBinaryBufferSize() {
      return MAX_CLIENT_FRAME_BYTES;
    }
  }

  @Override
  public String toString() {
    return "WebSocketTransport(GET /v1/ws)";
  }
}
