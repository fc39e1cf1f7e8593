package dev.halley.node.transport.ws;

import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.StreamingReplay;
import dev.halley.node.transport.ConflationInterval;
import dev.halley.node.transport.ConnectRequest;
import dev.halley.node.transport.HandoffWait;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.connector.PooledByteBuffer;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.AttachmentKey;
import io.undertow.websockets.WebSocketConnectionCallback;
import io.undertow.websockets.WebSocketProtocolHandshakeHandler;
import io.undertow.websockets.core.AbstractReceiveListener;
import io.undertow.websockets.core.CloseMessage;
import io.undertow.websockets.core.StreamSourceFrameChannel;
import io.undertow.websockets.core.WebSocketCallback;
import io.undertow.websockets.core.WebSocketChannel;
import io.undertow.websockets.core.WebSockets;
import io.undertow.websockets.spi.WebSocketHttpExchange;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.xnio.ChannelListener;
import org.xnio.IoUtils;

/**
 * {@code GET /v1/ws}: checks the token, ownership and resume point as plain HTTP (so failures are
 * JSON errors, never a half-open socket), then upgrades and attaches a {@link WsConnection} that
 * starts with {@code hello} and the replay. The Origin was checked by {@link
 * dev.halley.node.http.CorsHandler}.
 */
public final class WebSocketTransport implements HttpHandler {
  private static final AttachmentKey<Long> INTERVAL = AttachmentKey.create(Long.class);
  private static final AttachmentKey<ConnectRequest> REQUEST =
      AttachmentKey.create(ConnectRequest.class);
  private static final AttachmentKey<io.undertow.server.ServerConnection> HTTP =
      AttachmentKey.create(io.undertow.server.ServerConnection.class);

  private final NodeContext node;
  private final HttpHandler handshake;

  public WebSocketTransport(NodeContext node) {
    this.node = node;
    this.handshake =
        new WebSocketProtocolHandshakeHandler(
            new Callback(),
            ex -> {
              ex.getResponseHeaders().put(io.undertow.util.Headers.UPGRADE, "websocket");
              Json.sendError(
                  ex,
                  426,
                  ErrorCodes.UPGRADE_REQUIRED,
                  "GET /v1/ws needs the WebSocket upgrade headers (Upgrade: websocket, Connection:"
                      + " Upgrade, Sec-WebSocket-Key, Sec-WebSocket-Version: 13)");
            });
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
    exchange.putAttachment(INTERVAL, interval);
    exchange.putAttachment(REQUEST, ConnectRequest.of(exchange));
    exchange.putAttachment(HTTP, exchange.getConnection());
    handshake.handleRequest(exchange);
  }

  private final class Callback implements WebSocketConnectionCallback {
    @Override
    public void onConnect(WebSocketHttpExchange exchange, WebSocketChannel channel) {
      ConnectRequest req = exchange.getAttachment(REQUEST);
      io.undertow.server.ServerConnection http = exchange.getAttachment(HTTP);
      if (http != null) {
        UpgradedRequest.release(http); // the upgrade is done: do not keep its request
      }
      if (req == null) {
        // Not one of ours (the handshake handler was reached directly): refuse.
        org.xnio.IoUtils.safeClose(channel);
        return;
      }
      Long attached = exchange.getAttachment(INTERVAL);
      long interval = attached == null ? 0 : attached;
      HandoffWait.run(
          node,
          req,
          channel.getIoThread(),
          (resume, onRelay) -> open(req, channel, resume, onRelay, interval));
    }

    /** Opens the stream and starts the connection; false while a handoff waits for relays. */
    private boolean open(
        ConnectRequest req,
        WebSocketChannel channel,
        dev.halley.node.stream.Handoff.Resume resume,
        Runnable onRelay,
        long interval) {
      if (!channel.isOpen()) {
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
                          channel,
                          node.codec,
                          node.config.connectionQueueMaxEvents(),
                          node.config.heartbeatMs());
                  c.operations(node.ops, node.config.connectionQueueMaxBytes());
                  c.keyInterval(interval);
                  return new StreamingReplay<>(c, null, node::hello);
                });
        if (replay == null) {
          return false;
        }
        conn = replay.connection();
      } catch (HttpError e) {
        // The map changed after the upgrade was admitted, or moved the user away: what a map
        // change tells a registered connection, moved then close 4009, so the client goes to the
        // new owner.
        WebSockets.sendText(
            java.nio.ByteBuffer.wrap(node.movedEvent(req.principal().user())), channel, null);
        WebSockets.sendClose(CloseCodes.MOVED, "moved", channel, null);
        return true;
      }
      channel.addCloseTask(ch -> conn.close(CloseCodes.NORMAL, "closed"));
      channel
          .getReceiveSetter()
          .set(new Receiver(node.config.operations().wsClientFrameMaxBytes()));
      channel.resumeReceives();
      conn.start();
      node.access.opened(conn, req.principal());
      conn.closeAtTokenExpiry(req.principal().validUntilMs(), node.clock.millis());
      node.ops.finishIfMoved(conn);
      return true;
    }
  }

  /**
   * Client frames carry nothing the node needs: text and binary messages (all their fragments) are
   * read through one pooled buffer and dropped, counting bytes as they arrive, so nothing of them
   * is ever buffered. A message over {@code wsClientFrameMaxBytes} closes the connection with 1009.
   * Undertow's own buffered receive path is not used: it checked the size only on some of its
   * reads, so a frame arriving in pieces could be buffered past any limit (issue 11 item 4).
   * Control frames (ping, pong, close) are at most 125 bytes by the protocol. IO thread only.
   */
  private static final class Receiver extends AbstractReceiveListener {
    private static final int MAX_CONTROL_BYTES = 125;
    private final long maxBytes;

    Receiver(long maxBytes) {
      this.maxBytes = maxBytes;
    }

    @Override
    protected void onText(WebSocketChannel ws, StreamSourceFrameChannel message) {
      new Discard(ws, maxBytes).handleEvent(message);
    }

    @Override
    protected void onBinary(WebSocketChannel ws, StreamSourceFrameChannel message) {
      new Discard(ws, maxBytes).handleEvent(message);
    }

    @Override
    protected long getMaxPingBufferSize() {
      return MAX_CONTROL_BYTES;
    }

    @Override
    protected long getMaxPongBufferSize() {
      return MAX_CONTROL_BYTES;
    }

    @Override
    protected long getMaxCloseBufferSize() {
      return MAX_CONTROL_BYTES;
    }
  }

  /** Reads one message and drops it; closes the connection (1009) once it is over the limit. */
  private static final class Discard implements ChannelListener<StreamSourceFrameChannel> {
    private final WebSocketChannel ws;
    private final long maxBytes;
    private long read;

    Discard(WebSocketChannel ws, long maxBytes) {
      this.ws = ws;
      this.maxBytes = maxBytes;
    }

    @Override
    public void handleEvent(StreamSourceFrameChannel frame) {
      try (PooledByteBuffer pooled = ws.getBufferPool().allocate()) {
        ByteBuffer b = pooled.getBuffer();
        while (true) {
          b.clear();
          int n = frame.read(b);
          if (n < 0) {
            return; // the whole message was read
          }
          if (n == 0) {
            frame.getReadSetter().set(this);
            frame.resumeReads();
            return;
          }
          read += n;
          if (read > maxBytes) {
            frame.suspendReads();
            tooBig();
            return;
          }
        }
      } catch (IOException e) {
        IoUtils.safeClose(ws);
      }
    }

    private void tooBig() {
      ws.suspendReceives();
      WebSockets.sendClose(
          new CloseMessage(
              CloseMessage.MSG_TOO_BIG, "messages to the node are at most " + maxBytes + " bytes"),
          ws,
          new WebSocketCallback<Void>() {
            @Override
            public void complete(WebSocketChannel channel, Void context) {
              IoUtils.safeClose(channel);
            }

            @Override
            public void onError(WebSocketChannel channel, Void context, Throwable t) {
              IoUtils.safeClose(channel);
            }
          });
      ws.getIoThread()
          .executeAfter(
              () -> IoUtils.safeClose(ws), WsConnection.CLOSE_GRACE_MS, TimeUnit.MILLISECONDS);
    }
  }

  @Override
  public String toString() {
    return "WebSocketTransport(GET /v1/ws)";
  }
}
