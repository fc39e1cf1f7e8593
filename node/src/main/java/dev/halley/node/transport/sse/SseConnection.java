package dev.halley.node.transport.sse;

import dev.halley.node.stream.Connection;
import dev.halley.node.stream.UserStream;
import dev.halley.node.transport.HeldRequest;
import dev.halley.node.transport.PeerClose;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.EventCodec;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.ServerConnection;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.xnio.ChannelListener;
import org.xnio.ChannelListeners;
import org.xnio.IoUtils;
import org.xnio.channels.StreamSinkChannel;

/**
 * A Server-Sent Events response: queued events are packed into the IO thread's write buffer (many
 * events per write), written without blocking, resumed by the channel's write listener when the
 * socket is full; a {@code : ping} comment every heartbeat.
 *
 * <p>Memory (issue 12): one direct buffer per IO thread ({@link #SCRATCH}), not a pooled buffer per
 * flush: what the socket did not take is copied into {@link #pending} (at most one buffer's worth,
 * or one large event's own array), and no more events are taken until it is written.
 */
final class SseConnection extends Connection
    implements ChannelListener<StreamSinkChannel>, ServerConnection.CloseListener {
  /** Bytes of the IO thread's write buffer; larger events are written from their own array. */
  static final int WRITE_BYTES = 16 * 1024;

  /** Owner: the IO thread that got it (a thread-local); nothing in it outlives one flush. */
  private static final ThreadLocal<ByteBuffer> SCRATCH =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(WRITE_BYTES));

  private final HttpServerExchange exchange;
  private final StreamSinkChannel sink;
  private final EventCodec codec;
  private final long heartbeatMs;
  // IO thread only.
  private ByteBuffer pending; // what the socket did not take (a copy, or a large event's array)
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
          pending = null;
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
          carry();
        }
        ByteBuffer b = fill();
        sink.write(b);
        if (b.hasRemaining()) {
          // Kept until the socket takes it: the thread's buffer is the next flush's.
          pending = b.isDirect() ? ByteBuffer.allocate(b.remaining()).put(b).flip() : b;
          sink.resumeWrites();
          return;
        }
      }
    } catch (IOException | RuntimeException e) {
      close(CloseCodes.SERVER_ERROR, "write failed");
    } finally {
      flushing = false;
    }
  }

  /**
   * Packs the carried event and as many queued ones as fit into the thread's buffer, flipped; an
   * event larger than that buffer goes alone in an array of its size.
   */
  private ByteBuffer fill() {
    int first = codec.sseSize(carrySeq, carryItem);
    if (first > WRITE_BYTES) {
      ByteBuffer big = ByteBuffer.allocate(first);
      codec.putSse(big, carrySeq, carryItem);
      hasCarry = false;
      carryItem = null;
      return big.flip();
    }
    ByteBuffer b = SCRATCH.get();
    b.clear();
    while (true) {
      codec.putSse(b, carrySeq, carryItem);
      hasCarry = false;
      carryItem = null;
      if (!poll()) {
        break;
      }
      carry();
      if (codec.sseSize(carrySeq, carryItem) > b.remaining()) {
        break;
      }
    }
    return b.flip();
  }

  /** The event {@link #poll} took becomes the carried one. */
  private void carry() {
    carrySeq = polledSeq;
    carryItem = polledItem;
    hasCarry = true;
  }

  /**
   * Everything handed to the sink is written, the response's head with it: Undertow reads the
   * response headers only to write that head (and chose the framing when the sink was created), so
   * the stream does not keep them for its whole life (issue 12).
   */
  private void releaseResponseHeaders() {
    HeldRequest.releaseResponseHead(exchange);
  }

  /** SSE has no close code: tell the client before the response ends. */
  @Override
  protected void tokenExpired() {
    finishWithTokenExpired();
  }

  @Override
  protected void closeTransport(int code, String reason) {
    clearQueue();
    pending = null;
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
