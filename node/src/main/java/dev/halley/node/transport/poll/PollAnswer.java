package dev.halley.node.transport.poll;

import dev.halley.node.wire.EventCodec;
import io.undertow.UndertowLogger;
import io.undertow.UndertowOptions;
import io.undertow.connector.PooledByteBuffer;
import io.undertow.server.ConduitWrapper;
import io.undertow.server.Connectors;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.protocol.http.HttpServerConnection;
import io.undertow.util.ConduitFactory;
import io.undertow.util.DateUtils;
import io.undertow.util.HeaderMap;
import io.undertow.util.HeaderValues;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.xnio.ChannelListener;
import org.xnio.IoUtils;
import org.xnio.OptionMap;
import org.xnio.channels.StreamSinkChannel;
import org.xnio.conduits.AbstractStreamSinkConduit;
import org.xnio.conduits.StreamSinkConduit;

/**
 * Answers a long-poll or poll request with its batch (docs/protocol.md, "Long-poll and poll").
 *
 * <p>On an HTTP/1.1 keep-alive connection (the common case) the whole answer, status line, headers
 * and the batch's JSON, is written as one byte sequence into one buffer of the connection's pool
 * and written at once, under Undertow's response writer: no response header map to fill and walk,
 * no sender, no array of the body's size. Otherwise (HTTP/1.0, a request with {@code Connection:
 * close}, an answer larger than a pool buffer, response headers other than CORS's) Undertow writes
 * it from the same headers, as before. The bytes are the same either way, headers in Undertow's
 * order ({@code LongPollAnswerShapeTest} pins them); keep-alive is unchanged: the next request on
 * the connection is read once the answer is written.
 *
 * <p>IO thread of the exchange.
 */
final class PollAnswer {
  private static final HttpString X_ACCEL_BUFFERING = new HttpString("X-Accel-Buffering");
  private static final HttpString ALLOW_ORIGIN = new HttpString("Access-Control-Allow-Origin");

  private static final byte[] STATUS =
      "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] FIXED =
      ("Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nContent-Type: application/json\r\n"
              + "Content-Length: ")
          .getBytes(StandardCharsets.US_ASCII);
  private static final byte[] DATE = "\r\nDate: ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] END = "\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

  private PollAnswer() {}

  /** The headers every answer carries, for an answer Undertow writes (errors included). */
  static void headers(HttpServerExchange exchange) {
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
    exchange.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-cache");
    exchange.getResponseHeaders().put(X_ACCEL_BUFFERING, "no");
  }

  /** Answers {@code exchange} with 200 and {@code batch}. */
  static void send(HttpServerExchange exchange, Batch batch, EventCodec codec) {
    if (!sendWhole(exchange, batch, codec)) {
      headers(exchange);
      exchange.getResponseSender().send(batch.encode(codec));
    }
  }

  /** The one-buffer answer; false when the request is not one it serves (nothing written then). */
  private static boolean sendWhole(HttpServerExchange exchange, Batch batch, EventCodec codec) {
    if (!(exchange.getConnection() instanceof HttpServerConnection)
        || !exchange.isHttp11()
        || !exchange.isPersistent()
        || exchange.isResponseStarted()) {
      return false;
    }
    OptionMap options = exchange.getConnection().getUndertowOptions();
    if (!options.get(UndertowOptions.ALWAYS_SET_DATE, true)
        || !options.get(UndertowOptions.ALWAYS_SET_KEEP_ALIVE, true)) {
      return false;
    }
    // Only CORS's headers may be there already (CorsHandler): Undertow writes them after
    // Connection and before the others, in the map's order.
    HeaderMap headers = exchange.getResponseHeaders();
    int cors = 0;
    for (long i = headers.fastIterateNonEmpty(); i != -1; i = headers.fiNextNonEmpty(i)) {
      HeaderValues values = headers.fiCurrent(i);
      HttpString name = values.getHeaderName();
      if (!name.equals(ALLOW_ORIGIN) && !name.equals(Headers.VARY)) {
        return false;
      }
      for (int v = 0; v < values.size(); v++) {
        cors += name.length() + 4 + values.get(v).length();
      }
    }
    String date = DateUtils.getCurrentDateTime(exchange);
    int body = batch.jsonSize(codec);
    int size =
        STATUS.length
            + cors
            + FIXED.length
            + EventCodec.digits(body)
            + DATE.length
            + date.length()
            + END.length
            + body;
    PooledByteBuffer pooled = exchange.getConnection().getByteBufferPool().allocate();
    ByteBuffer b = pooled.getBuffer();
    if (b.capacity() < size) {
      pooled.close();
      return false;
    }
    b.clear();
    b.put(STATUS);
    for (long i = headers.fastIterateNonEmpty(); i != -1; i = headers.fiNextNonEmpty(i)) {
      HeaderValues values = headers.fiCurrent(i);
      for (int v = 0; v < values.size(); v++) {
        values.getHeaderName().appendTo(b);
        b.put((byte) ':').put((byte) ' ');
        ascii(b, values.get(v));
        b.put((byte) '\r').put((byte) '\n');
      }
    }
    b.put(FIXED);
    EventCodec.putDecimal(b, body);
    b.put(DATE);
    ascii(b, date);
    b.put(END);
    batch.putJson(b, codec);
    b.flip();
    new Whole(exchange, pooled).start();
    return true;
  }

  /** As Undertow writes header values: each char as its low byte. */
  private static void ascii(ByteBuffer b, String s) {
    for (int i = 0, n = s.length(); i < n; i++) {
      b.put((byte) s.charAt(i));
    }
  }

  /**
   * The exchange's response conduit for a whole answer, and its write listener: writes pass to the
   * connection's own sink (under Undertow's response writer, which is left out); once the answer is
   * written and the exchange ends, its shutdown flushes and terminates the response (the next
   * request is read), without closing the connection. Owned by the exchange's IO thread.
   */
  private static final class Whole extends AbstractStreamSinkConduit<StreamSinkConduit>
      implements ConduitWrapper<StreamSinkConduit>, ChannelListener<StreamSinkChannel> {
    private final HttpServerExchange exchange;
    private PooledByteBuffer pooled;
    private boolean shutdown;
    private boolean finished;

    Whole(HttpServerExchange exchange, PooledByteBuffer pooled) {
      // The conduit Undertow's own response conduits would be put on (the connection's sink).
      super(
          ((HttpServerConnection) exchange.getConnection())
              .getChannel()
              .getSinkChannel()
              .getConduit());
      this.exchange = exchange;
      this.pooled = pooled;
    }

    void start() {
      exchange.addResponseWrapper(this);
      StreamSinkChannel channel = exchange.getResponseChannel();
      if (channel == null) {
        release(); // not reached: the response was not started
        exchange.endExchange();
        return;
      }
      handleEvent(channel);
    }

    @Override
    public StreamSinkConduit wrap(
        ConduitFactory<StreamSinkConduit> factory, HttpServerExchange exchange) {
      return this;
    }

    /** Writes what is left; when the socket takes no more, again once it is writable. */
    @Override
    public void handleEvent(StreamSinkChannel channel) {
      ByteBuffer b = pooled.getBuffer();
      try {
        while (b.hasRemaining()) {
          if (channel.write(b) == 0) {
            channel.getWriteSetter().set(this);
            channel.resumeWrites();
            return;
          }
        }
      } catch (IOException e) {
        release();
        UndertowLogger.REQUEST_IO_LOGGER.ioException(e);
        try {
          exchange.endExchange();
        } finally {
          IoUtils.safeClose(exchange.getConnection());
        }
        return;
      }
      channel.suspendWrites();
      channel.getWriteSetter().set(null);
      release();
      exchange.endExchange(); // shutdown and flush: finish below
    }

    private void release() {
      if (pooled != null) {
        pooled.close();
        pooled = null;
      }
    }

    @Override
    public int writeFinal(ByteBuffer src) throws IOException {
      int n = next.write(src);
      if (!src.hasRemaining()) {
        shutdown = true;
      }
      return n;
    }

    @Override
    public long writeFinal(ByteBuffer[] srcs, int offset, int length) throws IOException {
      long n = next.write(srcs, offset, length);
      if (!org.xnio.Buffers.hasRemaining(srcs, offset, length)) {
        shutdown = true;
      }
      return n;
    }

    /** The answer is complete; the connection stays open for its next request. */
    @Override
    public void terminateWrites() {
      shutdown = true;
    }

    @Override
    public boolean isWriteShutdown() {
      return shutdown;
    }

    @Override
    public boolean flush() throws IOException {
      boolean flushed = next.flush();
      if (flushed && shutdown) {
        finish();
      }
      return flushed;
    }

    @Override
    public void truncateWrites() throws IOException {
      try {
        next.truncateWrites();
      } finally {
        finish();
      }
    }

    private void finish() {
      if (!finished) {
        finished = true;
        release();
        Connectors.terminateResponse(exchange);
      }
    }
  }
}
