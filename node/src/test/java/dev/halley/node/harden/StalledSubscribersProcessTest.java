package dev.halley.node.harden;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.TestNodes;
import dev.halley.testing.NodeProcess;
import dev.halley.testing.RawHttp;
import dev.halley.testing.SseTestClient;
import dev.halley.testing.TransportClient;
import dev.halley.testing.WsTestClient;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11 item 5, as a real node process on a small heap: 1,000 WebSocket subscribers of one
 * channel that never read (raw sockets with a small receive buffer, not even reading the 101) and
 * five 1 MB channel messages. The node survives (no {@code OutOfMemoryError} on 256 MiB, where one
 * copy of each frame per connection would need 5 GB), stays ready, its other subscribers (a
 * WebSocket and an SSE client) receive all five, and the stalled ones are cut as slow consumers.
 * Only behaviour seen from outside is checked, so it holds for any write path.
 */
class StalledSubscribersProcessTest {
  private static final int STALLED = 1_000;
  private static final int MESSAGES = 5;
  private static final int DATA_BYTES = 1_000_000;
  private static final String CHANNEL = "stalled-room";
  private static final Pattern SLOW =
      Pattern.compile(
          "halley_slow_consumer_disconnects_total\\{transport=\"websocket\"} ([0-9.E]+)");
  private static final Pattern WS_OPEN =
      Pattern.compile("halley_connections\\{transport=\"websocket\"} ([0-9.E]+)");

  @TempDir Path dir;

  private static double metric(NodeProcess node, Pattern p) throws IOException {
    String metrics = RawHttp.request(node.internalPort, "GET", "/metrics", Map.of()).body();
    Matcher m = p.matcher(metrics);
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }

  private static Socket stalled(int port, String user) throws IOException {
    Socket s = new Socket();
    s.setReceiveBufferSize(4 * 1024); // the kernel takes little of what the node sends
    s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
    StringBuilder req =
        new StringBuilder("GET /v1/ws?token=")
            .append(
                URLEncoder.encode(TestNodes.token(user, List.of(CHANNEL)), StandardCharsets.UTF_8))
            .append(" HTTP/1.1\r\nHost: 127.0.0.1:")
            .append(port)
            .append("\r\n");
    RawHttp.upgradeHeaders(null)
        .forEach((k, v) -> req.append(k).append(": ").append(v).append("\r\n"));
    OutputStream out = s.getOutputStream();
    out.write(req.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
    out.flush();
    return s; // never read
  }

  /** Message {@code n}'s data: a string of about {@link #DATA_BYTES} bytes. */
  private static String content(int n) {
    return n + ":" + "x".repeat(DATA_BYTES - 10);
  }

  private static int publish(HttpClient http, NodeProcess node, int n) throws Exception {
    String data = "\"" + content(n) + "\"";
    String body = "{\"messages\":[{\"channel\":\"" + CHANNEL + "\",\"data\":" + data + "}]}";
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + node.internalPort + "/v1/publish"))
                .header("Authorization", "Bearer " + TestNodes.API_KEY)
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    return r.statusCode();
  }

  @Test
  void aThousandStalledSubscribersOfFiveMegabyteMessagesAreCutAndTheNodeServesTheRest()
      throws Exception {
    List<Socket> sockets = new ArrayList<>();
    List<TransportClient> healthy = new ArrayList<>();
    try (NodeProcess node =
        TestNodes.process(dir, "256m", "maxMessageBytes: 1048576", "bufferMaxBytes: 8388608")) {
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      WsTestClient ws = new WsTestClient(node.publicPort);
      healthy.add(ws);
      ws.connect(
          TestNodes.token(TestNodes.userOwnedBy("a", "healthy-ws", 0), List.of(CHANNEL)), null);
      SseTestClient sse = new SseTestClient(node.publicPort);
      healthy.add(sse);
      sse.connect(
          TestNodes.token(TestNodes.userOwnedBy("a", "healthy-sse", 0), List.of(CHANNEL)), null);
      for (int i = 0; i < STALLED; i++) {
        sockets.add(stalled(node.publicPort, TestNodes.userOwnedBy("a", "stalled", i)));
      }
      await().atMost(Duration.ofSeconds(120)).until(() -> metric(node, WS_OPEN) >= STALLED + 1);

      for (int n = 0; n < MESSAGES; n++) {
        publish(http, node, n);
        // The healthy subscribers read each message before the next (a reader still taking one
        // 1 MB frame when the next arrives would be over connectionQueueMaxBytes, 1 MiB, too).
        for (TransportClient c : healthy) {
          String data = c.awaitData().asText();
          assertTrue(data.startsWith(n + ":"), c.transport() + " got " + data.substring(0, 16));
          assertEquals(content(n), data, c.transport() + ": message " + n + " not whole");
        }
        assertTrue(node.isAlive(), node.log());
      }

      // Every stalled subscriber is cut as a slow consumer; the healthy WebSocket stays.
      await()
          .atMost(Duration.ofSeconds(120))
          .until(() -> metric(node, SLOW) >= STALLED && metric(node, WS_OPEN) == 1);
      assertEquals(200, RawHttp.request(node.internalPort, "GET", "/readyz", Map.of()).status());
      assertTrue(node.isAlive(), node.log());
      assertFalse(node.log().contains("OutOfMemoryError"), node.log());
      assertFalse(ws.closeCode.isDone(), "the healthy WebSocket was closed");
      assertEquals(1, sse.ended.getCount(), "the healthy SSE stream ended");
      // And it still serves: one more (small) message reaches both healthy subscribers.
      String small = "{\"messages\":[{\"channel\":\"" + CHANNEL + "\",\"data\":\"after\"}]}";
      assertEquals(
          200,
          http.send(
                  HttpRequest.newBuilder(
                          URI.create("http://127.0.0.1:" + node.internalPort + "/v1/publish"))
                      .header("Authorization", "Bearer " + TestNodes.API_KEY)
                      .header("Content-Type", "application/json")
                      .POST(HttpRequest.BodyPublishers.ofString(small))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .statusCode());
      for (TransportClient c : healthy) {
        assertEquals("after", c.awaitData().asText(), c.transport());
      }
    } finally {
      for (TransportClient c : healthy) {
        c.close();
      }
      for (Socket s : sockets) {
        try {
          s.close();
        } catch (IOException ignored) {
          // closing anyway
        }
      }
    }
  }
}
