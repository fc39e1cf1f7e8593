package dev.halley.node.publish;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.halley.node.wire.Json;
import io.undertow.connector.PooledByteBuffer;
import io.undertow.io.IoCallback;
import io.undertow.io.Sender;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A publish thread's scratch array for writing a reply's JSON ({@link PublishReply#toJson}): grown
 * as needed and kept, so a reply costs only its final copy. A plain string (every character
 * printable ASCII other than {@code "} and {@code \}) is written as its characters between quotes,
 * which is what Jackson writes for it; any other string, and any tree, is written by Jackson
 * ({@link Json#MAPPER}) so that escapes and non-ASCII text come out byte for byte as before.
 *
 * <p>Threading: one per thread (a thread local), used between {@link #forThread} and {@link #copy}
 * by that thread only.
 */
final class ReplyBytes {
  private static final ThreadLocal<ReplyBytes> CURRENT = ThreadLocal.withInitial(ReplyBytes::new);

  /** Kept between replies up to this size; a larger reply's array is dropped after it. */
  private static final int KEEP_MAX = 64 * 1024;

  private byte[] buf = new byte[1024];
  private int size;

  private ReplyBytes() {}

  /** This thread's scratch array, emptied. */
  static ReplyBytes forThread() {
    ReplyBytes b = CURRENT.get();
    b.size = 0;
    return b;
  }

  /** The bytes written, as a new array of their size; the scratch array is kept for the next. */
  byte[] copy() {
    byte[] out = Arrays.copyOf(buf, size);
    if (buf.length > KEEP_MAX) {
      buf = new byte[1024];
    }
    size = 0;
    return out;
  }

  /**
   * Ends {@code exchange} with {@code status} and the bytes written, as JSON: copied into a buffer
   * of the connection's pool, given back when the write completed or failed (a reply larger than
   * that buffer is sent from an array of its own, as {@link Json#send} does). Then empty.
   */
  void send(HttpServerExchange exchange, int status) {
    exchange.setStatusCode(status);
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
    PooledByteBuffer pooled = exchange.getConnection().getByteBufferPool().allocate();
    ByteBuffer b = pooled.getBuffer();
    if (b.capacity() < size) {
      pooled.close();
      exchange.getResponseSender().send(ByteBuffer.wrap(copy()));
      return;
    }
    // As send(buffer) does for its default callback only: without it the answer would be chunked.
    exchange.setResponseContentLength(size);
    b.clear();
    b.put(buf, 0, size).flip();
    size = 0;
    try {
      exchange.getResponseSender().send(b, new Release(pooled));
    } catch (RuntimeException e) {
      pooled.close();
      throw e;
    }
  }

  /** Gives the pooled buffer back once its write ended, then ends the exchange as by default. */
  private record Release(PooledByteBuffer pooled) implements IoCallback {
    @Override
    public void onComplete(HttpServerExchange exchange, Sender sender) {
      pooled.close();
      IoCallback.END_EXCHANGE.onComplete(exchange, sender);
    }

    @Override
    public void onException(HttpServerExchange exchange, Sender sender, IOException e) {
      pooled.close();
      IoCallback.END_EXCHANGE.onException(exchange, sender, e);
    }
  }

  /** {@code s} as it is: only for text known to be ASCII that needs no escape (JSON syntax). */
  ReplyBytes ascii(String s) {
    int n = s.length();
    ensure(n);
    for (int i = 0; i < n; i++) {
      buf[size++] = (byte) s.charAt(i);
    }
    return this;
  }

  ReplyBytes number(long v) {
    if (v >= 0 && v < 10) {
      ensure(1);
      buf[size++] = (byte) ('0' + v);
      return this;
    }
    return ascii(Long.toString(v));
  }

  /** {@code s} as a JSON string, exactly as Jackson's generator writes it. */
  ReplyBytes string(String s) {
    int n = s.length();
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
        return jackson(s);
      }
    }
    ensure(n + 2);
    buf[size++] = '"';
    for (int i = 0; i < n; i++) {
      buf[size++] = (byte) s.charAt(i);
    }
    buf[size++] = '"';
    return this;
  }

  /** {@code value} as Jackson's {@link Json#MAPPER} writes it. */
  ReplyBytes jackson(Object value) {
    byte[] b;
    try {
      b = Json.MAPPER.writeValueAsBytes(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    ensure(b.length);
    System.arraycopy(b, 0, buf, size, b.length);
    size += b.length;
    return this;
  }

  private void ensure(int more) {
    if (size + more > buf.length) {
      buf = Arrays.copyOf(buf, Math.max(size + more, 2 * buf.length));
    }
  }
}
