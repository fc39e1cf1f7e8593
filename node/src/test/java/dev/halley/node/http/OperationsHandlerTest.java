package dev.halley.node.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.admission.Readiness;
import dev.halley.node.metrics.NodeMetrics;
import dev.halley.node.wire.Json;
import io.undertow.Undertow;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class OperationsHandlerTest {
  private final Readiness readiness = new Readiness();
  private final NodeMetrics metrics = NodeMetrics.prometheus();
  private final HttpClient client = HttpClient.newHttpClient();
  private Undertow server;
  private int port;

  @BeforeEach
  void start() {
    OperationsHandler ops =
        new OperationsHandler(
            exchange -> {
              exchange.setStatusCode(418);
              exchange.getResponseSender().send("next");
            },
            readiness,
            metrics);
    server =
        Undertow.builder()
            .addHttpListener(0, "127.0.0.1")
            .setIoThreads(1)
            .setWorkerThreads(2)
            .setHandler(ops)
            .build();
    server.start();
    port = ((InetSocketAddress) server.getListenerInfo().get(0).getAddress()).getPort();
  }

  @AfterEach
  void stop() {
    server.stop();
    metrics.close();
  }

  @Test
  void healthIsUpWhateverTheReadiness() throws Exception {
    HttpResponse<String> r = get("/healthz");
    assertEquals(200, r.statusCode());
    assertEquals("up", json(r).get("status").asText());
    readiness.startDraining();
    assertEquals(200, get("/healthz").statusCode());
  }

  @Test
  void readinessFollowsMapLoadThenDraining() throws Exception {
    HttpResponse<String> r = get("/readyz");
    assertEquals(503, r.statusCode());
    assertEquals("not_ready", json(r).get("error").asText());
    readiness.mapLoaded();
    r = get("/readyz");
    assertEquals(200, r.statusCode());
    assertEquals("ready", json(r).get("status").asText());
    readiness.startDraining();
    r = get("/readyz");
    assertEquals(503, r.statusCode());
    assertEquals("draining", json(r).get("error").asText());
    assertEquals("application/json", r.headers().firstValue("Content-Type").orElse(""));
  }

  @Test
  void metricsServesPrometheusTextWithCurrentValues() throws Exception {
    metrics.published(3);
    metrics.connectionOpened(NodeMetrics.SSE);
    HttpResponse<String> r = get("/metrics");
    assertEquals(200, r.statusCode());
    assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
    assertTrue(r.body().contains("halley_events_published_total 3"), r.body());
    assertTrue(r.body().contains("halley_connections{transport=\"sse\"} 1"), r.body());
  }

  @Test
  void otherMethodsGet405WithAJsonError() throws Exception {
    HttpResponse<String> r =
        client.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/healthz"))
                .POST(HttpRequest.BodyPublishers.ofString("{}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(405, r.statusCode());
    assertEquals("method_not_allowed", json(r).get("error").asText());
  }

  @Test
  void otherPathsGoToTheNextHandler() throws Exception {
    HttpResponse<String> r = get("/v1/publish");
    assertEquals(418, r.statusCode());
    assertEquals("next", r.body());
  }

  private HttpResponse<String> get(String path) throws Exception {
    return client.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static JsonNode json(HttpResponse<String> r) throws Exception {
    return Json.MAPPER.readTree(r.body());
  }
}
