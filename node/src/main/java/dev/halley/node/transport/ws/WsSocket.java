package dev.halley.node.transport.ws;

import dev.halley.node.wire.IoTimers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.xnio.ChannelListener;
import org.xnio.IoUtils;
import org.xnio.StreamConnection;
import org.xnio.XnioExecutor;
import org.xnio.XnioIoThread;
import org.xnio.conduits.ConduitStreamSinkChannel;
import org.xnio.conduits.ConduitStreamSourceChannel;

/**
 * The WebSocket protocol on an upgraded socket (RFC 6455), written by the node itself instead of
 * Undertow's framed channel (issue 12): frames go straight onto the connection, client frames are
 * read by a strict {@link WsReader}, and the close handshake is done here.
 *
 * <p>Writing: {@link #write} makes one gathering write of what the caller encoded; what the socket
 * does not take now is kept in at most {@link #MAX_PENDING} buffers (copies of the caller's
 * transient buffers, the shared read-only ones as they are) and written when the socket is writable
 * again; the bytes kept are reported to {@link Owner#pinned} so they count against the connection's
 * byte bound. A pong or close frame goes after what is pending. Nothing here blocks.
 *
 * <p>Closing: the node's close sends the close frame after what is pending, keeps reading for the
 * peer's answer, and cuts the socket when it arrives or after {@link #CLOSE_GRACE_MS}. A peer's
 * close frame is answered with the same code, then the socket is closed; a broken rule is answered
 * with its close code (1002, 1007, 1009), nothing more is read, and the socket is closed once that
 * frame is written (or after the grace).
 *
 * <p>Threading: the socket's IO thread only.
 */
final class WsSocket implements WsReader.Handler {
  /** How long the peer has to take our close frame (and answer it) before the socket is cut. */
  static final long CLOSE_GRACE_MS = 5_000;

  /** Buffers kept for a socket that did not take everything: a flush, a pong, the close frame. */
  static final int MAX_PENDING = IoScratch.MAX_GATHER + 2;

  /** What the socket tells the connection it carries. */
  interface Owner {
    /** The socket keeps {@code bytes} more (negative: fewer) unwritten. */
    void pinned(long bytes);

    /** Everything pending was written: more may be written. */
    void writable();

    /** The peer closed (a close frame, a broken rule with its code) or the socket is gone. */
    void ended(int code, String reason);

    /** Something unexpected was thrown on this socket's read or write path. */
    void failed(Throwable t);
  }

  private static final Owner NO_OWNER =
      new Owner() {
        @Override
        public void pinned(long bytes) {}

        @Override
        public void writable() {}

        @Override
        public void ended(int code, String reason) {}

        @Override
        public void failed(Throwable t) {}
      };

  private final StreamConnection connection;
  private final ConduitStreamSinkChannel sink;
  private final ConduitStreamSourceChannel source;
  private final WsReader reader;
  private Owner owner = NO_OWNER;

  private ByteBuffer[] pending; // made when the socket first does not take everything
  private int pendingCount;
  private long pendingBytes;

  private boolean closeSent;
  private boolean closeWhenWritten; // cut the socket once the close frame is out
  private boolean gone;
  private XnioExecutor.Key grace;

  WsSocket(StreamConnection connection, long maxMessageBytes) {
    this.connection = connection;
    this.sink = connection.getSinkChannel();
    this.source = connection.getSourceChannel();
    this.reader = new WsReader(maxMessageBytes);
    ChannelListener<ConduitStreamSinkChannel> onWritable = ch -> writePending();
    sink.setWriteListener(onWritable);
    ChannelListener<ConduitStreamSourceChannel> onReadable = ch -> readFrames();
    source.setReadListener(onReadable);
    connection.setCloseListener(c -> onSocketClosed());
  }

  XnioIoThread ioThread() {
    return connection.getIoThread();
  }

  boolean isOpen() {
    return !gone && connection.isOpen();
  }

  /** Binds the connection this socket carries (before anything is written for it). */
  void bind(Owner owner) {
    this.owner = owner;
  }

  /**
   * Before any connection is bound (a handoff holds the socket before {@code hello}): reads start,
   * so a client that leaves meanwhile (end of stream, a reset, a close frame) ends the socket now,
   * not when the hold is over. Pings are answered, other frames checked and dropped as always.
   */
  void watchWhileHeld() {
    if (!gone) {
      source.resumeReads();
    }
  }

  /** Binds the connection this socket carries; reads start. */
  void start(Owner owner) {
    this.owner = owner;
    if (gone) {
      owner.ended(1006, "closed");
      return;
    }
    source.resumeReads();
  }

  /** Without a connection: one text frame, then the close handshake with {@code code}. */
  void sendTextAndClose(byte[] json, int code, String reason) {
    ByteBuffer frame = ByteBuffer.allocate(WsFrames.headerSize(json.length) + json.length);
    WsFrames.putHeader(frame, WsFrames.TEXT, json.length);
    frame.put(json).flip();
    control(frame, false);
    close(code, reason);
    source.resumeReads();
  }

  /** Whether the socket holds unwritten bytes (then {@link Owner#writable} follows). */
  boolean backedUp() {
    return pendingCount > 0;
  }

  /** Whether no more data frames may be written (the close frame was sent or the socket gone). */
  boolean closing() {
    return closeSent || gone;
  }

  /**
   * Writes {@code bufs[0..n)} in one gathering write; keeps what the socket did not take (copies of
   * writable buffers, read-only ones by reference). Only when nothing is pending.
   */
  void write(ByteBuffer[] bufs, int n) {
    if (gone) {
      return;
    }
    try {
      sink.write(bufs, 0, n);
    } catch (IOException e) {
      kill();
      return;
    }
    int i = 0;
    while (i < n && !bufs[i].hasRemaining()) {
      i++;
    }
    if (i < n) {
      if (pending == null) {
        pending = new ByteBuffer[MAX_PENDING];
      }
      long kept = 0;
      for (; i < n; i++) {
        ByteBuffer b = bufs[i];
        if (!b.hasRemaining()) {
          continue;
        }
        kept += b.remaining();
        pending[pendingCount++] =
            b.isReadOnly() ? b : ByteBuffer.allocate(b.remaining()).put(b).flip();
      }
      pendingBytes += kept;
      owner.pinned(kept);
      sink.resumeWrites();
    }
  }

  /** Adds a whole control frame after what is pending, or writes it now. */
  private void control(ByteBuffer frame, boolean droppable) {
    if (gone) {
      return;
    }
    if (pendingCount == 0) {
      try {
        sink.write(frame);
      } catch (IOException e) {
        kill();
        return;
      }
      if (!frame.hasRemaining()) {
        afterWritten();
        return;
      }
      if (pending == null) {
        pending = new ByteBuffer[MAX_PENDING];
      }
    } else if (droppable && pendingCount >= MAX_PENDING - 1) {
      return; // a peer that pings and does not read: only the last close frame is sure of a slot
    } else if (pendingCount == MAX_PENDING) {
      kill();
      return;
    }
    pending[pendingCount++] = frame;
    pendingBytes += frame.remaining();
    owner.pinned(frame.remaining());
    sink.resumeWrites();
  }

  /** The write listener: writes what is pending. */
  private void writePending() {
    if (gone || pendingCount == 0) {
      sink.suspendWrites();
      return;
    }
    try {
      try {
        sink.write(pending, 0, pendingCount);
      } catch (IOException e) {
        kill();
        return;
      }
      int done = 0;
      long left = 0;
      while (done < pendingCount && !pending[done].hasRemaining()) {
        done++;
      }
      for (int i = done; i < pendingCount; i++) {
        left += pending[i].remaining();
      }
      if (done > 0) {
        System.arraycopy(pending, done, pending, 0, pendingCount - done);
        java.util.Arrays.fill(pending, pendingCount - done, pendingCount, null);
        pendingCount -= done;
      }
      long released = pendingBytes - left;
      pendingBytes = left;
      owner.pinned(-released);
      if (pendingCount == 0) {
        pending = null; // an idle connection keeps no buffers
        sink.suspendWrites();
        afterWritten();
      }
    } catch (Throwable t) {
      owner.failed(t);
    }
  }

  /** Everything pending is written. */
  private void afterWritten() {
    if (closeSent) {
      if (closeWhenWritten) {
        kill();
      }
      return;
    }
    owner.writable();
  }

  /**
   * The node ends the WebSocket with {@code code}: the close frame goes after what is pending, then
   * the peer has {@link #CLOSE_GRACE_MS} to answer before the socket is cut.
   */
  void close(int code, String reason) {
    sendClose(code, reason, false);
  }

  private void sendClose(int code, String reason, boolean thenCut) {
    if (gone || closeSent) {
      return;
    }
    closeSent = true;
    closeWhenWritten = thenCut;
    grace =
        IoTimers.after(connection.getIoThread(), CLOSE_GRACE_MS, TimeUnit.MILLISECONDS, this::kill);
    if (grace == null) {
      kill(); // the node is stopping: its IO threads take no timers, and the socket goes anyway
      return;
    }
    control(WsFrames.close(code, reason), false);
  }

  /** Cuts the socket now. */
  void kill() {
    IoUtils.safeClose(connection);
    onSocketClosed();
  }

  private void onSocketClosed() {
    if (gone) {
      return;
    }
    gone = true;
    if (grace != null) {
      grace.remove();
      grace = null;
    }
    if (pendingBytes > 0) {
      owner.pinned(-pendingBytes);
    }
    pending = null;
    pendingCount = 0;
    pendingBytes = 0;
    owner.ended(1006, "closed");
  }

  /** The read listener: reads what arrived (a bounded number of rounds) and parses it. */
  private void readFrames() {
    try {
      ByteBuffer b = IoScratch.get().read;
      for (int round = 0; round < 4 && !gone && !reader.done(); round++) {
        b.clear();
        int n;
        try {
          n = source.read(b);
        } catch (IOException e) {
          kill();
          return;
        }
        if (n < 0) {
          kill(); // the peer went away without a close frame
          return;
        }
        if (n == 0) {
          return;
        }
        b.flip();
        reader.feed(b, this);
      }
      if (reader.done() && !gone) {
        source.suspendReads();
      }
    } catch (Throwable t) {
      owner.failed(t);
    }
  }

  @Override
  public void onPing(byte[] payload, int length) {
    if (!closeSent) {
      control(WsFrames.control(WsFrames.PONG, payload, length), true);
    }
  }

  @Override
  public void onClose(int code, String reason) {
    source.suspendReads();
    if (closeSent) {
      kill(); // the answer to our close: done
      return;
    }
    sendClose(code, reason, true); // echo, then cut
    owner.ended(code < 0 ? 1005 : code, reason);
  }

  @Override
  public void onError(int code, String reason) {
    source.suspendReads();
    if (closeSent) {
      kill();
      return;
    }
    sendClose(code, reason, true);
    owner.ended(code, reason);
  }
}
