package dev.halley.node.harden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.HalleyNode;
import dev.halley.node.TestNodes;
import dev.halley.node.config.OperationsConfig;
import dev.halley.testing.RawHttp;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * GET (and HEAD) take no body on any route of either listener: a request announcing one is answered
 * 400 {@code bad_request} with the JSON body at once, not served while its body is held until
 * {@code requestBodyTimeoutMs}, and its connection closes. "At once" is against a body deadline far
 * longer than the socket's read timeout, so an answer that waits for the deadline cannot pass; real
 * sockets, raw requests.
 */
class GetWithBodyTest {
  private static final long BODY_TIMEOUT_MS = 120_000;
  private static final Duration READ_TIMEOUT = Duration.ofSeconds(20);
  private static HalleyNode node;

  @BeforeAll
  static void start() {
    node =
        HalleyNode.start(
            TestNodes.config()
                .operations(
                    OperationsConfig.builder()
                        .newConnectionsPerSecondPerAddress(1_000_000)
                        .newConnectionBurstPerAddress(1_000_000)
                        .maxConnectionsPerUser(10_000)
                        .requestBodyTimeoutMs(BODY_TIMEOUT_MS)
                        .build())
                .build());
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  /** Every GET route of the public listener (the transports with a valid token). */
  private static List<String> publicTargets() {
    String token = TestNodes.token(TestNodes.localUser("getbody"), List.of("room"));
    return List.of(
        "/v1/ws?token=" + token,
        "/v1/sse?token=" + token,
        "/v1/longpoll?token=" + token,
        "/v1/poll?token=" + token,
        "/v1/map",
        "/js/halley.js");
  }

  /** Every GET route of the internal listener. */
  private static final List<String> INTERNAL_TARGETS =
      List.of(
          "/v1/users/" + TestNodes.localUser("getbody") + "/presence",
          "/v1/channels/room/presence",
          "/v1/admin/map/state",
          "/healthz",
          "/readyz",
          "/metrics");

  /** Bodies a GET may announce: never sent, sent in full, chunked and unfinished, chunked. */
  private static final Map<String, String> BODIES =
      Map.of(
          "Content-Length never sent", "Content-Length: 100\r\n\r\n",
          "Content-Length sent", "Content-Length: 5\r\n\r\nhello",
          "chunked, unfinished", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
          "chunked, complete", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");

  private static RawHttp.Answer send(int port, String request) throws IOException {
    return RawHttp.exchangeToClose(port, READ_TIMEOUT, request);
  }

  private static void assertRefused(int port, String method, String target) throws IOException {
    for (var body : BODIES.entrySet()) {
      String what = method + " " + target.replaceAll("token=.*", "token=…") + ", " + body.getKey();
      RawHttp.Answer r =
          send(
              port,
              method
                  + " "
                  + target
                  + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                  + TestNodes.API_KEY
                  + "\r\n"
                  + (target.startsWith("/v1/ws") ? upgrade() : "")
                  + body.getValue());
      assertEquals(400, r.status(), what + ": " + r);
      assertTrue(
          r.response().headers().get("content-type").startsWith("application/json"),
          what + ": " + r);
      if (!method.equals("HEAD")) {
        assertEquals("bad_request", r.response().json().get("error").asText(), what + ": " + r);
        assertTrue(
            r.response().json().get("message").asText().contains("no request body"),
            what + ": " + r);
      }
      assertTrue(r.closed(), what + ": connection left open " + r);
    }
  }

  private static String upgrade() {
    StringBuilder sb = new StringBuilder();
    for (var h : RawHttp.upgradeHeaders(null).entrySet()) {
      sb.append(h.getKey()).append(": ").append(h.getValue()).append("\r\n");
    }
    return sb.toString();
  }

  @Test
  void aGetWithABodyIsRefusedAtOnceOnEveryPublicRoute() throws Exception {
    for (String target : publicTargets()) {
      assertRefused(node.publicPort(), "GET", target);
    }
    assertRefused(node.publicPort(), "HEAD", "/v1/map");
  }

  @Test
  void aGetWithABodyIsRefusedAtOnceOnEveryInternalRoute() throws Exception {
    for (String target : INTERNAL_TARGETS) {
      assertRefused(node.internalPort(), "GET", target);
    }
  }

  @Test
  void getsWithoutABodyAndPostsWithOneAreServedAsBefore() throws Exception {
    RawHttp.Answer map =
        send(
            node.publicPort(),
            "GET /v1/map HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assertEquals(200, map.status(), map.toString());
    RawHttp.Answer empty =
        send(
            node.publicPort(),
            "GET /v1/map HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "Content-Length: 0\r\n\r\n");
    assertEquals(200, empty.status(), empty.toString());
    String publish =
        "{\"messages\":[{\"users\":[\"" + TestNodes.localUser("getbody") + "\"],\"data\":1}]}";
    RawHttp.Answer posted =
        send(
            node.internalPort(),
            "POST /v1/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                + TestNodes.API_KEY
                + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
                + publish.length()
                + "\r\n\r\n"
                + publish);
    assertEquals(200, posted.status(), posted.toString());
  }
}
