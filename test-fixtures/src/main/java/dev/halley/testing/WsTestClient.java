package dev.halley.testing;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/** The WebSocket test client: the JDK's WebSocket, one JSON event per text frame. */
public final class WsTestClient extends TransportClient {
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private volatile WebSocket ws;

  /** The close code the node sent, completed when its close frame arrives. */
  public final java.util.concurrent.CompletableFuture<Integer> closeCode =
      new java.util.concurrent.CompletableFuture<>();

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
    java.util.concurrent.CountDownLatch helloSeen = new java.util.concurrent.CountDownLatch(1);
    try {
      ws =
          HTTP.newWebSocketBuilder()
              .buildAsync(
                  URI.create("ws://127.0.0.1:" + port + "/v1/ws?" + q),
                  new WebSocket.Listener() {
                    private final StringBuilder text = new StringBuilder();

                    @Override
                    public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                      text.append(data);
                      if (last) {
                        String s = text.toString();
                        text.setLength(0);
                        received(TestJson.parse(s));
                        if (hello != null) {
                          helloSeen.countDown();
                        }
                      }
                      w.request(1);
                      return null;
                    }

                    @Override
                    public CompletionStage<?> onClose(WebSocket w, int code, String reason) {
                      closeCode.complete(code);
                      return null;
                    }

                    @Override
                    public void onError(WebSocket w, Throwable error) {
                      closeCode.completeExceptionally(error);
                      failed(error);
                    }
                  })
              .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      if (!helloSeen.await(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new AssertionError("ws: no hello");
      }
    } catch (Exception e) {
      throw new AssertionError("ws: connect failed", e);
    }
  }

  @Override
  public void close() {
    WebSocket w = ws;
    if (w != null) {
      w.abort();
    }
  }
}
