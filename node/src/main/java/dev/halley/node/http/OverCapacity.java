package dev.halley.node.http;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.xnio.IoUtils;
import org.xnio.StreamConnection;
import org.xnio.XnioExecutor;
import org.xnio.conduits.ConduitStreamSourceChannel;

/**
 * Answers a socket accepted over its listener's limit: 503 {@code over_capacity} with {@code
 * Retry-After} and {@code Connection: close}, written before anything is read, then the write side
 * is shut (the client sees the answer and the end at once). Closing a socket with the client's
 * request still unread would make the kernel send a reset, which can destroy the answer in the
 * client's buffer, so the socket reads and drops what the client sends until its request head is
 * complete, it closes, {@code lingerMs} pass or 64 KiB were dropped; then it closes. At most {@code
 * maxLingering} sockets of a listener wait like that; more are closed as soon as the 503 is written
 * and what arrived is read. Nothing of Undertow touches these sockets. Runs on the socket's IO
 * thread.
 */
final class OverCapacity {
  private static final int DROP_LIMIT_BYTES = 64 * 1024;
  private static final byte[] END_OF_HEAD = {'\r', '\n', '\r', '\n'};

  private final byte[] reply;
  private final long lingerMs;
  private final int maxLingering;
  private final AtomicInteger lingering;

  OverCapacity(NodeServer.Refusal refusal, AtomicInteger lingering) {
    this.reply = reply(refusal.retryAfterSeconds());
    this.lingerMs = refusal.lingerMs();
    this.maxLingering = refusal.maxLingering();
    this.lingering = lingering;
  }

  static byte[] reply(int retryAfterSeconds) {
    byte[] body =
        new HttpError(
                503,
                ErrorCodes.OVER_CAPACITY,
                "the node is at its socket limit; retry after " + retryAfterSeconds + " s")
            .body();
    String head =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "
            + body.length
            + "\r\nRetry-After: "
            + retryAfterSeconds
            + "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
    ByteBuffer b = ByteBuffer.allocate(head.length() + body.length);
    b.put(head.getBytes(US_ASCII)).put(body);
    return b.array();
  }

  void refuse(StreamConnection c) {
    c.getIoThread().execute(() -> answer(c));
  }

  private void answer(StreamConnection c) {
    ByteBuffer out = ByteBuffer.wrap(reply);
    try {
      var sink = c.getSinkChannel();
      sink.write(out);
      if (out.hasRemaining()) {
        IoUtils.safeClose(c); // a fresh socket's send buffer holds far more; give up
        return;
      }
      sink.shutdownWrites();
      sink.flush();
    } catch (IOException e) {
      IoUtils.safeClose(c);
      return;
    }
    Reader r = new Reader(c);
    if (r.drop()) {
      return; // done already: closed
    }
    if (lingerMs == 0 || lingering.incrementAndGet() > maxLingering) {
      if (lingerMs != 0) {
        lingering.decrementAndGet();
      }
      IoUtils.safeClose(c);
      return;
    }
    r.linger();
  }

  /** Reads and drops the refused client's bytes until its request head is complete. */
  private final class Reader {
    private final StreamConnection c;
    private final ByteBuffer buf = ByteBuffer.allocate(2048);
    private final AtomicBoolean lingers = new AtomicBoolean();
    private int matched; // bytes of END_OF_HEAD seen in a row
    private int dropped;
    private XnioExecutor.Key timer;

    Reader(StreamConnection c) {
      this.c = c;
    }

    /** Drops what is readable now; returns true when the socket was closed. */
    boolean drop() {
      ConduitStreamSourceChannel source = c.getSourceChannel();
      try {
        while (true) {
          buf.clear();
          int n = source.read(buf);
          if (n == 0) {
            return false;
          }
          if (n < 0 || headComplete(n) || (dropped += n) > DROP_LIMIT_BYTES) {
            close();
            return true;
          }
        }
      } catch (IOException e) {
        close();
        return true;
      }
    }

    private boolean headComplete(int n) {
      for (int i = 0; i < n; i++) {
        byte b = buf.get(i);
        matched = b == END_OF_HEAD[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
        if (matched == END_OF_HEAD.length) {
          return true;
        }
      }
      return false;
    }

    void linger() {
      lingers.set(true);
      timer = c.getIoThread().executeAfter(this::close, lingerMs, TimeUnit.MILLISECONDS);
      ConduitStreamSourceChannel source = c.getSourceChannel();
      source.setReadListener(ch -> drop());
      source.resumeReads();
    }

    private void close() {
      if (timer != null) {
        timer.remove();
      }
      if (lingers.compareAndSet(true, false)) {
        lingering.decrementAndGet();
      }
      IoUtils.safeClose(c);
    }
  }
}
