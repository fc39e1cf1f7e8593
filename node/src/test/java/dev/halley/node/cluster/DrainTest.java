package dev.halley.node.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import dev.halley.node.WsRecorder;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.EventTypes;
import dev.halley.testing.RawHttp;
import dev.halley.testing.TransportClient;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Draining turns readiness false, refuses new connections with 503 draining, and tells every client
 * to reconnect after a delay spread evenly over the drain period (WebSocket 4010).
 */
class DrainTest {
  private static final long PERIOD_MS = 10_000;

  private HalleyNode node;
  private final List<AutoCloseable> clients = new ArrayList<>();

  @BeforeEach
  void start() {
    node = HalleyNode.start(TestNodes.config().build());
  }

  @AfterEach
  void stop() throws Exception {
    for (AutoCloseable c : clients) {
      c.close();
    }
    node.close();
  }

  @Test
  void tellsEveryClientToReconnectWithDelaysSpreadOverThePeriodThenStops() throws IOException {
    List<WsRecorder> ws = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      WsRecorder r =
          WsRecorder.connect(
              node.publicPort(), TestNodes.token(TestNodes.userOwnedBy("a", "d", i), null));
      clients.add(r);
      ws.add(r);
    }
    TransportClient sse = TransportClient.Transport.SSE.client(node.publicPort());
    clients.add(sse);
    sse.connect(TestNodes.token(TestNodes.userOwnedBy("a", "s", 0), null), null);
    String lpUser = TestNodes.userOwnedBy("a", "lp", 0);
    TransportClient longPoll = TransportClient.Transport.LONGPOLL.client(node.publicPort());
    clients.add(longPoll);
    longPoll.connect(TestNodes.token(lpUser, null), null);
    new InternalApi(node).awaitConnections(lpUser, 1); // its request is held
    assertEquals(200, Scrape.get(node.internalPort(), "/readyz").status());

    assertEquals(12, node.startDrain(Duration.ofMillis(PERIOD_MS)));

    RawHttp.Response ready = Scrape.get(node.internalPort(), "/readyz");
    assertEquals(503, ready.status());
    assertEquals("draining", ready.error());
    assertEquals(200, Scrape.get(node.internalPort(), "/healthz").status());
    RawHttp.Response refused =
        TransportClient.Transport.WS.attempt(
            node.publicPort(),
            "token=" + TestNodes.token(TestNodes.userOwnedBy("a", "late", 0), null),
            Map.of());
    assertEquals(503, refused.status());
    assertEquals("draining", refused.error());

    long[] delays = new long[12];
    for (int i = 0; i < ws.size(); i++) {
      delays[i] = ws.get(i).assertEvent(EventTypes.RECONNECT).get("delayMs").asLong();
      ws.get(i).assertClosed(CloseCodes.RECONNECT);
    }
    JsonNode last = sse.awaitEvent();
    assertEquals(EventTypes.RECONNECT, last.get("type").asText());
    delays[10] = last.get("delayMs").asLong();
    JsonNode held = longPoll.awaitEvent();
    assertEquals(EventTypes.RECONNECT, held.get("type").asText());
    delays[11] = held.get("delayMs").asLong();

    // One reconnect per slot of the period: no storm.
    Arrays.sort(delays);
    for (int i = 0; i < delays.length; i++) {
      long from = PERIOD_MS * i / delays.length;
      long to = (PERIOD_MS * (i + 1) + delays.length - 1) / delays.length;
      assertTrue(
          delays[i] >= from && delays[i] <= to && delays[i] < PERIOD_MS,
          "delay " + delays[i] + " outside slot " + i + ": " + Arrays.toString(delays));
    }
    String metrics = Scrape.get(node.internalPort(), "/metrics").body();
    assertEquals(
        10.0, Scrape.sample(metrics, "halley_clients_drained_total{transport=\"websocket\"}"));
    assertEquals(1.0, Scrape.sample(metrics, "halley_clients_drained_total{transport=\"sse\"}"));
    assertEquals(
        1.0, Scrape.sample(metrics, "halley_clients_drained_total{transport=\"longpoll\"}"));
    // The late WebSocket, plus the long-poll client's next request.
    assertTrue(
        Scrape.sample(metrics, "halley_connections_rejected_total{reason=\"draining\"}") >= 1);

    assertEquals(0, node.drain(Duration.ofMillis(PERIOD_MS)), "already told");
    assertEquals(0, node.stats().connections());
    assertThrows(
        IOException.class, () -> RawHttp.request(node.internalPort(), "GET", "/healthz", Map.of()));
  }
}
