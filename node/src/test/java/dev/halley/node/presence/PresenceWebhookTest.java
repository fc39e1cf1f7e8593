package dev.halley.node.presence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.halley.node.MutableClock;
import dev.halley.node.config.OperationsConfig;
import dev.halley.node.wire.Json;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

public class PresenceWebhookTest {
  private HttpServer server;
  private final List<JsonNode> bodies = new CopyOnWriteArrayList<>();
  private final List<String> authorizations = new CopyOnWriteArrayList<>();
  private final AtomicInteger calls = new AtomicInteger();
  private final AtomicInteger arrived = new AtomicInteger();
  private volatile int failFirst;
  private volatile int failStatus = 503;
  private volatile CountDownLatch gate = new CountDownLatch(0);
  private PresenceWebhook webhook;

  @BeforeEach
  void startServer() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext(
        "/presence",
        exchange -> {
          arrived.incrementAndGet();
          try {
            gate.await(30, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          byte[] body = exchange.getRequestBody().readAllBytes();
          int n = calls.incrementAndGet();
          authorizations.add(
              String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
          int status = n <= failFirst ? failStatus : 204;
          if (status == 204) {
            bodies.add(Json.MAPPER.readTree(body));
          }
          exchange.sendResponseHeaders(status, -1);
          exchange.close();
        });
    server.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(2));
    server.start();
  }

  @AfterEach
  void stop() {
    if (webhook != null) {
      webhook.close();
    }
    gate.countDown();
    server.stop(0);
  }

  /** The webhook's options come from the node's configuration, where their defaults live. */
  private OperationsConfig.Builder options() {
    return OperationsConfig.builder()
        .presenceWebhookUrl("http://127.0.0.1:" + server.getAddress().getPort() + "/presence")
        .presenceWebhookInitialBackoffMs(5)
        .presenceWebhookMaxBackoffMs(20)
        .presenceWebhookTimeoutMs(10_000);
  }

  @Test
  void retriesFailedCallsWithBackoffAndDeliversEveryEventInOrder() {
    failFirst = 2;
    webhook =
        new PresenceWebhook(
            PresenceWebhook.Options.of(options().presenceWebhookSecret("s3cret").build()),
            "node-a",
            new MutableClock(1000));
    assertTrue(webhook.online("alice"));
    assertTrue(webhook.offline("alice"));
    assertTrue(webhook.online("bob"));

    await(() -> webhook.sent() == 3, "all three events sent");
    assertEquals(0, webhook.failed());
    assertTrue(webhook.retries() >= 2, "retries: " + webhook.retries());
    List<String> received = new ArrayList<>();
    for (JsonNode body : bodies) {
      assertEquals("node-a", body.get("node").asText());
      for (JsonNode e : body.get("events")) {
        received.add(e.get("type").asText() + ":" + e.get("user").asText());
        assertEquals(1000, e.get("at").asLong());
      }
    }
    assertEquals(List.of("online:alice", "offline:alice", "online:bob"), received);
    assertTrue(authorizations.stream().allMatch("Bearer s3cret"::equals), authorizations::toString);
  }

  @Test
  void batchesEventsThatQueuedWhileACallWasInFlight() {
    gate = new CountDownLatch(1);
    webhook =
        new PresenceWebhook(
            PresenceWebhook.Options.of(options().presenceWebhookBatchMaxEvents(50).build()),
            "a",
            new MutableClock(0));
    webhook.online("first");
    await(() -> arrived.get() == 1, "the first call held at the app");
    for (int i = 0; i < 20; i++) {
      webhook.online("u" + i);
    }
    gate.countDown();
    await(() -> webhook.sent() == 21, "21 events sent");
    assertEquals(2, bodies.size(), "one call for the first event, one batch for the rest");
    assertEquals(20, bodies.get(1).get("events").size());
  }

  @Test
  void dropsAndCountsEventsWhenTheQueueIsFullWithoutBlocking() {
    gate = new CountDownLatch(1);
    webhook =
        new PresenceWebhook(
            PresenceWebhook.Options.of(options().presenceWebhookQueueMaxEvents(3).build()),
            "a",
            new MutableClock(0));
    webhook.online("first");
    await(() -> arrived.get() == 1, "the first call held at the app");
    int accepted = 0;
    for (int i = 0; i < 10; i++) {
      if (webhook.online("u" + i)) {
        accepted++;
      }
    }
    assertEquals(3, accepted);
    assertEquals(7, webhook.dropped());
    gate.countDown();
    await(() -> webhook.sent() == 4, "the queued events still go out");
  }

  @Test
  void givesUpAfterMaxAttemptsAndCountsTheFailure() {
    failFirst = Integer.MAX_VALUE;
    webhook =
        new PresenceWebhook(
            PresenceWebhook.Options.of(options().presenceWebhookMaxAttempts(3).build()),
            "a",
            new MutableClock(0));
    // One event, so one batch: two events may be taken as one batch or two, depending on timing.
    webhook.online("alice");
    await(() -> webhook.failed() == 1, "the batch failed");
    assertEquals(3, calls.get());
    assertEquals(2, webhook.retries());
    assertEquals(0, webhook.sent());
  }

  @Test
  void doesNotRetryAClientError() {
    failFirst = Integer.MAX_VALUE;
    failStatus = 400;
    webhook =
        new PresenceWebhook(
            PresenceWebhook.Options.of(options().presenceWebhookMaxAttempts(5).build()),
            "a",
            new MutableClock(0));
    webhook.online("alice");
    await(() -> webhook.failed() == 1, "the batch failed");
    assertEquals(1, calls.get());
    assertEquals(0, webhook.retries());
  }

  @Test
  void anUnreachableWebhookIsCountedNotThrown() throws IOException {
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      port = s.getLocalPort();
    }
    webhook =
        new PresenceWebhook(
            PresenceWebhook.Options.of(
                OperationsConfig.builder()
                    .presenceWebhookUrl("http://127.0.0.1:" + port + "/x")
                    .presenceWebhookMaxAttempts(2)
                    .presenceWebhookInitialBackoffMs(1)
                    .build()),
            "a",
            new MutableClock(0));
    webhook.online("alice");
    await(() -> webhook.failed() == 1, "the batch failed");
    assertEquals(1, webhook.retries());
  }

  @Test
  void closedWebhookRefusesEvents() {
    webhook =
        new PresenceWebhook(
            PresenceWebhook.Options.of(options().build()), "a", new MutableClock(0));
    webhook.close();
    assertFalse(webhook.online("alice"));
    assertEquals(1, webhook.dropped());
  }

  @Test
  void optionsNameTheBadField() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> OperationsConfig.builder().presenceWebhookUrl("ftp://x/").build());
    assertTrue(e.getMessage().startsWith("presenceWebhookUrl"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> PresenceWebhook.Options.of(options().presenceWebhookQueueMaxEvents(0).build()));
    assertTrue(e.getMessage().startsWith("presenceWebhookQueueMaxEvents"), e.getMessage());
  }

  @Test
  void backoffDoublesUpToTheCap() {
    webhook =
        new PresenceWebhook(
            PresenceWebhook.Options.of(
                options()
                    .presenceWebhookInitialBackoffMs(100)
                    .presenceWebhookMaxBackoffMs(1000)
                    .build()),
            "a",
            new MutableClock(0));
    assertEquals(100, webhook.backoffMs(1));
    assertEquals(200, webhook.backoffMs(2));
    assertEquals(800, webhook.backoffMs(4));
    assertEquals(1000, webhook.backoffMs(5));
    assertEquals(1000, webhook.backoffMs(60));
  }

  public static void await(BooleanSupplier condition, String what) {
    Awaitility.await(what)
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(5))
        .until(condition::getAsBoolean);
  }
}
