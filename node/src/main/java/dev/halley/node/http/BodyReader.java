package dev.halley.node.http;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.IoTimers;
import dev.halley.node.wire.Json;
import io.undertow.connector.PooledByteBuffer;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.RequestTooBigException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.xnio.ChannelListener;
import org.xnio.IoUtils;
import org.xnio.XnioExecutor;
import org.xnio.channels.StreamSourceChannel;

/**
 * Reads a request body of at most {@code maxBytes} without blocking. Over the limit (a {@code
 * Content-Length}, the chunk sizes announced, or the bytes received) it answers 413 {@code
 * payload_too_large} at once and then keeps reading and discarding (at most {@link
 * #DRAIN_LIMIT_BYTES} more, and only while bytes keep arriving) so the client, still sending, gets
 * the 413 instead of a connection reset; a body that then ends keeps the connection usable, one
 * that stops arriving or passes the drain limit closes it. A broken body (bad chunk framing, early
 * end) is a 400 {@code bad_request} and the connection closes. The time this may take is bounded by
 * {@link RequestDeadline}. IO thread only.
 */
public final class BodyReader implements ChannelListener<StreamSourceChannel> {
  /** Bytes discarded after a 413 before the connection is cut. */
  static final long DRAIN_LIMIT_BYTES = 16L << 20;

  /**
   * The first array for a body is at most this large; it grows by doubling as bytes arrive, its
   * last growth ending at the announced length (so a body read whole is handed on without a copy).
   */
  private static final int FIRST_ARRAY_MAX = 1024;

  private static final int ARRAY_MAX = Integer.MAX_VALUE - 8;

  private final HttpServerExchange exchange;
  private final long maxBytes;
  private final Consumer<byte[]> onBody;
  // The body so far. Memory grows only as bytes arrive: a client announcing a large body and
  // sending little holds little.
  private byte[] body;
  private int size;
  private long drainLimit = DRAIN_LIMIT_BYTES;
  private boolean closeAtEnd; // a refusal that closes once the body is drained
  private long discarded = -1; // >= 0 once the 413 is sent
  private int tooBigReports;
  private XnioExecutor.Key idle; // closes the connection when a refused body stops arriving

  private BodyReader(HttpServerExchange exchange, long maxBytes, Consumer<byte[]> onBody) {
    this.exchange = exchange;
    this.maxBytes = maxBytes;
    this.onBody = onBody;
    long announced = exchange.getRequestContentLength();
    this.body =
        new byte
            [(int) Math.min(announced >= 0 ? announced : 512, Math.min(FIRST_ARRAY_MAX, maxBytes))];
  }

  public static void read(HttpServerExchange exchange, long maxBytes, Consumer<byte[]> onBody) {
    BodyReader r = new BodyReader(exchange, maxBytes, onBody);
    // Taken before any answer: ending the exchange would hand the channel to Undertow's own,
    // unbounded drain.
    StreamSourceChannel channel = exchange.getRequestChannel();
    if (channel == null) {
      return; // already read by someone else
    }
    ChunkedBody.limit(exchange, maxBytes); // chunk sizes announcing more: 413 before their data
    if (exchange.getRequestContentLength() > maxBytes && !r.tooLarge()) {
      return;
    }
    r.handleEvent(channel);
  }

  /**
   * Answers 413 at once for a body announced over {@code maxBytes} and drains it as {@link #read}
   * does.
   */
  static void refuse(HttpServerExchange exchange, long maxBytes) {
    BodyReader r = new BodyReader(exchange, maxBytes, body -> {});
    StreamSourceChannel channel = exchange.getRequestChannel();
    if (r.tooLarge() && channel != null) {
      r.handleEvent(channel);
    }
  }

  /**
   * Answers {@code status} with the JSON error at once, without reading the body, then reads and
   * drops the body while it arrives (at most {@code drainLimit} bytes; 1 s without any, the body's
   * end, or a framing error ends it) and closes the connection. The answer has no {@code
   * Connection: close}: with it Undertow would close at the end of the response, with the body
   * still unread, and the kernel's reset could destroy the answer in the client's buffer.
   */
  static void refuseAndClose(
      HttpServerExchange exchange, int status, String code, String message, long drainLimit) {
    BodyReader r = new BodyReader(exchange, 0, body -> {});
    r.drainLimit = drainLimit;
    r.closeAtEnd = true;
    StreamSourceChannel channel = exchange.getRequestChannel();
    r.discarded = 0;
    ChunkedBody.refused(exchange);
    Json.sendError(exchange, status, code, message);
    if (channel == null || exchange.isComplete()) {
      IoUtils.safeClose(exchange.getConnection());
      return;
    }
    r.handleEvent(channel);
  }

  @Override
  public void handleEvent(StreamSourceChannel channel) {
    if (channel == null) {
      return; // already read by someone else
    }
    try (PooledByteBuffer pooled = exchange.getConnection().getByteBufferPool().allocate()) {
      ByteBuffer b = pooled.getBuffer();
      while (true) {
        b.clear();
        int n;
        try {
          n = channel.read(b);
        } catch (RequestTooBigException e) {
          // a chunk size announced more than the limit: answer before its data arrives
          if (++tooBigReports > 1) {
            throw e; // the decoder reports it once; never loop on it
          }
          if (discarded < 0 && !tooLarge()) {
            return;
          }
          continue;
        }
        if (n == 0) {
          if (discarded >= 0) {
            idleAfterRefusal();
          }
          channel.getReadSetter().set(this);
          channel.resumeReads();
          return;
        }
        if (n < 0) {
          channel.suspendReads();
          cancelIdle();
          if (discarded < 0) {
            onBody.accept(size == body.length ? body : Arrays.copyOf(body, size));
          } else if (closeAtEnd) {
            IoUtils.safeClose(exchange.getConnection());
          }
          // A refused body read to its end leaves the connection at a request boundary, and the
          // 413 did not say "Connection: close": a keep-alive client sends its next request on
          // it, so it stays open like after any answered request (closing it here lost that
          // request: PublishApiTest.limitsAnswer413).
          return;
        }
        if (discarded >= 0) {
          discarded += n;
          if (discarded > drainLimit) {
            cancelIdle();
            IoUtils.safeClose(exchange.getConnection());
            return;
          }
          continue;
        }
        if (size + (long) n > maxBytes) {
          if (!tooLarge()) {
            return;
          }
          continue;
        }
        b.flip();
        if (size + n > body.length) {
          long grown = Math.max(size + n, 2L * body.length);
          long announced = exchange.getRequestContentLength();
          if (announced >= size + n) {
            grown = Math.min(grown, announced); // the last growth ends at the announced length
          }
          body = Arrays.copyOf(body, (int) Math.min(grown, Math.min(maxBytes, ARRAY_MAX)));
        }
        b.get(body, size, n);
        size += n;
      }
    } catch (IOException e) {
      channel.suspendReads();
      cancelIdle();
      if (discarded < 0) {
        exchange.setPersistent(false);
        Json.sendError(
            exchange,
            400,
            ErrorCodes.BAD_REQUEST,
            e instanceof ChunkedBody.MalformedChunkException
                ? e.getMessage()
                : "could not read the body: broken framing");
      } else {
        IoUtils.safeClose(exchange.getConnection());
      }
    }
  }

  /**
   * After the 413 the body is drained only while the client is still sending it: once nothing has
   * arrived for {@link RequestDeadline#CLOSE_GRACE_MS}, the connection closes (a client that
   * announced too much and waits is not held until the body deadline).
   */
  private void idleAfterRefusal() {
    cancelIdle();
    var connection = exchange.getConnection();
    idle =
        IoTimers.after(
            exchange.getIoThread(),
            RequestDeadline.CLOSE_GRACE_MS,
            TimeUnit.MILLISECONDS,
            () -> IoUtils.safeClose(connection),
            () -> IoUtils.safeClose(connection)); // stopping: closed now
  }

  private void cancelIdle() {
    IoTimers.cancel(idle);
    idle = null;
  }

  /**
   * Sends the 413; returns whether the body is still to be drained (false when Undertow, ending the
   * exchange, already read it to its end: the connection then stays usable).
   */
  private boolean tooLarge() {
    discarded = 0;
    ChunkedBody.refused(exchange);
    body = new byte[0];
    size = 0;
    // Neither setPersistent(false) nor "Connection: close": Undertow would close at the end of the
    // response while the client is still sending, and the 413 would be lost to the reset. The body
    // is drained first, then the connection closes.
    Json.sendError(
        exchange,
        413,
        ErrorCodes.PAYLOAD_TOO_LARGE,
        "the body is over the limit of " + maxBytes + " bytes");
    return !exchange.isComplete();
  }
}
