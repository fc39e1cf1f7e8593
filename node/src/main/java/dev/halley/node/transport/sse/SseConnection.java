package dev.halley.node.transport.sse;

import dev.halley.node.stream.Connection;
import dev.halley.node.stream.UserStream;
import dev.halley.node.transport.HeldRequest;
import dev.halley.node.transport.PeerClose;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.EventCodec;
import io.undertow.connector.PooledByteBuffer;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.ServerConnection;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.xnio.ChannelListener;
import org.xnio.ChannelListeners;
import org.xnio.IoUtils;
import org.xnio.channels.StreamSinkChannel;

/**
 * A Server-Sent Events response: queued events are packed into pooled buffers (many events per
 * write), written without blocking, resumed by the channel's write listener when the socket is
 * full; a {@code : ping} comment every heartbeat.
 */
final class SseConnection extends Connection
    implements ChannelListener<StreamSinkChannel>, ServerConnection.CloseListener {
  private final HttpServerExchange exchange;
  private final StreamSinkChannel sink;
  private final EventCodec codec;
  private final long heartbeatMs;
  // IO thread only.
  private PooledByteBuffer pendingPooled;
  private ByteBuffer pending;
  private boolean hasCarry;
  private long carrySeq;
  private Object carryItem;
  private boolean flushing;

  SseConnection(
      UserStream stream,
      HttpServerExchange exchange,
      StreamSinkChannel sink,
      EventCodec codec,
      int maxQueued,
      long heartbeatMs) {
    super(stream, exchange.getIoThread(), maxQueued);
    this.exchange = exchange;
    this.sink = sink;
    this.codec = codec;
    this.heartbeatMs = heartbeatMs;
  }

  @Override
  public String transport() {
    return "sse";
  }

  /**
   * IO thread: wires the write listener, close detection and heartbeats (this connection is its own
   * write and close listener: no object per listener, issue 12).
   */
  void start() {
    sink.getWriteSetter().set(this);
    exchange.getConnection().addCloseListener(this);
    PeerClose.watch(exchange.getConnection(), false, this);
    startHeartbeats(heartbeatMs);
  }

  /** IO thread: the sink can take more (its write listener). */
  @Override
  public void handleEvent(StreamSinkChannel ch) {
    ch.suspendWrites();
    flush();
  }

  /** The HTTP connection closed, or its peer went away. */
  @Override
  public void closed(ServerConnection connection) {
    close(CloseCodes.NORMAL, "disconnected");
  }

  @Override
  protected void flush() {
    if (flushing || isClosed()) {
      return;
    }
    flushing = true;
    try {
      while (true) {
        if (pending != null) {
          sink.write(pending);
          if (pending.hasRemaining()) {
            sink.resumeWrites();
            return;
          }
          releasePending();
        }
        if (!hasCarry && !poll()) {
          if (!sink.flush()) {
            sink.resumeWrites();
          } else {
            releaseResponseHeaders();
            closeIfFinished();
          }
          return;
        }
        if (!hasCarry) {
          carrySeq = polledSeq;
          carryItem = polledItem;
          hasCarry = true;
        }
        fill();
      }
    } catch (IOException | RuntimeException e) {
      close(CloseCodes.SERVER_ERROR, "write failed");
    } finally {
      flushing = false;
    }
  }

  /** Packs the carried event and as many queued ones as fit into one buffer ({@link #pending}). */
  private void fill() {
    PooledByteBuffer pooled = exchange.getConnection().getByteBufferPool().allocate();
    ByteBuffer b = pooled.getBuffer();
    b.clear();
    int first = codec.sseSize(carrySeq, carryItem);
    if (first > b.capacity()) {
      pooled.close();
      ByteBuffer big = ByteBuffer.allocate(first);
      codec.putSse(big, carrySeq, carryItem);
      big.flip();
      hasCarry = false;
      carryItem = null;
      pending = big;
      return;
    }
    while (true) {
      codec.putSse(b, carrySeq, carryItem);
      hasCarry = false;
      carryItem = null;
      if (!poll()) {
        break;
      }
      carrySeq = polledSeq;
      carryItem = polledItem;
      hasCarry = true;
      if (codec.sseSize(carrySeq, carryItem) > b.remaining()) {
        break;
      }
    }
    b.flip();
    pendingPooled = pooled;
    pending = b;
  }

  /**
   * Everything handed to the sink is written, the response's head with it: Undertow reads the
   * response headers only to write that head (and chose the framing when the sink was created), so
   * the stream does not keep them for its whole life (issue 12).
   */
  private void releaseResponseHeaders() {
    HeldRequest.releaseResponseHead(exchange);
  }

  private void releasePending() {
    if (pendingPooled != null) {
      pendingPooled.close();
      pendingPooled = null;
    }
    pending = null;
  }

  /** SSE has no close code: tell the client before the response ends. */
  @Override
  protected void tokenExpired() {
    finishWithTokenExpired();
  }

  @Override
  protected void closeTransport(int code, String reason) {
    clearQueue();
    releasePending();
    hasCarry = false;
    carryItem = null;
    try {
      sink.shutdownWrites();
      if (!sink.flush()) {
        sink.getWriteSetter()
            .set(
                ChannelListeners.flushingChannelListener(
                    null, (ch, e) -> IoUtils.safeClose(exchange.getConnection())));
        sink.resumeWrites();
      }
    } catch (IOException e) {
      IoUtils.safeClose(exchange.getConnection());
    }
  }
}
