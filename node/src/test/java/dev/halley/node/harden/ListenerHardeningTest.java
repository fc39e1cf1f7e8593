package dev.halley.node.harden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.HalleyNode;
import dev.halley.node.TestNodes;
import dev.halley.node.config.OperationsConfig;
import dev.halley.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 11 items 2, 3 and 11 over raw sockets: request heads are capped (431 with JSON), a body
 * that never arrives is answered 408 and its connection closed, every error Undertow's parser
 * raises has the JSON body, a missing upgrade is a JSON 426, and a big chunked body gets its 413.
 */
class ListenerHardeningTest {
  private static final int MAX_HEADER = 8_192;
  private static final long BODY_TIMEOUT_MS = 1_000;
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
                        .maxHeaderBytes(MAX_HEADER)
                        .requestBodyTimeoutMs(BODY_TIMEOUT_MS)
                        .build())
                .build());
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  private static Socket socket(int port) throws IOException {
    return RawHttp.connect(port, Duration.ofSeconds(10));
  }

  private static void assertJsonError(RawHttp.Response r, int status, String code) {
    assertEquals(status, r.status(), r.toString());
    assertTrue(r.headers().get("content-type").startsWith("application/json"), r.toString());
    assertEquals(code, r.json().get("error").asText(), r.toString());
    assertTrue(r.json().get("message").asText().length() > 0, r.toString());
  }

  // ---- item 3 ----

  @Test
  void aHeadOverTheCapIsAnswered431WithJson() throws Exception {
    String big = "X-Big: " + "a".repeat(MAX_HEADER * 2) + "\r\n";
    for (int port : new int[] {node.publicPort(), node.internalPort()}) {
      RawHttp.Response r =
          RawHttp.exchange(port, "GET /v1/map HTTP/1.1\r\nHost: x\r\n" + big + "\r\n");
      assertJsonError(r, 431, "headers_too_large");
    }
  }

  @Test
  void manyUnfinishedBigHeadsAreEachCutAtTheCap() throws Exception {
    List<Socket> sockets = new ArrayList<>();
    try {
      byte[] chunk = ("X-Pad: " + "b".repeat(4_000) + "\r\n").getBytes(StandardCharsets.US_ASCII);
      for (int i = 0; i < 50; i++) {
        Socket s = socket(node.publicPort());
        sockets.add(s);
        OutputStream out = s.getOutputStream();
        out.write("GET /v1/map HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
        for (int k = 0; k < 4 * MAX_HEADER / chunk.length; k++) {
          try {
            out.write(chunk); // never finished: no blank line
          } catch (IOException closed) {
            break; // the node answered and closed
          }
        }
      }
      for (Socket s : sockets) {
        assertJsonError(RawHttp.read(s.getInputStream()), 431, "headers_too_large");
      }
    } finally {
      for (Socket s : sockets) {
        s.close();
      }
    }
  }

  // ---- item 2 ----

  @Test
  void aBodyThatNeverArrivesIsAnswered408AndClosed() throws Exception {
    List<String> heads =
        List.of(
            // answered 405 before the body; a GET with a body is refused at once (GetWithBodyTest)
            "POST /v1/map HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
            "POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", // 401 first
            "POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + TestNodes.API_KEY
                + "\r\nContent-Length: 100\r\n\r\n{\"mess",
            "POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + TestNodes.API_KEY
                + "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"mes");
    for (String head : heads) {
      int port = head.contains("/v1/map") ? node.publicPort() : node.internalPort();
      try (Socket s = socket(port)) {
        long t0 = System.nanoTime();
        s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
        InputStream in = s.getInputStream();
        RawHttp.Response first = RawHttp.read(in);
        if (first.status() != 408) {
          // answered before the body (401 or 405): the connection still may not stay open
          assertTrue(first.status() == 401 || first.status() == 405, first.toString());
        } else {
          assertJsonError(first, 408, "request_timeout");
        }
        assertEquals(-1, in.read(), "connection left open: " + head);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ms >= BODY_TIMEOUT_MS - 100, ms + " ms");
      }
    }
  }

  // ---- item 11 ----

  @Test
  void everyParserErrorHasAJsonBody() throws Exception {
    StringBuilder many = new StringBuilder();
    for (int i = 0; i < 250; i++) {
      many.append("X-H").append(i).append(": v\r\n");
    }
    List<String> bad =
        List.of(
            "GET /v1/map HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            "POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET /v1/map HTTP/1.1\r\nHost: x\r\n" + many + "\r\n",
            "GET /v1/m%zzap HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET\u0001 / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /v1/map HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "GET /v1/map HTTP/1.1\r\n\r\n");
    for (String raw : bad) {
      for (int port : new int[] {node.publicPort(), node.internalPort()}) {
        RawHttp.Response r = RawHttp.exchange(port, raw);
        assertEquals(400, r.status(), raw + " -> " + r);
        assertTrue(r.headers().get("content-type").startsWith("application/json"), raw);
        assertTrue(r.json().get("error").asText().length() > 0, raw);
      }
    }
  }

  @Test
  void aValidTokenWithoutUpgradeHeadersGetsAJsonError() throws Exception {
    String token = TestNodes.token(TestNodes.userOwnedBy("a", "noupgrade", 0), null);
    RawHttp.Response r =
        RawHttp.exchange(
            node.publicPort(), "GET /v1/ws?token=" + token + " HTTP/1.1\r\nHost: x\r\n\r\n");
    assertJsonError(r, 426, "upgrade_required");
  }

  @Test
  void aTenMegabyteChunkedBodyGetsIts413() throws Exception {
    for (String path : List.of("/v1/publish", "/v1/admin/map")) {
      tenMegabytesChunked(path);
    }
  }

  private void tenMegabytesChunked(String path) throws Exception {
    try (Socket s = socket(node.internalPort())) {
      OutputStream out = s.getOutputStream();
      out.write(
          ("POST "
                  + path
                  + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + TestNodes.API_KEY
                  + "\r\nTransfer-Encoding: chunked\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      CompletableFuture<RawHttp.Response> reply =
          CompletableFuture.supplyAsync(
              () -> {
                try {
                  return RawHttp.read(s.getInputStream());
                } catch (IOException e) {
                  throw new java.io.UncheckedIOException(e);
                }
              });
      byte[] chunk = new byte[64 * 1024];
      java.util.Arrays.fill(chunk, (byte) ' ');
      byte[] size =
          (Integer.toHexString(chunk.length).toUpperCase(Locale.ROOT) + "\r\n")
              .getBytes(StandardCharsets.US_ASCII);
      for (int i = 0; i < 160; i++) {
        out.write(size);
        out.write(chunk);
        out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
      }
      out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      assertJsonError(reply.get(), 413, "payload_too_large");
    }
  }
}
