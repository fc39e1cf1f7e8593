package dev.halley.node;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.testing.RawHttp;
import dev.halley.testing.SseTestClient;
import dev.halley.testing.TransportClient;
import dev.halley.testing.TransportClient.Transport;
import dev.halley.testing.WsTestClient;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An open connection does not outlive its token: over real sockets, with tokens whose {@code exp}
 * is 2 to 3 seconds away (JWT {@code exp} has whole seconds; Undertow timers run on real time, so
 * these tests wait for a real expiry rather than a faked clock).
 */
class TokenExpiryTest {
  @RegisterExtension static final OneNode NODE = new OneNode();

  /** An {@code exp} 2 to 3 seconds from now (whole seconds, as the JWT carries it). */
  private static Instant shortExp() {
    return Instant.now().plusSeconds(3).truncatedTo(ChronoUnit.SECONDS);
  }

  private static String token(String user, Instant exp) {
    return TestNodes.token(user, null, exp, TestNodes.SECRET);
  }

  /**
   * The first event after the publish, or null when the connection ended without one: on a loaded
   * machine connecting and publishing can take longer than the token's 2 to 3 s, and then the
   * expiry comes first. Waits in slices of 100 ms, at most {@link TransportClient#TIMEOUT}.
   */
  private static JsonNode firstEventOrEnd(
      TransportClient client, java.util.function.BooleanSupplier ended) {
    AtomicReference<JsonNode> first = new AtomicReference<>();
    await()
        .alias(client.transport() + ": an event or the end")
        .atMost(TransportClient.TIMEOUT)
        .pollDelay(Duration.ZERO)
        .pollInterval(Duration.ofMillis(1))
        .pollInSameThread()
        .until(
            () -> {
              boolean over = ended.getAsBoolean(); // read before the poll: a last event is kept
              first.set(client.nextEvent(Duration.ofMillis(100)));
              return first.get() != null || over;
            });
    return first.get();
  }

  /**
   * The message published before expiry reached the expiring connection ({@code first}) or, when
   * the expiry came first, it is still the user's: a connection with a fresh token resuming from
   * the expired one's {@code hello} gets it. Either way, nothing was lost.
   */
  private static void assertDeliveredBeforeOrAfter(
      JsonNode first, JsonNode hello, String user, Transport transport) {
    if (first != null) {
      assertEquals(InternalApi.text("before expiry"), first.get("data"), first.toString());
      return;
    }
    TransportClient again = NODE.client(transport);
    again.connect(TestNodes.token(user, null), hello.get("lastEventId").asText());
    assertEquals(InternalApi.text("before expiry"), again.awaitMessage().get("data"));
  }

  @Test
  void webSocketIsClosedWithUnauthorizedWhenItsTokenExpires() throws Exception {
    String user = TestNodes.userOwnedBy("a", "exp-ws", 0);
    String other = TestNodes.userOwnedBy("a", "exp-ws", 1);
    Instant exp = shortExp();
    WsTestClient expiring = NODE.client(Transport.WS);
    expiring.connect(token(user, exp), null);
    WsTestClient valid = NODE.client(Transport.WS);
    valid.connect(TestNodes.token(other, null), null);

    NODE.api().publishToUsers(InternalApi.text("before expiry"), user);
    JsonNode first = firstEventOrEnd(expiring, expiring.closeCode::isDone);

    int code = expiring.closeCode.get(TransportClient.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    long closedAt = System.currentTimeMillis();
    assertEquals(4001, code);
    assertTrue(closedAt >= exp.toEpochMilli() - 50, "closed at " + closedAt + ", exp " + exp);
    assertDeliveredBeforeOrAfter(first, expiring.hello(), user, Transport.WS);

    // A connection with a valid token is unaffected.
    NODE.api().publishToUsers(InternalApi.text("after"), other);
    assertEquals(InternalApi.text("after"), valid.awaitMessage().get("data"));
    assertFalse(valid.closeCode.isDone());
  }

  @Test
  void sseStreamEndsWhenItsTokenExpiresAndTheReconnectIsRefused() throws Exception {
    String user = TestNodes.userOwnedBy("a", "exp-sse", 0);
    String other = TestNodes.userOwnedBy("a", "exp-sse", 1);
    Instant exp = shortExp();
    String token = token(user, exp);
    SseTestClient expiring = NODE.client(Transport.SSE);
    expiring.connect(token, null);
    SseTestClient valid = NODE.client(Transport.SSE);
    valid.connect(TestNodes.token(other, null), null);

    NODE.api().publishToUsers(InternalApi.text("before expiry"), user);
    JsonNode first = firstEventOrEnd(expiring, () -> expiring.ended.getCount() == 0);
    if (first != null && first.path("type").asText().equals("token_expired")) {
      first = null; // the expiry came first: the message stayed in the user's stream
    }

    assertTrue(
        expiring.ended.await(TransportClient.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS),
        "the stream did not end after its token expired");
    assertTrue(System.currentTimeMillis() >= exp.toEpochMilli() - 50);
    // Issue 9 item 9: the client is told why the stream ended, before it ends.
    if (first != null) {
      assertEquals("token_expired", expiring.awaitEvent().get("type").asText());
    }
    assertDeliveredBeforeOrAfter(first, expiring.hello(), user, Transport.SSE);

    RawHttp.Response again =
        Transport.SSE.attempt(
            NODE.node().publicPort(),
            "token=" + URLEncoder.encode(token, StandardCharsets.UTF_8),
            Map.of());
    assertEquals(401, again.status());
    assertEquals("token_expired", again.error());

    NODE.api().publishToUsers(InternalApi.text("after"), other);
    assertEquals(InternalApi.text("after"), valid.awaitMessage().get("data"));
    assertEquals(1, valid.ended.getCount());
  }

  @Test
  void leewayAdmitsAJustExpiredTokenAndClosesAtExpPlusLeeway() throws Exception {
    try (HalleyNode lenient = HalleyNode.start(TestNodes.config().tokenLeewayMs(4_000).build())) {
      String user = TestNodes.userOwnedBy("a", "exp-leeway", 0);
      Instant exp = Instant.now().minusSeconds(1).truncatedTo(ChronoUnit.SECONDS);
      WsTestClient ws = new WsTestClient(lenient.publicPort());
      NODE.closeAfterTest(ws);
      ws.connect(token(user, exp), null); // accepted: exp is 1 to 2 s ago, within the leeway
      int code = ws.closeCode.get(TransportClient.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      assertEquals(4001, code);
      assertTrue(System.currentTimeMillis() >= exp.toEpochMilli() + 4_000 - 50);
    }
  }

  @Test
  void heldLongPollIsAnsweredWhenItsTokenExpires() throws Exception {
    String user = TestNodes.userOwnedBy("a", "exp-lp", 0);
    Instant exp = shortExp();
    String q = "token=" + URLEncoder.encode(token(user, exp), StandardCharsets.UTF_8);
    long start = System.currentTimeMillis();
    RawHttp.Response held =
        RawHttp.request(
            NODE.node().publicPort(), "GET", "/v1/longpoll?timeoutMs=20000&" + q, Map.of());
    long answeredAt = System.currentTimeMillis();
    assertEquals(200, held.status(), held.body());
    // Issue 9 item 9: the batch says why it was answered, so the client renews its token at once.
    assertEquals(
        "[{\"type\":\"token_expired\"}]", InternalApi.json(held.body()).get("events").toString());
    assertTrue(answeredAt >= exp.toEpochMilli() - 50, "answered before its token expired");
    assertTrue(answeredAt - start < 10_000, "held " + (answeredAt - start) + " ms");

    RawHttp.Response next =
        RawHttp.request(NODE.node().publicPort(), "GET", "/v1/longpoll?" + q, Map.of());
    assertEquals(401, next.status());
    assertEquals("token_expired", next.error());
  }
}
