package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.testing.RawHttp;
import dev.halley.testing.SseTestClient;
import dev.halley.testing.TransportClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The map, the js-client modules, CORS, streaming headers and heartbeats. */
class PublicEndpointsTest {
  private static HalleyNode node;

  @BeforeAll
  static void start() {
    node =
        HalleyNode.start(
            TestNodes.config()
                .allowedOrigins(List.of("https://app.example"))
                .heartbeatMs(100)
                .longPollTimeoutMs(200)
                .build());
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  @Test
  void servesThePublicViewOfTheMap() throws IOException {
    RawHttp.Response r = RawHttp.request(node.publicPort(), "GET", "/v1/map", Map.of());
    assertEquals(200, r.status());
    JsonNode map = InternalApi.json(r.body());
    assertEquals(3, map.get("version").asInt());
    assertEquals(2, map.get("nodes").size());
    assertFalse(r.body().contains("internal"));
  }

  @Test
  void servesJsClientModulesWithAnEtag() throws IOException {
    String file;
    try (Stream<Path> files = Files.list(Path.of("../js-client/src"))) {
      file =
          files
              .map(p -> p.getFileName().toString())
              .filter(n -> n.endsWith(".js"))
              .sorted()
              .findFirst()
              .orElseThrow();
    }
    RawHttp.Response r = RawHttp.request(node.publicPort(), "GET", "/js/" + file, Map.of());
    assertEquals(200, r.status());
    assertEquals("text/javascript; charset=utf-8", r.headers().get("content-type"));
    assertEquals(Files.readString(Path.of("../js-client/src", file)), r.body());
    String etag = r.headers().get("etag");
    assertNotNull(etag);
    RawHttp.Response again =
        RawHttp.request(node.publicPort(), "GET", "/js/" + file, Map.of("If-None-Match", etag));
    assertEquals(304, again.status());
    assertEquals(
        404, RawHttp.request(node.publicPort(), "GET", "/js/../pom.xml", Map.of()).status());
    assertEquals(
        404, RawHttp.request(node.publicPort(), "GET", "/js/missing.js", Map.of()).status());
  }

  @Test
  void corsAllowsListedOriginsAnswersPreflightsAndRefusesOthers() throws IOException {
    RawHttp.Response ok =
        RawHttp.request(
            node.publicPort(), "GET", "/v1/map", Map.of("Origin", "https://app.example"));
    assertEquals(200, ok.status());
    assertEquals("https://app.example", ok.headers().get("access-control-allow-origin"));
    RawHttp.Response pre =
        RawHttp.request(
            node.publicPort(),
            "OPTIONS",
            "/v1/sse",
            Map.of(
                "Origin",
                "https://app.example",
                "Access-Control-Request-Method",
                "GET",
                "Access-Control-Request-Headers",
                "authorization"));
    assertEquals(204, pre.status());
    assertTrue(pre.headers().get("access-control-allow-headers").contains("Authorization"));
    RawHttp.Response bad =
        RawHttp.request(
            node.publicPort(), "GET", "/v1/map", Map.of("Origin", "https://evil.example"));
    assertEquals(403, bad.status());
    assertEquals("origin_forbidden", bad.error());
    String token = TestNodes.token(TestNodes.localUser("cors"), null);
    RawHttp.Response ws =
        TransportClient.Transport.WS.attempt(
            node.publicPort(), "token=" + token, Map.of("Origin", "https://app.example"));
    assertEquals(101, ws.status());
  }

  @Test
  void sseAndLongPollDisableProxyBuffering() throws IOException {
    String token = TestNodes.token(TestNodes.localUser("hdr"), null);
    RawHttp.Response lp =
        RawHttp.request(
            node.publicPort(), "GET", "/v1/longpoll?timeoutMs=0&token=" + token, Map.of());
    assertEquals(200, lp.status());
    assertEquals("no-cache", lp.headers().get("cache-control"));
    assertEquals("no", lp.headers().get("x-accel-buffering"));
    SseTestClient sse = new SseTestClient(node.publicPort());
    try {
      sse.connect(token, null);
      assertEquals("no-cache", sse.headers.get("cache-control"));
      assertEquals("no", sse.headers.get("x-accel-buffering"));
      assertTrue(sse.headers.get("content-type").startsWith("text/event-stream"));
      assertEquals("2000", sse.retry);
    } finally {
      sse.close();
    }
  }

  @Test
  void heartbeatsArriveOnWebSocketAndSseAndAnIdleLongPollReturnsAnEmptyBatch() throws Exception {
    String user = TestNodes.localUser("hb");
    String token = TestNodes.token(user, null);
    for (TransportClient.Transport t :
        List.of(TransportClient.Transport.WS, TransportClient.Transport.SSE)) {
      try (TransportClient c = t.client(node.publicPort())) {
        c.connect(token, null);
        assertEquals(100, c.hello().get("heartbeatMs").asInt());
        Awaitility.await(t + " pings")
            .atMost(java.time.Duration.ofSeconds(20))
            .pollInterval(java.time.Duration.ofMillis(20))
            .until(() -> c.pings() >= 2);
      }
    }
    RawHttp.Response lp =
        RawHttp.request(node.publicPort(), "GET", "/v1/longpoll?token=" + token, Map.of());
    JsonNode batch = InternalApi.json(lp.body());
    assertEquals(0, batch.get("events").size());
    assertTrue(batch.get("lastEventId").asText().startsWith(node.epoch() + ":"));
  }

  @Test
  void aTokenInTheAuthorizationHeaderWorksLikeTheQueryParameter() throws IOException {
    String token = TestNodes.token(TestNodes.localUser("header"), null);
    RawHttp.Response poll =
        RawHttp.request(
            node.publicPort(), "GET", "/v1/poll", Map.of("Authorization", "Bearer " + token));
    assertEquals(200, poll.status(), poll.body());
    assertTrue(InternalApi.json(poll.body()).get("lastEventId").asText().startsWith(node.epoch()));
    RawHttp.Response ws =
        RawHttp.request(
            node.publicPort(),
            "GET",
            "/v1/ws",
            new java.util.LinkedHashMap<>(
                Map.of(
                    "Authorization", "Bearer " + token,
                    "Upgrade", "websocket",
                    "Connection", "Upgrade",
                    "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version", "13")));
    assertEquals(101, ws.status());
  }
}
