package dev.halley.node.http;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.Json;
import io.undertow.connector.PooledByteBuffer;
import io.undertow.server.HttpServerExchange;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.function.Consumer;
import org.xnio.ChannelListener;
import org.xnio.IoUtils;
import org.xnio.channels.StreamSourceChannel;

/**
 * Reads a request body of at most {@code maxBytes} without blocking. Over the limit it answers 413
 * {@code payload_too_large} at once and then keeps reading and discarding (at most {@link
 * #DRAIN_LIMIT_BYTES} more) so the client, still sending, gets the 413 instead of a connection
 * reset; then the connection closes. A broken body (bad chunk framing, early end) is a 400 {@code
 * bad_request}. The time this may take is bounded by {@link RequestDeadline}. IO thread only.
 */
public final class BodyReader implements ChannelListener<StreamSourceChannel> {
  /** Bytes discarded after a 413 before the connection is cut. */
  static final long DRAIN_LIMIT_BYTES = 16L << 20;

  private final HttpServerExchange exchange;
  private final long maxBytes;
  private final Consumer<byte[]> onBody;
  private final ByteArrayOutputStream body = new ByteArrayOutputStream();
  private long discarded = -1; // >= 0 once the 413 is sent

  private BodyReader(HttpServerExchange exchange, long maxBytes, Consumer<byte[]> onBody) {
    this.exchange = exchange;
    this.maxBytes = maxBytes;
    this.onBody = onBody;
  }

  public static void read(HttpServerExchange exchange, long maxBytes, Consumer<byte[]> onBody) {
    BodyReader r = new BodyReader(exchange, maxBytes, onBody);
    if (exchange.getRequestContentLength() > maxBytes) {
      r.tooLarge();
    }
    r.handleEvent(exchange.getRequestChannel());
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
        int n = channel.read(b);
        if (n == 0) {
          channel.getReadSetter().set(this);
          channel.resumeReads();
          return;
        }
        if (n < 0) {
          channel.suspendReads();
          if (discarded < 0) {
            onBody.accept(body.toByteArray());
          } else if (exchange.isResponseComplete()) {
            IoUtils.safeClose(exchange.getConnection());
          } else {
            exchange.setPersistent(false);
          }
          return;
        }
        if (discarded >= 0) {
          discarded += n;
          if (discarded > DRAIN_LIMIT_BYTES) {
            IoUtils.safeClose(exchange.getConnection());
            return;
          }
          continue;
        }
        if (body.size() + (long) n > maxBytes) {
          tooLarge();
          continue;
        }
        b.flip();
        body.write(copy(b), 0, n);
      }
    } catch (IOException e) {
      channel.suspendReads();
      if (discarded < 0) {
        exchange.setPersistent(false);
        Json.sendError(
            exchange, 400, ErrorCodes.BAD_REQUEST, "could not read the body: broken framing");
      } else {
        IoUtils.safeClose(exchange.getConnection());
      }
    }
  }

  private static byte[] copy(ByteBuffer b) {
    byte[] a = new byte[b.remaining()];
    b.get(a);
    return a;
  }

  private void tooLarge() {
    discarded = 0;
    body.reset();
    // Neither setPersistent(false) nor "Connection: close": Undertow would close at the end of the
    // response while the client is still sending, and the 413 would be lost to the reset. The body
    // is drained first, then the connection closes.
    Json.sendError(
        exchange,
        413,
        ErrorCodes.PAYLOAD_TOO_LARGE,
        "the body is over the limit of " + maxBytes + " bytes");
  }
}
