package dev.halley.testing;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import org.java_websocket.client.WebSocketClient;
import org.java_websocket.drafts.Draft;
import org.java_websocket.drafts.Draft_6455;
import org.java_websocket.exceptions.InvalidHandshakeException;
import org.java_websocket.framing.CloseFrame;
import org.java_websocket.handshake.Handshakedata;
import org.java_websocket.handshake.ServerHandshake;

/**
 * The tests' one WebSocket connection, on Java-WebSocket (org.java-websocket): to any {@code ws://}
 * or {@code wss://} URI, each text message handed whole to a {@link Listener}. {@link WsTestClient}
 * is built on it, and so are clients that read the events themselves (it-tests' {@code
 * StreamClient}).
 *
 * <p>Not the JDK's {@code java.net.http.WebSocket}: that client corrupts a text message about once
 * in a hundred resumes whose replay of large events follows the 101 response in the same reads (see
 * {@link WsTestClient}).
 *
 * <p>Threading: Java-WebSocket reads on a thread of its own per connection and calls the listener
 * there, one call at a time.
 */
public final class WsTestSocket implements AutoCloseable {
  /** What a connection reports, on its reading thread. */
  public interface Listener {
    /** One whole text message; a RuntimeException thrown here cuts the connection (1006). */
    void onText(String text);

    /** The connection ended: the node's close code, or a code of Java-WebSocket's (1006...). */
    void onClose(int code, String reason);

    /** Java-WebSocket failed (an {@link #onClose} follows). */
    default void onError(Exception error) {}
  }

  /** The upgrade was answered with {@link #status}, not 101. */
  public static final class Refused extends IOException {
    public final int status;

    Refused(int status, String line) {
      super("upgrade refused: " + line);
      this.status = status;
    }
  }

  private final WebSocketClient client;

  private WsTestSocket(WebSocketClient client) {
    this.client = client;
  }

  /**
   * Connects to {@code uri} ({@code wss://}: over TLS with {@code ssl}, or the default context if
   * null) and returns once the 101 arrived.
   *
   * @throws Refused if the node answered the upgrade with another status (the body is not read: a
   *     plain GET of the same URL gets the same answer, the upgrade is checked last)
   * @throws IOException if the connection failed or took longer than {@code timeout}; a socket that
   *     opened and was closed at once is returned (its listener gets the events and the close)
   */
  public static WsTestSocket open(URI uri, SSLContext ssl, Duration timeout, Listener listener)
      throws IOException {
    StatusDraft draft = new StatusDraft();
    java.util.concurrent.atomic.AtomicBoolean opened =
        new java.util.concurrent.atomic.AtomicBoolean();
    WebSocketClient c =
        new WebSocketClient(uri, draft) {
          @Override
          public void onOpen(ServerHandshake handshake) {
            opened.set(true);
          }

          @Override
          public void onMessage(String text) {
            try {
              listener.onText(text);
            } catch (RuntimeException e) {
              closeConnection(CloseFrame.ABNORMAL_CLOSE, "not an event: " + e.getMessage());
            }
          }

          @Override
          public void onClose(int code, String reason, boolean remote) {
            listener.onClose(code, reason);
          }

          @Override
          public void onError(Exception error) {
            listener.onError(error);
          }
        };
    c.setConnectionLostTimeout(0); // no client pings: the node's heartbeat is an event
    if ("wss".equals(uri.getScheme())) {
      try {
        c.setSocketFactory((ssl != null ? ssl : SSLContext.getDefault()).getSocketFactory());
      } catch (java.security.NoSuchAlgorithmException e) {
        throw new IOException(e);
      }
    }
    boolean open;
    try {
      open = c.connectBlocking(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      c.closeConnection(CloseFrame.ABNORMAL_CLOSE, "interrupted");
      Thread.currentThread().interrupt();
      throw new IOException("ws: connect interrupted", e);
    }
    // connectBlocking is also false for a socket that opened and was closed before it returned (a
    // node that upgrades and at once sends `moved` and closes): that one did open, and its
    // listener has or will have every event and the close.
    if (!open && !opened.get()) {
      c.closeConnection(CloseFrame.ABNORMAL_CLOSE, "connect failed");
      StatusDraft seen = draft.last;
      if (seen != null && seen.status != 101 && seen.status != 0) {
        throw new Refused(seen.status, seen.line);
      }
      throw new IOException("ws: no upgrade from " + uri + " within " + timeout);
    }
    return new WsTestSocket(c);
  }

  /** Sends one text message. */
  public void send(String text) {
    client.send(text);
  }

  /** Cuts the connection now, with no close handshake (the listener sees 1006). */
  public void abort() {
    client.closeConnection(CloseFrame.ABNORMAL_CLOSE, "test client closed");
  }

  @Override
  public void close() {
    abort();
  }

  /**
   * Draft 6455 that remembers the status line of the server's answer before Java-WebSocket refuses
   * a non-101 (which it reports only as a close). Java-WebSocket works on a copy of the draft, so
   * the copy reports to the original.
   */
  private static final class StatusDraft extends Draft_6455 {
    private final StatusDraft origin;
    private volatile StatusDraft last;
    private volatile int status;
    private volatile String line;

    StatusDraft() {
      this.origin = null;
    }

    private StatusDraft(StatusDraft origin) {
      this.origin = origin;
    }

    @Override
    public Draft copyInstance() {
      return new StatusDraft(origin != null ? origin : this);
    }

    @Override
    public Handshakedata translateHandshake(ByteBuffer buf) throws InvalidHandshakeException {
      ByteBuffer peek = buf.duplicate();
      StringBuilder first = new StringBuilder();
      while (peek.hasRemaining()) {
        char ch = (char) (peek.get() & 0xff);
        if (ch == '\r' || ch == '\n') {
          break;
        }
        first.append(ch);
      }
      String l = first.toString();
      if (l.startsWith("HTTP/") && l.length() >= 12) {
        try {
          status = Integer.parseInt(l.substring(9, 12));
          line = new String(l.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
          (origin != null ? origin : this).last = this;
        } catch (NumberFormatException ignored) {
          // not a status line: Java-WebSocket refuses it
        }
      }
      return super.translateHandshake(buf);
    }
  }
}
