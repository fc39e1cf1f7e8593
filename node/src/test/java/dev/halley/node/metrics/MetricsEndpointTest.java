package dev.halley.node.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.MutableClock;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import dev.halley.node.WsRecorder;
import dev.halley.node.presence.PresenceTest;
import dev.halley.testing.RawHttp;
import dev.halley.testing.TransportClient;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code GET /metrics}, {@code /healthz} and {@code /readyz} of a real node after a scripted run.
 */
class MetricsEndpointTest {
  @Test
  void exposesTheMetersWithTheRightValuesAfterAScriptedRun() {
    try (HalleyNode node = HalleyNode.start(TestNodes.config().build())) {
      InternalApi api = new InternalApi(node);
      String wsUser = TestNodes.userOwnedBy("a", "w", 0);
      String sseUser = TestNodes.userOwnedBy("a", "s", 0);
      String offline = TestNodes.userOwnedBy("a", "o", 0);
      try (WsRecorder ws = WsRecorder.connect(node.publicPort(), TestNodes.token(wsUser, null));
          TransportClient sse = TransportClient.Transport.SSE.client(node.publicPort())) {
        sse.connect(TestNodes.token(sseUser, null), null);
        for (int i = 0; i < 3; i++) {
          api.publishToUsers(InternalApi.json(String.valueOf(i)), wsUser);
          ws.assertEvent("message");
        }
        api.publishToUsers(InternalApi.json("1"), offline);
        api.publishToUsers(InternalApi.json("2"), offline);
        api.publishToUsers(InternalApi.json("3"), TestNodes.remoteUser("r"));
        api.publishToUsers(InternalApi.json("4"), sseUser);
        sse.awaitMessage();

        RawHttp.Response r = Scrape.get(node.internalPort(), "/metrics"); // no API key
        assertEquals(200, r.status());
        assertTrue(r.headers().get("content-type").startsWith("text/plain"));
        String m = r.body();
        assertEquals(1.0, Scrape.sample(m, "halley_connections{transport=\"websocket\"}"));
        assertEquals(1.0, Scrape.sample(m, "halley_connections{transport=\"sse\"}"));
        assertEquals(0.0, Scrape.sample(m, "halley_connections{transport=\"longpoll\"}"));
        assertEquals(1.0, Scrape.sample(m, "halley_connections_opened_total{transport=\"sse\"}"));
        assertEquals(7.0, Scrape.sample(m, "halley_events_published_total"));
        assertEquals(2.0, Scrape.sample(m, "halley_events_buffered_total"));
        assertEquals(1.0, Scrape.sample(m, "halley_publish_misdirected_total"));
        assertEquals(
            3.0, Scrape.sample(m, "halley_events_delivered_total{transport=\"websocket\"}"));
        assertEquals(1.0, Scrape.sample(m, "halley_events_delivered_total{transport=\"sse\"}"));
        // Latency is sampled: one delivery in 16, the first included (4 deliveries: 1 sample).
        assertEquals(1.0, Scrape.sample(m, "halley_publish_latency_seconds_count"));
        assertEquals(1.0, Scrape.sample(m, "halley_publish_latency_seconds_bucket{le=\"+Inf\"}"));
        assertEquals(
            0.0,
            Scrape.sample(m, "halley_slow_consumer_disconnects_total{transport=\"websocket\"}"));
        assertEquals(3.0, Scrape.sample(m, "halley_map_version"));
        assertTrue(
            Scrape.sample(m, "jvm_memory_used_bytes{area=\"heap\",id=\"G1 Eden Space\"}") >= 0
                || m.contains("jvm_memory_used_bytes"));
        assertTrue(m.contains("jvm_gc_"), "GC meters");
        for (String line : m.split("\n")) {
          assertTrue(
              line.startsWith("#") || !line.contains(wsUser) && !line.contains("/v1/"),
              "user or path in: " + line);
        }
      }
    }
  }

  @Test
  void countsEventsDroppedFromBuffersForTheirLimitsAndTtl() {
    MutableClock clock = new MutableClock(System.currentTimeMillis());
    try (HalleyNode node =
        HalleyNode.start(
            TestNodes.config().clock(clock).bufferMaxEvents(2).bufferMaxAgeMs(60_000).build())) {
      InternalApi api = new InternalApi(node);
      String full = TestNodes.userOwnedBy("a", "full", 0);
      String brief = TestNodes.userOwnedBy("a", "brief", 0);
      String old = TestNodes.userOwnedBy("a", "old", 0);
      for (int i = 0; i < 3; i++) {
        api.publishToUsers(InternalApi.json(String.valueOf(i)), full); // the third pushes one out
      }
      ObjectNode ttl = InternalApi.JSON.createObjectNode();
      ttl.putArray("users").add(brief);
      ttl.put("data", "soon gone");
      ttl.put("ttlMs", 5);
      api.publishOne(ttl);
      assertEquals(200, api.subscribe(old, "keep").status()); // not swept while idle
      api.publishToUsers(InternalApi.json("\"aging\""), old);
      clock.advanceMillis(60_001);
      api.publishToUsers(InternalApi.json("\"later\""), brief); // purges the expired one
      api.publishToUsers(InternalApi.json("\"later\""), old); // purges the aged one

      String m = Scrape.get(node.internalPort(), "/metrics").body();
      assertEquals(2.0, Scrape.sample(m, "halley_events_dropped_total{reason=\"buffer_limit\"}"));
      assertEquals(1.0, Scrape.sample(m, "halley_events_dropped_total{reason=\"ttl\"}"));
      assertEquals(0.0, Scrape.sample(m, "halley_events_dropped_total{reason=\"moved\"}"));
    }
  }

  @Test
  void countsTheBufferOfAnIdleStreamEvictedByTheSweep() {
    // The sweep runs every bufferMaxAgeMs (at most 60 s); a short age makes it run soon.
    try (HalleyNode node = HalleyNode.start(TestNodes.config().bufferMaxAgeMs(300).build())) {
      InternalApi api = new InternalApi(node);
      String idle = TestNodes.userOwnedBy("a", "idle", 0);
      api.publishToUsers(InternalApi.json("\"kept until the sweep\""), idle);
      ObjectNode ttl = InternalApi.JSON.createObjectNode();
      ttl.putArray("users").add(idle);
      ttl.put("data", "expires first");
      ttl.put("ttlMs", 50);
      api.publishOne(ttl);

      PresenceTest.awaitWithin(
          Duration.ofSeconds(10),
          () -> {
            String m = Scrape.get(node.internalPort(), "/metrics").body();
            return Scrape.sample(m, "halley_events_dropped_total{reason=\"buffer_limit\"}") == 1.0
                && Scrape.sample(m, "halley_events_dropped_total{reason=\"ttl\"}") == 1.0;
          },
          "one buffer_limit and one ttl drop");
    }
  }

  @Test
  void healthAndReadinessFollowTheLifecycle() throws IOException {
    HalleyNode node = HalleyNode.start(TestNodes.config().build());
    int port = node.internalPort();
    assertEquals(200, Scrape.get(port, "/healthz").status());
    assertEquals(
        "up", InternalApi.json(Scrape.get(port, "/healthz").body()).get("status").asText());
    assertEquals(200, Scrape.get(port, "/readyz").status());
    assertEquals(
        405, RawHttp.request(port, "POST", "/readyz", Map.of("Content-Length", "0")).status());

    node.startDrain(Duration.ofSeconds(1));
    assertEquals(503, Scrape.get(port, "/readyz").status());
    assertEquals(200, Scrape.get(port, "/healthz").status());

    node.drain(Duration.ofSeconds(1));
    assertThrows(IOException.class, () -> RawHttp.request(port, "GET", "/healthz", Map.of()));
  }
}
