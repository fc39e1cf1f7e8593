package dev.halley.node.admission;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.HalleyNode;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import dev.halley.node.WsRecorder;
import dev.halley.node.config.OperationsConfig;
import dev.halley.node.presence.PresenceWebhookTest;
import dev.halley.testing.RawHttp;
import dev.halley.testing.TransportClient;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The connection limits and the slow-request timeouts, against a real node. */
class LimitsTest {
  private HalleyNode node;
  private final List<AutoCloseable> clients = new ArrayList<>();

  private void start(OperationsConfig.Builder ops) {
    node = HalleyNode.start(TestNodes.config().operations(ops.build()).build());
  }

  @AfterEach
  void stop() throws Exception {
    for (AutoCloseable c : clients) {
      c.close();
    }
    if (node != null) {
      node.close();
    }
  }

  private OperationsConfig.Builder lenient() {
    return OperationsConfig.builder()
        .newConnectionsPerSecondPerAddress(1_000)
        .newConnectionBurstPerAddress(1_000);
  }

  private WsRecorder connect(String user) {
    WsRecorder r = WsRecorder.connect(node.publicPort(), TestNodes.token(user, null));
    clients.add(r);
    return r;
  }

  private RawHttp.Response attempt(TransportClient.Transport t, String user) throws IOException {
    return t.attempt(node.publicPort(), "token=" + TestNodes.token(user, null), Map.of());
  }

  @Test
  void refusesConnectionsOverTheNodeTotalWith503UntilOneCloses() throws IOException {
    start(lenient().maxConnections(3));
    WsRecorder first = connect(TestNodes.userOwnedBy("a", "t", 0));
    connect(TestNodes.userOwnedBy("a", "t", 1));
    connect(TestNodes.userOwnedBy("a", "t", 2));
    for (TransportClient.Transport t : TransportClient.Transport.values()) {
      RawHttp.Response r = attempt(t, TestNodes.userOwnedBy("a", "t", 3));
      assertEquals(503, r.status(), t + ": " + r);
      assertEquals("too_many_connections", r.error());
    }
    first.close();
    PresenceWebhookTest.await(() -> node.stats().connections() == 2, "the closed one released");
    connect(TestNodes.userOwnedBy("a", "t", 3));
    String metrics = Scrape.get(node.internalPort(), "/metrics").body();
    assertEquals(
        4.0,
        Scrape.sample(
            metrics, "halley_connections_rejected_total{reason=\"too_many_connections\"}"));
    assertEquals(3.0, Scrape.sample(metrics, "halley_connections{transport=\"websocket\"}"));
  }

  @Test
  void refusesAUsersConnectionOverThePerUserLimit() throws IOException {
    start(lenient().maxConnectionsPerUser(2));
    String alice = TestNodes.userOwnedBy("a", "alice", 0);
    connect(alice);
    connect(alice);
    RawHttp.Response r = attempt(TransportClient.Transport.SSE, alice);
    assertEquals(503, r.status());
    assertEquals("too_many_connections", r.error());
    assertTrue(r.body().contains("maxConnectionsPerUser"), r.body());
    connect(TestNodes.userOwnedBy("a", "bob", 0));
  }

  @Test
  void rateLimitsNewConnectionsPerAddressBeforeCheckingTokens() throws IOException {
    start(
        OperationsConfig.builder()
            .rateLimitLoopback(true)
            .newConnectionsPerSecondPerAddress(0.001)
            .newConnectionBurstPerAddress(2));
    for (int i = 0; i < 2; i++) {
      RawHttp.Response r =
          TransportClient.Transport.POLL.attempt(node.publicPort(), "token=bad", Map.of());
      assertEquals(401, r.status());
    }
    RawHttp.Response r =
        TransportClient.Transport.POLL.attempt(node.publicPort(), "token=bad", Map.of());
    assertEquals(429, r.status());
    assertEquals("rate_limited", r.error());
  }

  @Test
  void cutsAClientThatNeverFinishesItsHeaders() throws IOException {
    start(lenient().requestParseTimeoutMs(300).noRequestTimeoutMs(300));
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", node.publicPort()), 10_000);
      s.setSoTimeout(20_000);
      s.getOutputStream()
          .write(
              "GET /v1/map HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1"
                  .getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
      assertClosedByServer(s.getInputStream());
    }
    try (Socket idle = new Socket()) {
      idle.connect(new InetSocketAddress("127.0.0.1", node.publicPort()), 10_000);
      idle.setSoTimeout(20_000);
      assertClosedByServer(idle.getInputStream());
    }
  }

  private static void assertClosedByServer(InputStream in) throws IOException {
    try {
      byte[] rest = in.readAllBytes(); // returns at EOF; a 408 or nothing before it
      assertTrue(
          rest.length == 0 || new String(rest, StandardCharsets.US_ASCII).startsWith("HTTP/1.1 4"));
    } catch (java.net.SocketException reset) {
      // connection reset: closed too
    }
  }
}
