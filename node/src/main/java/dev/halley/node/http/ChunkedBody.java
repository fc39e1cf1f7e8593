package dev.halley.node.http;

import io.undertow.connector.PooledByteBuffer;
import io.undertow.server.Connectors;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.RequestTooBigException;
import io.undertow.server.protocol.http.HttpServerConnection;
import io.undertow.util.AttachmentKey;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.TimeUnit;
import org.xnio.IoUtils;
import org.xnio.channels.StreamSinkChannel;
import org.xnio.conduits.AbstractStreamSourceConduit;
import org.xnio.conduits.ConduitReadableByteChannel;
import org.xnio.conduits.StreamSourceConduit;

/**
 * The node's decoder of chunked request bodies, in place of Undertow's {@code
 * ChunkedStreamSourceConduit}. Undertow's {@code ChunkReader} reads a chunk-size line that does not
 * start with a hex digit ({@code zz}, {@code -1}, an empty line) as size 0, the last chunk, skips
 * the rest of the line as an extension and then waits for trailers that never come; a size too long
 * to read makes it close the connection before anything is answered. This one is strict (RFC 9112,
 * section 7.1):
 *
 * <ul>
 *   <li>a chunk size is 1 to 16 hex digits, followed by CRLF or by optional whitespace, {@code ;}
 *       and an extension (printable bytes) and CRLF; the line is at most {@code maxLineBytes};
 *   <li>chunk data is followed by CRLF;
 *   <li>the trailer section is field lines ({@code name: value}) and an empty line, at most {@code
 *       maxLineBytes} in all;
 *   <li>the sizes announced so far may not add up to more than the body limit ({@code
 *       maxBodyBytes}, or the exchange's max entity size when smaller).
 * </ul>
 *
 * <p>Anything else makes {@link #read} throw {@link MalformedChunkException} (and every later read
 * too); the connection is not closed here, so the reader can answer 400 and close. Over the body
 * limit, one read throws {@link RequestTooBigException} as soon as the size line is in (before its
 * data), and later reads go on decoding, so a reader can answer 413 and drain what the client still
 * sends. Bytes read past the body's end (a pipelined request) go back to the connection.
 *
 * <p>Owned by the exchange's IO thread (like every conduit); not thread-safe.
 */
public final class ChunkedBody extends AbstractStreamSourceConduit<StreamSourceConduit> {
  /** A chunked body whose framing is broken. */
  public static final class MalformedChunkException extends IOException {
    MalformedChunkException(String message) {
      super(message);
    }
  }

  static final AttachmentKey<ChunkedBody> KEY = AttachmentKey.create(ChunkedBody.class);
  private static final int MAX_SIZE_DIGITS = 16;

  private enum State {
    SIZE,
    SIZE_BWS,
    EXTENSION,
    SIZE_LF,
    DATA,
    DATA_CR,
    DATA_LF,
    TRAILER_START,
    TRAILER_LINE,
    TRAILER_LF,
    END_LF,
    DONE
  }

  /** The framing state; {@link #copy()} lets a look-ahead run over buffered bytes. */
  private static final class Framing {
    final int maxLineBytes;
    State state = State.SIZE;
    int digits;
    long size;
    int lineBytes;
    int trailerBytes;
    boolean trailerColon;
    long remaining; // of the current chunk's data
    long declared; // sum of the sizes announced

    Framing(int maxLineBytes) {
      this.maxLineBytes = maxLineBytes;
    }

    Framing copy() {
      Framing f = new Framing(maxLineBytes);
      f.state = state;
      f.digits = digits;
      f.size = size;
      f.lineBytes = lineBytes;
      f.trailerBytes = trailerBytes;
      f.trailerColon = trailerColon;
      f.remaining = remaining;
      f.declared = declared;
      return f;
    }

    /** Takes one framing byte (not in DATA); returns what is wrong, or null. */
    String step(byte c) {
      switch (state) {
        case SIZE -> {
          if (hex(c)) {
            if (digits == MAX_SIZE_DIGITS) {
              return "a chunk size of more than " + MAX_SIZE_DIGITS + " hex digits";
            }
            size = (size << 4) | Character.digit(c, 16);
            digits++;
            lineBytes++;
            if (size < 0) {
              return "a chunk size too large"; // 16 digits above 7fffffffffffffff
            }
          } else if (digits == 0) {
            return c == '\r' || c == '\n' ? "an empty chunk-size line" : "a chunk size not hex";
          } else if (c == '\r') {
            state = State.SIZE_LF;
          } else if (c == ';') {
            state = State.EXTENSION;
            return line();
          } else if (blank(c)) {
            state = State.SIZE_BWS;
            return line();
          } else {
            return "a chunk size not hex";
          }
        }
        case SIZE_BWS -> {
          if (c == ';') {
            state = State.EXTENSION;
          } else if (!blank(c)) {
            return "a chunk size not hex";
          }
          return line();
        }
        case EXTENSION -> {
          if (c == '\r') {
            state = State.SIZE_LF;
          } else if (!text(c)) {
            return "a control byte in a chunk extension";
          } else {
            return line();
          }
        }
        case SIZE_LF -> {
          if (c != '\n') {
            return "a chunk-size line not ended by CRLF";
          }
          if (size == 0) {
            state = State.TRAILER_START;
          } else {
            declared += size;
            if (declared < 0) {
              declared = Long.MAX_VALUE;
            }
            remaining = size;
            state = State.DATA;
          }
          digits = 0;
          size = 0;
          lineBytes = 0;
        }
        case DATA_CR -> {
          if (c != '\r') {
            return "chunk data longer than its size, or not followed by CRLF";
          }
          state = State.DATA_LF;
        }
        case DATA_LF -> {
          if (c != '\n') {
            return "chunk data not followed by CRLF";
          }
          state = State.SIZE;
        }
        case TRAILER_START -> {
          if (c == '\r') {
            state = State.END_LF;
          } else if (blank(c) || c == ':' || !text(c)) {
            return "a malformed trailer field";
          } else {
            state = State.TRAILER_LINE;
            trailerColon = false;
            return trailer();
          }
        }
        case TRAILER_LINE -> {
          if (c == '\r') {
            if (!trailerColon) {
              return "a trailer field without ':'";
            }
            state = State.TRAILER_LF;
          } else if (!text(c)) {
            return "a control byte in a trailer field";
          } else {
            trailerColon |= c == ':';
            return trailer();
          }
        }
        case TRAILER_LF -> {
          if (c != '\n') {
            return "a trailer field not ended by CRLF";
          }
          state = State.TRAILER_START;
        }
        case END_LF -> {
          if (c != '\n') {
            return "the last chunk not ended by CRLF";
          }
          state = State.DONE;
        }
        default -> throw new IllegalStateException(state.name());
      }
      return null;
    }

    private String line() {
      return ++lineBytes > maxLineBytes
          ? "a chunk-size line over " + maxLineBytes + " bytes"
          : null;
    }

    private String trailer() {
      return ++trailerBytes > maxLineBytes
          ? "trailer fields over " + maxLineBytes + " bytes"
          : null;
    }

    /**
     * Runs over {@code b} (not consumed) from this state, skipping data; returns the first thing
     * wrong, or null.
     */
    String scan(ByteBuffer b) {
      for (int i = b.position(); i < b.limit() && state != State.DONE; i++) {
        if (state == State.DATA) {
          long skip = Math.min(remaining, b.limit() - i);
          remaining -= skip;
          i += (int) skip - 1;
          if (remaining == 0) {
            state = State.DATA_CR;
          }
          continue;
        }
        String wrong = step(b.get(i));
        if (wrong != null) {
          return wrong;
        }
      }
      return null;
    }
  }

  private final HttpServerExchange exchange;
  private long limit; // maxBodyBytes, or a reader's smaller limit
  private final Framing f;
  private PooledByteBuffer raw; // bytes read from below and not yet decoded; null when none
  private boolean tooLargeReported;
  private boolean tooLargePending;
  private MalformedChunkException failure;
  private boolean finished;

  private ChunkedBody(
      StreamSourceConduit next, HttpServerExchange exchange, long maxBodyBytes, int maxLineBytes) {
    super(next);
    this.exchange = exchange;
    this.limit = maxBodyBytes;
    this.f = new Framing(maxLineBytes);
  }

  /**
   * For a request with a chunked body, replaces Undertow's decoder with this one and decodes the
   * framing of what already arrived with the head (data stays for the handler). Returns what was
   * found wrong there ({@link MalformedChunkException}, or {@link RequestTooBigException} when the
   * sizes announced are over the limit), or null. Call before anything reads the body.
   */
  static IOException install(HttpServerExchange exchange, long maxBodyBytes, int maxLineBytes) {
    if (exchange.isRequestComplete()
        || !(exchange.getConnection() instanceof HttpServerConnection connection)) {
      return null;
    }
    var source = connection.getChannel().getSourceChannel();
    if (!(source.getConduit() instanceof io.undertow.conduits.ChunkedStreamSourceConduit)) {
      return null;
    }
    ChunkedBody body =
        new ChunkedBody(
            new io.undertow.conduits.ReadDataStreamSourceConduit(
                connection.getOriginalSourceConduit(), connection),
            exchange,
            maxBodyBytes,
            maxLineBytes);
    source.setConduit(body);
    exchange.putAttachment(KEY, body);
    exchange.addExchangeCompleteListener(
        (ex, nextListener) -> {
          body.release(); // a body left unread: its buffer goes back to the pool
          nextListener.proceed();
        });
    if (connection.getExtraBytes() == null) {
      return null;
    }
    try {
      body.fill();
      body.advance(ByteBuffer.allocate(0));
      if (body.raw != null) {
        // what else arrived with the head, data skipped, without consuming it
        Framing ahead = body.f.copy();
        String wrong = ahead.scan(body.raw.getBuffer());
        if (wrong != null) {
          return body.fail(wrong);
        }
        if (!body.tooLargeReported && ahead.declared > body.limit()) {
          return body.tooLarge();
        }
      }
    } catch (MalformedChunkException e) {
      return e;
    } catch (IOException e) {
      return null; // a read error: the handler's first read reports it
    }
    return body.tooLargePending ? body.tooLarge() : null;
  }

  /**
   * A reader that answers "too large" itself (413 for a {@code Content-Length} or the bytes it
   * counted) tells the decoder, which then reports nothing more: the drain after the answer must
   * not meet the decoder's own report.
   */
  static void refused(HttpServerExchange exchange) {
    ChunkedBody b = exchange.getAttachment(KEY);
    if (b != null) {
      b.tooLargeReported = true;
      b.tooLargePending = false;
    }
  }

  /** Narrows the body limit for this exchange (a reader's own limit below {@code maxBodyBytes}). */
  static void limit(HttpServerExchange exchange, long maxBytes) {
    ChunkedBody b = exchange.getAttachment(KEY);
    if (b != null && maxBytes < b.limit) {
      b.limit = maxBytes;
      if (!b.tooLargeReported && b.f.declared > b.limit()) {
        b.tooLargePending = true;
      }
    }
  }

  private long limit() {
    long entity = exchange.getMaxEntitySize();
    return entity > 0 ? Math.min(entity, limit) : limit;
  }

  private int pending() {
    return raw == null ? 0 : raw.getBuffer().remaining();
  }

  /** Reads what is available from below into {@link #raw}; -1 at the end of the stream. */
  private int fill() throws IOException {
    if (raw == null) {
      raw = exchange.getConnection().getByteBufferPool().allocate();
      raw.getBuffer().clear().flip();
    }
    ByteBuffer b = raw.getBuffer();
    b.compact();
    int n;
    try {
      n = next.read(b);
    } finally {
      b.flip();
    }
    return n;
  }

  private void release() {
    if (raw != null) {
      raw.close();
      raw = null;
    }
  }

  private MalformedChunkException fail(String why) {
    failure = new MalformedChunkException("malformed chunked body: " + why);
    release();
    exchange.setPersistent(false);
    return failure;
  }

  /**
   * Decodes {@link #raw}: framing bytes are consumed, data is copied into {@code dst} while it has
   * room. Returns the data bytes copied.
   */
  private int advance(ByteBuffer dst) throws IOException {
    int copied = 0;
    ByteBuffer b = raw == null ? ByteBuffer.allocate(0) : raw.getBuffer();
    while (b.hasRemaining() && f.state != State.DONE && !tooLargePending) {
      if (f.state == State.DATA) {
        int n = (int) Math.min(f.remaining, Math.min(b.remaining(), dst.remaining()));
        if (n == 0) {
          break;
        }
        int limit = b.limit();
        b.limit(b.position() + n);
        dst.put(b);
        b.limit(limit);
        copied += n;
        f.remaining -= n;
        if (f.remaining == 0) {
          f.state = State.DATA_CR;
        }
        continue;
      }
      step(b.get());
    }
    if (f.state == State.DONE) {
      giveBack();
    } else if (raw != null && !b.hasRemaining()) {
      release();
    }
    return copied;
  }

  /** The body ended: bytes past it belong to the next request on the connection. */
  private void giveBack() {
    if (raw != null && raw.getBuffer().hasRemaining()) {
      ((HttpServerConnection) exchange.getConnection()).ungetRequestBytes(raw);
      raw = null;
    } else {
      release();
    }
  }

  private static boolean hex(byte c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  private static boolean blank(byte c) {
    return c == ' ' || c == '\t';
  }

  /** Printable or obs-text, as field values and chunk extensions allow. */
  private static boolean text(byte c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  }

  private void step(byte c) throws MalformedChunkException {
    boolean sizeLine = f.state == State.SIZE_LF;
    String wrong = f.step(c);
    if (wrong != null) {
      throw fail(wrong);
    }
    if (sizeLine && f.state == State.DATA && !tooLargeReported && f.declared > limit()) {
      tooLargePending = true;
    }
  }

  private RequestTooBigException tooLarge() {
    tooLargePending = false;
    tooLargeReported = true;
    return new RequestTooBigException(
        "the chunk sizes announced add up to more than the limit of " + limit() + " bytes");
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    if (failure != null) {
      throw failure;
    }
    if (tooLargePending && !tooLargeReported) {
      throw tooLarge();
    }
    tooLargePending = false;
    int copied = 0;
    try {
      while (f.state != State.DONE) {
        if (f.state == State.DATA && pending() == 0) {
          if (!dst.hasRemaining()) {
            return copied;
          }
          int limit = dst.limit();
          if (dst.remaining() > f.remaining) {
            dst.limit(dst.position() + (int) f.remaining);
          }
          int n;
          try {
            n = next.read(dst);
          } finally {
            dst.limit(limit);
          }
          if (n < 0) {
            throw fail("the connection ended inside a chunk");
          }
          if (n == 0) {
            return copied;
          }
          copied += n;
          f.remaining -= n;
          if (f.remaining == 0) {
            f.state = State.DATA_CR;
          }
          continue;
        }
        if (pending() == 0) {
          int n = fill();
          if (n < 0) {
            throw fail("the connection ended before the last chunk");
          }
          if (n == 0) {
            return copied;
          }
        }
        copied += advance(dst);
        if (tooLargePending && !tooLargeReported) {
          if (copied > 0) {
            return copied; // the data before this size line first; the next read throws
          }
          throw tooLarge();
        }
        tooLargePending = false;
        if (!dst.hasRemaining() && f.state != State.DONE) {
          return copied; // full: framing bytes still buffered wait for the next read
        }
      }
    } catch (MalformedChunkException e) {
      if (copied > 0) {
        return copied; // failure is kept: the next read throws it
      }
      throw e;
    }
    if (copied > 0) {
      return copied;
    }
    if (!finished) {
      finished = true;
      Connectors.terminateRequest(exchange);
    }
    return -1;
  }

  @Override
  public long read(ByteBuffer[] dsts, int offs, int len) throws IOException {
    for (int i = offs; i < offs + len; i++) {
      if (dsts[i].hasRemaining()) {
        return read(dsts[i]);
      }
    }
    return 0;
  }

  @Override
  public long transferTo(long position, long count, FileChannel target) throws IOException {
    return target.transferFrom(new ConduitReadableByteChannel(this), position, count);
  }

  @Override
  public long transferTo(long count, ByteBuffer throughBuffer, StreamSinkChannel target)
      throws IOException {
    return IoUtils.transfer(new ConduitReadableByteChannel(this), count, throughBuffer, target);
  }

  /** Buffered bytes, a failure or the end are readable without the socket. */
  private boolean readable() {
    return pending() > 0 || failure != null || f.state == State.DONE || tooLargePending;
  }

  @Override
  public void resumeReads() {
    if (readable()) {
      next.wakeupReads();
    } else {
      next.resumeReads();
    }
  }

  @Override
  public void awaitReadable() throws IOException {
    if (!readable()) {
      next.awaitReadable();
    }
  }

  @Override
  public void awaitReadable(long time, TimeUnit timeUnit) throws IOException {
    if (!readable()) {
      next.awaitReadable(time, timeUnit);
    }
  }

  @Override
  public void terminateReads() throws IOException {
    release();
    if (f.state != State.DONE) {
      exchange.setPersistent(false);
      next.terminateReads();
    }
  }
}
