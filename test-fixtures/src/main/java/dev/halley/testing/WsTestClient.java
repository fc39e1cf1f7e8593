package dev.halley.testing;

import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The WebSocket test client: a {@link WsTestSocket} (Java-WebSocket), one JSON event per text
 * message.
 *
 * <p>Not the JDK's {@code java.net.http.WebSocket}: that client corrupts a text message about once
 * in a hundred resumes whose replay of large events follows the 101 response in the same reads (an
 * 8 KB event arrives with its last bytes replaced by bytes of its own padding; a capture of the
 * same connection shows the node's frame intact). See {@code WsReplayBurstTest} in node's tests.
 */
public final class WsTestClient extends TransportClient {
  private volatile WsTestSocket ws;

  /** The close code the node sent, completed when its close frame arrives. */
  public final CompletableFuture<Integer> closeCode = new CompletableFuture<>();

  public WsTestClient(int port) {
    super(port);
  }

  @Override
  public String transport() {
    return "ws";
  }

  @Override
  public void connect(String token, String lastEventId) {
    String q = "token=" + URLEncoder.encode(token, StandardCharsets.UTF_8);
    if (lastEventId != null) {
      q += "&lastEventId=" + URLEncoder.encode(lastEventId, StandardCharsets.UTF_8);
    }
    q += extraQuerySuffix();
    CountDownLatch helloSeen = new CountDownLatch(1);
    WsTestSocket.Listener listener =
        new WsTestSocket.Listener() {
          @Override
          public void onText(String text) {
            try {
              received(TestJson.parse(text));
            } catch (RuntimeException e) {
              failed(e);
              throw e; // the socket cuts the connection
            }
            if (hello != null) {
              helloSeen.countDown();
            }
          }

          @Override
          public void onClose(int code, String reason) {
            closeCode.complete(code);
          }

          @Override
          public void onError(Exception error) {
            closeCode.completeExceptionally(error);
            failed(error);
          }
        };
    try {
      ws =
          WsTestSocket.open(
              URI.create("ws://127.0.0.1:" + port + "/v1/ws?" + q), null, TIMEOUT, listener);
    } catch (java.io.IOException e) {
      throw new AssertionError("ws: connect failed: " + e.getMessage(), e);
    }
    try {
      if (!helloSeen.await(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new AssertionError("ws: no hello");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("ws: connect interrupted", e);
    }
  }

  @Override
  public boolean isEnded() {
    return closeCode.isDone();
  }

  @Override
  public void close() {
    WsTestSocket c = ws;
    if (c != null) {
      c.abort();
    }
  }
}
