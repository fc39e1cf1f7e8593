package dev.halley.node.harden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.TestNodes;
import dev.halley.node.config.OperationsConfig;
import dev.halley.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 11 item 2, malformed chunked framing over raw sockets on both listeners: each bad
 * chunk-size line ({@code zz}, {@code -1}, an empty line, too many digits, an over-long extension,
 * a bare LF, data longer than its size) is answered 400 {@code bad_request} with the JSON body at
 * once and the connection is closed; a size announcing more than {@code maxBodyBytes} is answered
 * 413 at once. "At once" is measured against a body deadline far longer than the test allows, so a
 * 408 after the wait cannot pass. Valid chunked bodies (extensions, trailers, a pipelined request
 * behind them) still work.
 */
class ChunkedFramingTest {
  private static final long BODY_TIMEOUT_MS = 60_000;
  private static final long AT_ONCE_MS = 15_000;
  private static final int MAX_BODY = 65_536;
  private static final int MAX_HEADER = 8_192;
  private static HalleyNode node;

  /** Bad first lines of a chunked body, each followed by what a client might send after it. */
  private static final Map<String, String> MALFORMED =
      Map.of(
          "not hex", "zz\r\n{\"messages\":[]}\r\n0\r\n\r\n",
          "negative", "-1\r\n{}\r\n0\r\n\r\n",
          "empty size line", "\r\n{}\r\n0\r\n\r\n",
          "17 hex digits", "10000000000000000\r\nab\r\n0\r\n\r\n",
          "16 hex digits over Long.MAX_VALUE", "FFFFFFFFFFFFFFFF\r\nab\r\n",
          "over-long extension", "2;" + "x".repeat(MAX_HEADER + 10) + "\r\n{}\r\n0\r\n\r\n",
          "bare LF", "2\n{}\r\n0\r\n\r\n",
          "data longer than its size", "1\r\n{}\r\n0\r\n\r\n",
          "size followed by junk", "2x\r\n{}\r\n0\r\n\r\n");

  @BeforeAll
  static void start() {
    node =
        HalleyNode.start(
            TestNodes.config()
                .maxBodyBytes(MAX_BODY)
                .operations(
                    OperationsConfig.builder()
                        .newConnectionsPerSecondPerAddress(1_000_000)
                        .newConnectionBurstPerAddress(1_000_000)
                        .maxHeaderBytes(MAX_HEADER)
                        .requestBodyTimeoutMs(BODY_TIMEOUT_MS)
                        .build())
                .build());
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  private static String publishHead() {
    return "POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + TestNodes.API_KEY
        + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  }

  private static final String MAP_HEAD =
      "GET /v1/map HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

  /**
   * Sends {@code parts} (each its own write), reads one response and whether the node then closed
   * the connection (EOF or reset), and the time from the first write to the close.
   */
  private static RawHttp.Answer send(int port, String... parts) throws IOException {
    return RawHttp.exchangeToClose(port, Duration.ofMillis(AT_ONCE_MS), parts);
  }

  private static void assertRefused(RawHttp.Answer r, int status, String code, String what) {
    JsonNode json = r.response().json();
    assertEquals(status, r.status(), what + ": " + r);
    assertTrue(
        r.response().headers().get("content-type").startsWith("application/json"), what + ": " + r);
    assertEquals(code, json.get("error").asText(), what + ": " + r);
    assertTrue(json.get("message").asText().length() > 0, what + ": " + r);
    assertTrue(r.closed(), what + ": connection left open " + r);
    assertTrue(r.ms() < AT_ONCE_MS, what + ": " + r.ms() + " ms");
  }

  @Test
  void aMalformedChunkSizeWithTheHeadIsAnswered400AtOnceOnBothListeners() throws Exception {
    for (var e : MALFORMED.entrySet()) {
      assertRefused(
          send(node.internalPort(), publishHead() + e.getValue()),
          400,
          "bad_request",
          "internal, " + e.getKey());
      assertRefused(
          send(node.publicPort(), MAP_HEAD + e.getValue()),
          400,
          "bad_request",
          "public, " + e.getKey());
    }
  }

  @Test
  void aMalformedChunkSizeAfterTheHeadIsAnswered400AtOnce() throws Exception {
    // The bad line comes in a write of its own, after one good chunk bigger than what the node
    // reads with the head: the publish handler's reader meets it, not the check before routing.
    String good = Integer.toHexString(20_000) + "\r\n" + " ".repeat(20_000) + "\r\n";
    for (var e : MALFORMED.entrySet()) {
      assertRefused(
          send(node.internalPort(), publishHead(), good, e.getValue()),
          400,
          "bad_request",
          "internal, later, " + e.getKey());
    }
  }

  @Test
  void aBadChunkSizeLineThatIsNeverFinishedIsAnswered400AtOnce() throws Exception {
    // Undertow read "zz" as the last chunk and waited for trailers: a 408 after the deadline.
    for (String line : List.of("zz", "-1", "\r\n", "123456789abcdef01")) {
      assertRefused(
          send(node.internalPort(), publishHead() + line),
          400,
          "bad_request",
          "unfinished " + line);
    }
  }

  @Test
  void aChunkSizeOverTheBodyLimitIsAnswered413AtOnce() throws Exception {
    // Announced, never sent: the node answers without waiting for the data.
    String big = Integer.toHexString(MAX_BODY + 1) + "\r\n";
    assertRefused(
        send(node.internalPort(), publishHead() + big), 413, "payload_too_large", "internal");
    assertRefused(
        send(node.internalPort(), publishHead(), "f\r\n{\"messages\":[]}\r\n", "7fffffff\r\n"),
        413,
        "payload_too_large",
        "internal, second chunk");
    assertRefused(send(node.publicPort(), MAP_HEAD + big), 413, "payload_too_large", "public");
  }

  @Test
  void validChunkedBodiesStillWorkAndKeepTheConnection() throws Exception {
    String user = TestNodes.localUser("chunked");
    String json = "{\"messages\":[{\"users\":[\"" + user + "\"],\"data\":{\"n\":1}}]}";
    String body =
        "5;name=value\r\n"
            + json.substring(0, 5)
            + "\r\n"
            + Integer.toHexString(json.length() - 5).toUpperCase(java.util.Locale.ROOT)
            + " ; ext\r\n"
            + json.substring(5)
            + "\r\n0\r\nX-Trailer: yes\r\n\r\n";
    try (Socket s = RawHttp.connect(node.internalPort(), Duration.ofSeconds(10))) {
      // Two requests in one write: the second (pipelined) must survive the chunked decoder.
      s.getOutputStream()
          .write(
              (publishHead() + body + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
      InputStream in = s.getInputStream();
      RawHttp.Response first = RawHttp.readExact(in, false);
      assertEquals(200, first.status(), first.toString());
      JsonNode reply = first.json();
      assertTrue(reply.toString().contains(user), reply.toString());
      assertEquals(200, RawHttp.readStatus(in));
    }
  }
}
