package dev.halley.node;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.testing.TransportClient;
import dev.halley.testing.WsTestClient;
import java.util.concurrent.TimeUnit;

/**
 * Recorder-style assertions over the shared WebSocket test client, in order: {@code
 * assertEvent("moved")}, then {@code assertClosed(4009)}. Pings are not recorded; {@code hello} is
 * the first event.
 */
public final class WsRecorder implements AutoCloseable {
  private final WsTestClient client;

  private WsRecorder(WsTestClient client) {
    this.client = client;
  }

  /** Connects as the token's user; returns once {@code hello} arrived. */
  public static WsRecorder connect(int port, String token) {
    WsTestClient c = new WsTestClient(port);
    c.connect(token, null);
    return new WsRecorder(c);
  }

  /** The next event, which must be of {@code type}. */
  public JsonNode assertEvent(String type) {
    JsonNode e = client.awaitEvent();
    if (!e.path("type").asText().equals(type)) {
      throw new AssertionError("expected a " + type + " event, got " + e);
    }
    return e;
  }

  /** The server closed with {@code code}. */
  public void assertClosed(int code) {
    int actual;
    try {
      actual = client.closeCode.get(TransportClient.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      throw new AssertionError("not closed with " + code, e);
    }
    if (actual != code) {
      throw new AssertionError("closed with " + actual + ", expected " + code);
    }
  }

  @Override
  public void close() {
    client.close();
  }
}
