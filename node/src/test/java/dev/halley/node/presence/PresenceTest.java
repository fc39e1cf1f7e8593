package dev.halley.node.presence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import dev.halley.node.WsRecorder;
import dev.halley.node.config.OperationsConfig;
import dev.halley.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The presence API and the presence webhook (first connect, last disconnect) of a real node. */
public class PresenceTest {
  private HttpServer app;
  private final List<String> received = new CopyOnWriteArrayList<>();
  private final List<String> auth = new CopyOnWriteArrayList<>();
  private final AtomicInteger calls = new AtomicInteger();
  private HalleyNode node;
  private InternalApi api;

  @BeforeEach
  void start() throws IOException {
    app = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    app.createContext(
        "/presence",
        exchange -> {
          JsonNode body = InternalApi.JSON.readTree(exchange.getRequestBody().readAllBytes());
          // The app tier is down for the first call: the node retries.
          if (calls.incrementAndGet() == 1) {
            exchange.sendResponseHeaders(503, -1);
          } else {
            auth.add(String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
            for (JsonNode e : body.get("events")) {
              received.add(e.get("type").asText() + ":" + e.get("user").asText());
            }
            exchange.sendResponseHeaders(204, -1);
          }
          exchange.close();
        });
    app.start();
    node =
        HalleyNode.start(
            TestNodes.config()
                .operations(
                    OperationsConfig.builder()
                        .newConnectionsPerSecondPerAddress(1_000)
                        .newConnectionBurstPerAddress(1_000)
                        .presenceWebhookUrl(
                            "http://127.0.0.1:" + app.getAddress().getPort() + "/presence")
                        .presenceWebhookSecret("app-secret")
                        .presenceWebhookInitialBackoffMs(10)
                        .presenceOfflineDelayMs(50)
                        .build())
                .build());
    api = new InternalApi(node);
  }

  @AfterEach
  void stop() {
    node.close();
    app.stop(0);
  }

  @Test
  void answersPresenceAndPostsFirstConnectAndLastDisconnectOnce() {
    String alice = TestNodes.userOwnedBy("a", "alice", 0);
    String bob = TestNodes.userOwnedBy("a", "bob", 0);
    JsonNode before = api.send("GET", "/v1/users/" + alice + "/presence", null).body();
    assertEquals(alice, before.get("user").asText());
    assertFalse(before.get("online").asBoolean());
    assertEquals(0, before.get("connections").asInt());

    List<AutoCloseable> aliceClients = new ArrayList<>();
    aliceClients.add(WsRecorder.connect(node.publicPort(), TestNodes.token(alice, null)));
    aliceClients.add(WsRecorder.connect(node.publicPort(), TestNodes.token(alice, null)));
    WsRecorder bobClient = WsRecorder.connect(node.publicPort(), TestNodes.token(bob, null));

    JsonNode now = api.send("GET", "/v1/users/" + alice + "/presence", null).body();
    assertTrue(now.get("online").asBoolean());
    assertEquals(2, now.get("connections").asInt());

    for (AutoCloseable c : aliceClients) {
      try {
        c.close();
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }
    api.awaitConnections(alice, 0);
    PresenceWebhookTest.await(
        () -> received.contains("offline:" + alice), "alice's offline event at the app");
    bobClient.close();
    PresenceWebhookTest.await(
        () -> received.contains("offline:" + bob), "bob's offline event at the app");

    List<String> aliceEvents = received.stream().filter(e -> e.endsWith(":" + alice)).toList();
    assertEquals(List.of("online:" + alice, "offline:" + alice), aliceEvents);
    assertTrue(received.indexOf("online:" + bob) < received.indexOf("offline:" + bob));
    assertTrue(auth.stream().allMatch("Bearer app-secret"::equals), auth::toString);
    assertTrue(calls.get() >= 2, "the failed first call was retried");

    PresenceWebhookTest.await(
        () ->
            Scrape.sample(
                    Scrape.get(node.internalPort(), "/metrics").body(),
                    "halley_presence_webhook_events_total{outcome=\"sent\"}")
                == 4.0,
        "four events acknowledged");
    String metrics = Scrape.get(node.internalPort(), "/metrics").body();
    assertTrue(Scrape.sample(metrics, "halley_presence_webhook_retries_total") >= 1);
  }

  @Test
  void sseClientThatClosesItsSocketLeavesPresenceLongBeforeTheNextHeartbeat() throws Exception {
    // A heartbeat far beyond the wait: only reading the request side can notice the close.
    try (HalleyNode quiet = HalleyNode.start(TestNodes.config().heartbeatMs(60_000).build())) {
      InternalApi quietApi = new InternalApi(quiet);
      String dave = TestNodes.userOwnedBy("a", "dave", 0);
      Socket sse =
          RawHttp.open(
              quiet.publicPort(),
              "GET",
              "/v1/sse?token=" + TestNodes.token(dave, null),
              Map.of("Accept", "text/event-stream"));
      InputStream in = sse.getInputStream();
      assertEquals(200, RawHttp.readStatus(in));
      RawHttp.readHeaders(in);
      String line;
      while ((line = RawHttp.readLine(in)) != null && !line.startsWith("event: hello")) {
        // retry: and blank lines
      }
      assertEquals(1, quietApi.connections(dave));

      long closedAt = System.nanoTime();
      sse.close();
      awaitWithin(Duration.ofSeconds(10), () -> quietApi.connections(dave) == 0, "0 connections");
      assertTrue(
          Duration.ofNanos(System.nanoTime() - closedAt).toSeconds() < 10,
          "noticed before the 60 s heartbeat");
    }
  }

  @Test
  void heldLongPollWhoseClientClosesItsSocketLeavesPresenceBeforeItsTimeout() throws Exception {
    try (HalleyNode quiet =
        HalleyNode.start(TestNodes.config().longPollTimeoutMs(60_000).build())) {
      InternalApi quietApi = new InternalApi(quiet);
      String erin = TestNodes.userOwnedBy("a", "erin", 0);
      Socket poll =
          RawHttp.open(
              quiet.publicPort(),
              "GET",
              "/v1/longpoll?token=" + TestNodes.token(erin, null),
              Map.of());
      quietApi.awaitConnections(erin, 1);

      poll.close();
      awaitWithin(Duration.ofSeconds(10), () -> quietApi.connections(erin) == 0, "0 connections");
    }
  }

  @Test
  void aPipelinedRequestBehindAHeldLongPollIsAnsweredOnTheSameConnection() throws Exception {
    String frank = TestNodes.userOwnedBy("a", "frank", 0);
    String target = "/v1/longpoll?timeoutMs=300&token=" + TestNodes.token(frank, null);
    try (Socket s = RawHttp.open(node.publicPort(), "GET", target, Map.of())) {
      api.awaitConnections(frank, 1); // held, and watched for the peer's close
      // The next request arrives while the first is held: the watch hands its bytes back.
      String next = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
      s.getOutputStream().write(next.getBytes(java.nio.charset.StandardCharsets.UTF_8));
      s.getOutputStream().flush();
      InputStream in = s.getInputStream();
      for (int i = 0; i < 2; i++) {
        assertEquals(200, RawHttp.readStatus(in), "response " + i);
        Map<String, String> headers = RawHttp.readHeaders(in);
        JsonNode batch =
            InternalApi.json(
                new String(
                    in.readNBytes(Integer.parseInt(headers.get("content-length"))),
                    java.nio.charset.StandardCharsets.UTF_8));
        assertEquals(0, batch.get("events").size(), batch.toString());
      }
    }
  }

  public static void awaitWithin(Duration timeout, BooleanSupplier condition, String what) {
    Awaitility.await(what)
        .atMost(timeout)
        .pollInterval(Duration.ofMillis(20))
        .until(condition::getAsBoolean);
  }

  @Test
  void presenceOfAUserOwnedElsewhereIs421() {
    InternalApi.Reply r =
        api.send("GET", "/v1/users/" + TestNodes.remoteUser("carol") + "/presence", null);
    assertEquals(421, r.status());
    assertEquals("not_owner", r.error());
    assertEquals(TestNodes.OTHER_URL, r.body().get("owner").get("url").asText());
  }
}
