package dev.halley.node.http;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;
import org.xnio.StreamConnection;
import org.xnio.conduits.AbstractStreamSinkConduit;
import org.xnio.conduits.AbstractStreamSourceConduit;
import org.xnio.conduits.StreamSinkConduit;
import org.xnio.conduits.StreamSourceConduit;

/**
 * Turns the fixed, empty 400 that Undertow's request parser writes (bad request line, bad or
 * duplicate Content-Length, Content-Length with Transfer-Encoding, too many or too large headers,
 * bad %-encoding) into the protocol's JSON error, and tells an over-large head (431) from the rest.
 *
 * <p>Installed under Undertow's own conduits on each accepted socket: the source side counts the
 * bytes read since the node last wrote a response; when Undertow writes its canned 400, the sink
 * side writes our JSON instead. IO thread of the connection only.
 */
final class ParserErrorConduit extends AbstractStreamSinkConduit<StreamSinkConduit> {
  private static final byte[] UNDERTOW_400 =
      "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
          .getBytes(US_ASCII);

  private final int maxHeaderBytes;
  private final AtomicLong errors;
  private final Counter counter;
  private ByteBuffer replacement;

  private ParserErrorConduit(
      StreamSinkConduit next, Counter counter, int maxHeaderBytes, AtomicLong errors) {
    super(next);
    this.counter = counter;
    this.maxHeaderBytes = maxHeaderBytes;
    this.errors = errors;
  }

  static void install(StreamConnection c, int maxHeaderBytes, AtomicLong errors) {
    Counter counter = new Counter(c.getSourceChannel().getConduit());
    c.getSourceChannel().setConduit(counter);
    c.getSinkChannel()
        .setConduit(
            new ParserErrorConduit(
                c.getSinkChannel().getConduit(), counter, maxHeaderBytes, errors));
  }

  static byte[] response(int status, String reason, String code, String message) {
    byte[] body = new HttpError(status, code, message).body();
    String head =
        "HTTP/1.1 "
            + status
            + " "
            + reason
            + "\r\nContent-Type: application/json\r\nContent-Length: "
            + body.length
            + "\r\nConnection: close\r\n\r\n";
    ByteBuffer b = ByteBuffer.allocate(head.length() + body.length);
    b.put(head.getBytes(US_ASCII)).put(body);
    return b.array();
  }

  @Override
  public int write(ByteBuffer src) throws IOException {
    if (replacement == null && isUndertow400(src)) {
      errors.incrementAndGet();
      byte[] json =
          counter.sinceResponse > maxHeaderBytes
              ? response(
                  431,
                  "Request Header Fields Too Large",
                  ErrorCodes.HEADERS_TOO_LARGE,
                  "the request line and headers are over the limit of " + maxHeaderBytes + " bytes")
              : response(
                  400,
                  "Bad Request",
                  ErrorCodes.BAD_REQUEST,
                  "the request could not be parsed (request line, header syntax, header count,"
                      + " Content-Length or Transfer-Encoding)");
      replacement = ByteBuffer.wrap(json);
    }
    if (replacement != null) {
      next.write(replacement);
      if (replacement.hasRemaining()) {
        return 0; // Undertow retries with the same buffer when the socket is writable
      }
      int n = src.remaining();
      src.position(src.limit());
      return n;
    }
    counter.sinceResponse = 0;
    return next.write(src);
  }

  @Override
  public long write(ByteBuffer[] srcs, int offs, int len) throws IOException {
    counter.sinceResponse = 0;
    return next.write(srcs, offs, len);
  }

  private static boolean isUndertow400(ByteBuffer src) {
    if (src.remaining() != UNDERTOW_400.length) {
      return false;
    }
    int p = src.position();
    for (int i = 0; i < UNDERTOW_400.length; i++) {
      if (src.get(p + i) != UNDERTOW_400[i]) {
        return false;
      }
    }
    return true;
  }

  /** Counts bytes read since the last response write. */
  private static final class Counter extends AbstractStreamSourceConduit<StreamSourceConduit> {
    long sinceResponse;

    Counter(StreamSourceConduit next) {
      super(next);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
      int n = next.read(dst);
      if (n > 0) {
        sinceResponse += n;
      }
      return n;
    }

    @Override
    public long read(ByteBuffer[] dsts, int offs, int len) throws IOException {
      long n = next.read(dsts, offs, len);
      if (n > 0) {
        sinceResponse += n;
      }
      return n;
    }
  }
}
