package dev.halley.node.http;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.IoTimers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.xnio.IoUtils;
import org.xnio.StreamConnection;
import org.xnio.XnioExecutor;
import org.xnio.conduits.ConduitStreamSourceChannel;

/**
 * Answers a socket accepted over its listener's limit: 503 {@code over_capacity} with {@code
 * Retry-After} and {@code Connection: close}, then the write side is shut (the client sees the
 * answer and the end at once) and the socket closes. Closing a socket with the client's request
 * still unread would make the kernel send a reset, which can destroy the answer in the client's
 * buffer, so the socket reads and drops what the client sends until its request head is complete,
 * it closes, {@code lingerMs} pass or 64 KiB were dropped; then it closes. At most {@code
 * maxLingering} sockets of a listener wait like that; more are answered at once and closed as soon
 * as what arrived is read. Nothing of Undertow touches these sockets. Runs on the socket's IO
 * thread.
 *
 * <p>On the public listener ({@code cors} not null) the answer waits for the request head, so that
 * an allowed {@code Origin} gets {@code Access-Control-Allow-Origin} exactly as every other error
 * of that listener does ({@link CorsPolicy}) and a browser's {@code fetch} can read the 503; a
 * socket that sends no complete head within {@code lingerMs}, or one over {@code maxLingering},
 * gets the answer without them. The internal listener answers before reading anything.
 */
final class OverCapacity {
  private static final int DROP_LIMIT_BYTES = 64 * 1024;
  private static final int MAX_LINE_BYTES = 1024; // longer header lines are not Origin or Host
  private static final byte[] END_OF_HEAD = {'\r', '\n', '\r', '\n'};

  private final int retryAfterSeconds;
  private final byte[] reply;
  private final long lingerMs;
  private final int maxLingering;
  private final AtomicInteger lingering;
  private final CorsPolicy cors;

  OverCapacity(NodeServer.Refusal refusal, AtomicInteger lingering, CorsPolicy cors) {
    this.retryAfterSeconds = refusal.retryAfterSeconds();
    this.reply = reply(refusal.retryAfterSeconds(), "");
    this.lingerMs = refusal.lingerMs();
    this.maxLingering = refusal.maxLingering();
    this.lingering = lingering;
    this.cors = cors;
  }

  /** The 503 with {@code extraHeaders} (raw lines, each ending in CRLF). */
  static byte[] reply(int retryAfterSeconds, String extraHeaders) {
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
            + "\r\nCache-Control: no-store\r\n"
            + extraHeaders
            + "Connection: close\r\n\r\n";
    byte[] h = head.getBytes(StandardCharsets.ISO_8859_1);
    ByteBuffer b = ByteBuffer.allocate(h.length + body.length);
    b.put(h).put(body);
    return b.array();
  }

  void refuse(StreamConnection c) {
    if (!IoTimers.execute(c.getIoThread(), () -> answer(c))) {
      IoUtils.safeClose(c); // the node is stopping: no answer, the socket goes with it
    }
  }

  private void answer(StreamConnection c) {
    Reader r = new Reader(c);
    if (cors == null) {
      if (r.write(reply)) {
        r.dropThenLinger();
      }
      return;
    }
    if (r.drop()) {
      return; // the head was there already (answered and closed), or the socket is gone
    }
    if (!r.lingerIfRoom()) {
      if (r.write(reply)) {
        r.close(); // no room to wait: answered without the CORS headers, what arrived was read
      }
    }
  }

  /** Reads and drops the refused client's bytes until its request head is complete. */
  private final class Reader {
    private final StreamConnection c;
    private final ByteBuffer buf = ByteBuffer.allocate(2048);
    private final AtomicBoolean lingers = new AtomicBoolean();
    private int matched; // bytes of END_OF_HEAD seen in a row
    private int dropped;
    private boolean answered;
    private XnioExecutor.Key timer;
    // Public listener, before the answer: the header line being read, Origin and Host seen so far.
    private StringBuilder line;
    private String origin;
    private String host;

    Reader(StreamConnection c) {
      this.c = c;
      if (cors != null) {
        line = new StringBuilder();
      }
    }

    /** Writes {@code bytes} and shuts the write side; returns false when the socket was closed. */
    boolean write(byte[] bytes) {
      answered = true;
      ByteBuffer out = ByteBuffer.wrap(bytes);
      try {
        var sink = c.getSinkChannel();
        sink.write(out);
        if (out.hasRemaining()) {
          close(); // a fresh socket's send buffer holds far more; give up
          return false;
        }
        sink.shutdownWrites();
        sink.flush();
        return true;
      } catch (IOException e) {
        close();
        return false;
      }
    }

    /** Internal listener, after the 503: drops what is readable, then lingers for the rest. */
    void dropThenLinger() {
      if (!drop() && !lingerIfRoom()) {
        close();
      }
    }

    /**
     * Drops what is readable now; at the end of the head answers (if not yet) and closes. Returns
     * true when the socket was closed.
     */
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
            finish();
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
        if (line != null) {
          header(b);
        }
        matched = b == END_OF_HEAD[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
        if (matched == END_OF_HEAD.length) {
          return true;
        }
      }
      return false;
    }

    /** Collects the request's Origin and Host (the first of each) from its header lines. */
    private void header(byte b) {
      if (b == '\n') {
        int colon = line.indexOf(":");
        if (colon > 0) {
          String name = line.substring(0, colon).trim();
          String value = line.substring(colon + 1).trim();
          if (origin == null && name.equalsIgnoreCase("Origin")) {
            origin = value;
          } else if (host == null && name.equalsIgnoreCase("Host")) {
            host = value;
          }
        }
        line.setLength(0);
      } else if (b != '\r' && line.length() < MAX_LINE_BYTES) {
        line.append((char) (b & 0xff));
      }
    }

    /** The head ended, the client closed, or it sent too much: answer if not yet, then close. */
    private void finish() {
      if (!answered) {
        boolean readable =
            origin != null && cors != null && cors.allows(origin, "http", host) && safe(origin);
        if (!write(readable ? reply(retryAfterSeconds, cors.headerLines(origin)) : reply)) {
          return;
        }
      }
      close();
    }

    /** Waits for more of the head (at most {@code lingerMs}) if fewer than the maximum wait. */
    boolean lingerIfRoom() {
      if (lingerMs == 0 || lingering.incrementAndGet() > maxLingering) {
        if (lingerMs != 0) {
          lingering.decrementAndGet();
        }
        return false;
      }
      lingers.set(true);
      timer = IoTimers.after(c.getIoThread(), lingerMs, TimeUnit.MILLISECONDS, this::expire);
      if (timer == null) { // the node is stopping: no waiting, answered at once
        lingers.set(false);
        lingering.decrementAndGet();
        return false;
      }
      ConduitStreamSourceChannel source = c.getSourceChannel();
      source.setReadListener(ch -> drop());
      source.resumeReads();
      return true;
    }

    /** {@code lingerMs} passed without a complete head: the answer without CORS, then close. */
    private void expire() {
      if (!answered && !write(reply)) {
        return;
      }
      close();
    }

    void close() {
      IoTimers.cancel(timer);
      if (lingers.compareAndSet(true, false)) {
        lingering.decrementAndGet();
      }
      IoUtils.safeClose(c);
    }
  }

  /** An origin echoed into a header line: printable ASCII only (no line breaks smuggled in). */
  private static boolean safe(String origin) {
    for (int i = 0; i < origin.length(); i++) {
      char ch = origin.charAt(i);
      if (ch < 0x21 || ch > 0x7e) {
        return false;
      }
    }
    return !origin.isEmpty();
  }
}
