package dev.halley.node.transport.poll;

import dev.halley.node.stream.Connection;
import dev.halley.node.stream.UserStream;
import dev.halley.node.transport.HeldRequest;
import dev.halley.node.transport.PeerClose;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.IoTimers;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.ServerConnection;
import io.undertow.util.AttachmentKey;
import java.util.concurrent.TimeUnit;
import org.xnio.XnioExecutor;

/**
 * A held long-poll request: a suspended exchange registered on the user stream. The first event (or
 * the timeout) completes it on its IO thread with every event queued by then, and detaches it;
 * later events wait in the user's buffer for the next request.
 */
final class LongPollConnection extends Connection implements ServerConnection.CloseListener {
  private static final AttachmentKey<Held> HELD = AttachmentKey.create(Held.class);

  /**
   * The request held on an HTTP connection (IO thread). Undertow close listeners cannot be removed,
   * so each keep-alive connection gets one (the first time), this, which ends whichever request it
   * holds.
   */
  private static final class Held implements ServerConnection.CloseListener {
    LongPollConnection current;

    @Override
    public void closed(ServerConnection connection) {
      LongPollConnection c = current;
      if (c != null) {
        c.close(CloseCodes.NORMAL, "disconnected");
      }
    }
  }

  private final org.xnio.XnioIoThread ioThread;
  private final HttpServerExchange exchange;
  private final EventCodec codec;
  private final long position;
  private XnioExecutor.Key timeoutKey;

  /** What {@link HeldRequest#release} returned, for {@link HeldRequest#presize}. IO thread. */
  long parsedCapacities;

  LongPollConnection(
      UserStream stream,
      HttpServerExchange exchange,
      EventCodec codec,
      int maxQueued,
      long position) {
    super(stream, exchange.getIoThread(), maxQueued);
    this.ioThread = exchange.getIoThread();
    this.exchange = exchange;
    this.codec = codec;
    this.position = position;
  }

  @Override
  public String transport() {
    return "longpoll";
  }

  /**
   * IO thread: arms the timeout and close detection (no timeout while the node stops: the request
   * is closed with it).
   */
  void start(long timeoutMs, boolean tokenExpires) {
    timeoutKey =
        IoTimers.after(
            ioThread,
            timeoutMs,
            TimeUnit.MILLISECONDS,
            tokenExpires
                ? this::finishWithTokenExpired
                : () -> close(CloseCodes.NORMAL, "timeout"));
    ServerConnection connection = exchange.getConnection();
    Held held = connection.getAttachment(HELD);
    if (held == null) {
      held = new Held();
      connection.putAttachment(HELD, held);
      connection.addCloseListener(held);
    }
    held.current = this;
    PeerClose.watch(connection, true, this);
  }

  /** The client went away (its socket reached end of stream): the held request ends. */
  @Override
  public void closed(ServerConnection connection) {
    close(CloseCodes.NORMAL, "disconnected");
  }

  @Override
  protected void flush() {
    close(CloseCodes.NORMAL, "events");
  }

  /** A full queue ends the request with what it holds; the rest is replayed from the buffer. */
  @Override
  protected void onOverflow() {
    close(CloseCodes.NORMAL, "batch full");
  }

  @Override
  protected void closeTransport(int code, String reason) {
    if (timeoutKey != null) {
      timeoutKey.remove();
    }
    Held held = exchange.getConnection().getAttachment(HELD);
    if (held != null && held.current == this) {
      held.current = null;
    }
    Batch batch = Batch.take(position);
    try {
      while (poll()) {
        batch.add(polledSeq, polledItem);
      }
      conflatedInBatch(batch.conflated());
      if (exchange.isComplete() || !exchange.getConnection().isOpen()) {
        return;
      }
      HeldRequest.presize(exchange, parsedCapacities);
      PollAnswer.send(exchange, batch, codec);
    } finally {
      batch.give();
    }
  }
}
