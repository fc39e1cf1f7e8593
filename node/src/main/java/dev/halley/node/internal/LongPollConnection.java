package dev.halley.node.internal;

import io.undertow.server.HttpServerExchange;
import java.util.concurrent.TimeUnit;
import org.xnio.XnioExecutor;

/**
 * A held long-poll request: a suspended exchange registered on the user stream. The first event (or
 * the timeout) completes it on its IO thread with every event queued by then, and detaches it;
 * later events wait in the user's buffer for the next request.
 */
final class LongPollConnection extends Connection {
  private final org.xnio.XnioIoThread ioThread;
  private final HttpServerExchange exchange;
  private final EventCodec codec;
  private final long position;
  private XnioExecutor.Key timeoutKey;

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

  /** IO thread: arms the timeout and close detection. */
  void start(long timeoutMs) {
    timeoutKey =
        ioThread.executeAfter(
            () -> close(Codes.CLOSE_NORMAL, "timeout"), timeoutMs, TimeUnit.MILLISECONDS);
    exchange.getConnection().addCloseListener(c -> close(Codes.CLOSE_NORMAL, "disconnected"));
  }

  @Override
  void flush() {
    close(Codes.CLOSE_NORMAL, "events");
  }

  /** A full queue ends the request with what it holds; the rest is replayed from the buffer. */
  @Override
  void onOverflow() {
    close(Codes.CLOSE_NORMAL, "batch full");
  }

  @Override
  void closeTransport(int code, String reason) {
    if (timeoutKey != null) {
      timeoutKey.remove();
    }
    Batch batch = new Batch(position);
    while (poll()) {
      batch.add(polledSeq, polledItem);
    }
    if (exchange.isComplete() || !exchange.getConnection().isOpen()) {
      return;
    }
    exchange.getResponseSender().send(batch.encode(codec));
  }
}
