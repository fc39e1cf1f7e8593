package dev.halley.node.transport.ws;

import dev.halley.node.stream.Connection;
import dev.halley.node.stream.UserStream;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.Control;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.Message;
import java.nio.ByteBuffer;

/**
 * A WebSocket connection: one text frame per event, a {@code ping} event every heartbeat, written
 * straight onto the upgraded socket ({@link WsSocket}).
 *
 * <p>Each flush takes queued events while they fit in the IO thread's scratch buffer ({@link
 * IoScratch}): the frame header and the per-user part ({@code {"type":"message","id":"<epoch:seq>",
 * "data":}) are encoded there, a small shared body is copied after them, and a large one (over
 * {@link IoScratch#SHARE_ABOVE} bytes) is not copied: a read-only view of the one serialized
 * message every recipient shares goes into the same gathering write (issue 11 item 5). One write
 * per flush; nothing is allocated per event unless the socket does not take everything.
 *
 * <p>Memory: what the socket did not take stays in at most {@link WsSocket#MAX_PENDING} buffers
 * (copies of the per-user parts, the shared bodies by reference), every byte of it counted as
 * {@link #pinned pinned} against {@code connectionQueueMaxBytes}; while any of it is pending no
 * more events are taken from the queue, so a stalled connection pins at most one flush's worth
 * (64 KiB of copies plus the shared bodies it references) besides its queue of references, and is
 * cut as a slow consumer once queue and pinned bytes pass the bound.
 */
final class WsConnection extends Connection implements WsSocket.Owner {
  /** How long the peer has to take our close frame before the socket is cut, milliseconds. */
  static final long CLOSE_GRACE_MS = WsSocket.CLOSE_GRACE_MS;

  private final WsSocket socket;
  private final EventCodec codec;
  private final long heartbeatMs;
  // IO thread only.
  private boolean flushing;

  WsConnection(UserStream stream, WsSocket socket, EventCodec codec, int maxQueued, long hbMs) {
    super(stream, socket.ioThread(), maxQueued);
    this.socket = socket;
    this.codec = codec;
    this.heartbeatMs = hbMs;
    socket.bind(this); // its pinned bytes count from the first frame on
  }

  @Override
  public String transport() {
    return "ws";
  }

  /** IO thread: reads start, then heartbeats. */
  void start() {
    socket.start(this);
    startHeartbeats(heartbeatMs);
  }

  @Override
  protected void flush() {
    if (flushing) {
      return;
    }
    flushing = true;
    try {
      while (!socket.backedUp() && !socket.closing()) {
        IoScratch s = IoScratch.get();
        s.begin();
        boolean any = false;
        while (s.room() && !isClosed() && poll()) {
          any = true;
          encode(s, polledSeq, polledItem);
        }
        if (!any) {
          break;
        }
        int n = s.finish();
        try {
          socket.write(s.gather, n);
        } finally {
          java.util.Arrays.fill(s.gather, 0, n, null);
        }
      }
      if (!socket.backedUp()) {
        closeIfFinished();
      }
    } finally {
      flushing = false;
    }
  }

  /** Encodes one event as a text frame: header and per-user part copied, a large body shared. */
  private void encode(IoScratch s, long seq, Object item) {
    ByteBuffer w = s.write;
    if (item instanceof Message m) {
      int prefix = codec.messagePrefixSize(seq);
      long size = (long) prefix + m.tail.length;
      WsFrames.putHeader(w, WsFrames.TEXT, size);
      codec.putMessagePrefix(w, seq);
      body(s, m.tail);
    } else {
      byte[] json = ((Control) item).json;
      WsFrames.putHeader(w, WsFrames.TEXT, json.length);
      body(s, json);
    }
  }

  private static void body(IoScratch s, byte[] shared) {
    if (shared.length > IoScratch.SHARE_ABOVE) {
      s.reference(ByteBuffer.wrap(shared).asReadOnlyBuffer());
    } else {
      s.write.put(shared);
    }
  }

  // ---- WsSocket.Owner ----

  @Override
  public void writable() {
    flushGuarded();
  }

  @Override
  public void ended(int code, String reason) {
    close(CloseCodes.NORMAL, "closed"); // the socket already answered or is gone
  }

  @Override
  public void failed(Throwable t) {
    fail(t);
  }

  @Override
  protected void closeTransport(int code, String reason) {
    clearQueue();
    socket.close(code, reason);
  }
}
