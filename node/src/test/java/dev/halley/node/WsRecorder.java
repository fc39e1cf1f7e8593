package dev.halley.node;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A WebSocket client that records every event (pings aside) and the close code, for assertions in
 * order: {@code assertEvent("moved")}, then {@code assertClosed(4009)}.
 */
public final class WsRecorder implements AutoCloseable {
  static final Duration TIMEOUT = Duration.ofSeconds(20);
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  private final BlockingQueue<JsonNode> events = new LinkedBlockingQueue<>();
  private final CompletableFuture<Integer> closeCode = new CompletableFuture<>();
  private volatile WebSocket ws;

  /** Connects as the token's user; returns once {@code hello} arrived. */
  public static WsRecorder connect(int port, String token) {
    WsRecorder r = new WsRecorder();
    String q = "token=" + URLEncoder.encode(token, StandardCharsets.UTF_8);
    try {
      r.ws =
          HTTP.newWebSocketBuilder()
              .buildAsync(URI.create("ws://127.0.0.1:" + port + "/v1/ws?" + q), r.listener())
              .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      throw new AssertionError("ws: connect failed", e);
    }
    r.assertEvent("hello");
    return r;
  }

  private WebSocket.Listener listener() {
    return new WebSocket.Listener() {
      private final StringBuilder text = new StringBuilder();

      @Override
      public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
        text.append(data);
        if (last) {
          JsonNode e = InternalApi.json(text.toString());
          text.setLength(0);
          if (!e.path("type").asText().equals("ping")) {
            events.add(e);
          }
        }
        w.request(1);
        return null;
      }

      @Override
      public CompletionStage<?> onClose(WebSocket w, int statusCode, String reason) {
        closeCode.complete(statusCode);
        return null;
      }

      @Override
      public void onError(WebSocket w, Throwable error) {
        closeCode.completeExceptionally(error);
      }
    };
  }

  /** The next event, which must be of {@code type}. */
  public JsonNode assertEvent(String type) {
    try {
      JsonNode e = events.poll(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      if (e == null) {
        throw new AssertionError("no " + type + " event within " + TIMEOUT);
      }
      if (!e.path("type").asText().equals(type)) {
        throw new AssertionError("expected a " + type + " event, got " + e);
      }
      return e;
    } catch (InterruptedException ex) {
      throw new AssertionError(ex);
    }
  }

  /** The server closed with {@code code}. */
  public void assertClosed(int code) {
    try {
      int actual = closeCode.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      if (actual != code) {
        throw new AssertionError("closed with " + actual + ", expected " + code);
      }
    } catch (Exception e) {
      throw new AssertionError("not closed with " + code, e);
    }
  }

  /** No event is waiting (call after a later event proved the earlier ones arrived). */
  void assertNoMoreEvents() {
    if (!events.isEmpty()) {
      throw new AssertionError("unexpected events: " + events);
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
