package dev.halley.node.transport.ws;

import dev.halley.node.stream.Connection;
import dev.halley.node.stream.UserStream;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.EventCodec;
import io.undertow.connector.PooledByteBuffer;
import io.undertow.websockets.core.WebSocketCallback;
import io.undertow.websockets.core.WebSocketChannel;
import io.undertow.websockets.core.WebSockets;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.xnio.IoUtils;

/**
 * A WebSocket connection: one text frame per event, at most {@link #MAX_IN_FLIGHT} frames handed to
 * Undertow at a time (the rest wait as references in the bounded queue), a {@code ping} event every
 * heartbeat.
 *
 * <p>Memory (issue 11 item 5): a frame in flight holds one pooled buffer (16 KiB) or, for an event
 * larger than that, its own heap copy; both are counted as {@link #pinned pinned} bytes against
 * {@code connectionQueueMaxBytes} until Undertow reports the frame written, so a stalled connection
 * holds at most {@link #MAX_IN_FLIGHT} buffers and at most the byte bound plus one frame.
 */
final class WsConnection extends Connection {
  static final int MAX_IN_FLIGHT = 4;

  /** How long the peer has to take our close frame before the socket is cut, milliseconds. */
  static final long CLOSE_GRACE_MS = 5_000;

  private final WebSocketChannel channel;
  private final EventCodec codec;
  private final long heartbeatMs;
  private final WebSocketCallback<Void> sent = new Sent();
  // IO thread only.
  private int inFlight;
  private boolean flushing;
  // The pinned bytes of each frame in flight, oldest first (Undertow completes them in order).
  private final long[] inFlightBytes = new long[MAX_IN_FLIGHT];
  private int oldestInFlight;

  WsConnection(
      UserStream stream, WebSocketChannel channel, EventCodec codec, int maxQueued, long hbMs) {
    super(stream, channel.getIoThread(), maxQueued);
    this.channel = channel;
    this.codec = codec;
    this.heartbeatMs = hbMs;
  }

  @Override
  public String transport() {
    return "ws";
  }

  /** IO thread: starts heartbeats. */
  void start() {
    startHeartbeats(heartbeatMs);
  }

  @Override
  protected void flush() {
    if (flushing) {
      return;
    }
    flushing = true;
    try {
      while (true) {
        // Frames queued in this round go out together in one gathering write: explicit-flush
        // mode only while we queue, so Undertow's own frames (pong, close) flush as usual.
        boolean queued = false;
        channel.setRequireExplicitFlush(true);
        try {
          while (inFlight < MAX_IN_FLIGHT && !isClosed() && poll()) {
            queued = true;
            send(codec.jsonSize(polledSeq, polledItem));
          }
        } finally {
          channel.setRequireExplicitFlush(false);
        }
        if (!queued) {
          break;
        }
        channel.flush(); // completions inside it free slots: go round again
        if (inFlight >= MAX_IN_FLIGHT) {
          break; // the rest goes when Undertow reports sent frames (Sent.complete)
        }
      }
      if (inFlight == 0) {
        closeIfFinished();
      }
    } finally {
      flushing = false;
    }
  }

  /** Queues the polled event as one text frame (a pooled buffer unless it is larger). */
  private void send(int size) {
    PooledByteBuffer pooled = channel.getBufferPool().allocate();
    ByteBuffer b = pooled.getBuffer();
    if (b.capacity() >= size) {
      b.clear();
      codec.putJson(b, polledSeq, polledItem);
      b.flip();
      inFlight(b.capacity());
      WebSockets.sendText(pooled, channel, sent);
    } else {
      pooled.close();
      ByteBuffer big = ByteBuffer.allocate(size);
      codec.putJson(big, polledSeq, polledItem);
      big.flip();
      inFlight(size);
      WebSockets.sendText(big, channel, sent);
    }
  }

  private void inFlight(long bytes) {
    inFlightBytes[(oldestInFlight + inFlight) % MAX_IN_FLIGHT] = bytes;
    inFlight++;
    pinned(bytes);
  }

  private void written() {
    if (inFlight == 0) {
      return;
    }
    pinned(-inFlightBytes[oldestInFlight]);
    oldestInFlight = (oldestInFlight + 1) % MAX_IN_FLIGHT;
    inFlight--;
  }

  private final class Sent implements WebSocketCallback<Void> {
    @Override
    public void complete(WebSocketChannel ch, Void context) {
      written();
      flushGuarded();
    }

    @Override
    public void onError(WebSocketChannel ch, Void context, Throwable t) {
      written();
      close(CloseCodes.SERVER_ERROR, "write failed");
    }
  }

  @Override
  protected void closeTransport(int code, String reason) {
    clearQueue();
    if (!channel.isOpen() || channel.isCloseFrameSent()) {
      return;
    }
    if (channel.isCloseFrameReceived()) {
      IoUtils.safeClose(channel);
      return;
    }
    WebSockets.sendClose(
        code,
        reason,
        channel,
        new WebSocketCallback<Void>() {
          @Override
          public void complete(WebSocketChannel ch, Void context) {}

          @Override
          public void onError(WebSocketChannel ch, Void context, Throwable t) {
            IoUtils.safeClose(ch);
          }
        });
    // A client that does not read may never take the close frame: cut the socket after a grace.
    channel
        .getIoThread()
        .executeAfter(() -> IoUtils.safeClose(channel), CLOSE_GRACE_MS, TimeUnit.MILLISECONDS);
  }
}
