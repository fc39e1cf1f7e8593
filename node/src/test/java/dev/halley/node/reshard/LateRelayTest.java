package dev.halley.node.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.InternalApi;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import dev.halley.testing.TransportClient;
import java.time.Duration;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 14, rule 5 of the handoff resume for live events (docs/protocol.md): after a covered
 * handoff with last ID X, the new owner skips every event whose old position is at or before X,
 * also one whose relay arrives after the client is connected there (a slow publisher's relay, once
 * a client without {@code handoff} was covered by rule 3). Real sockets, old owner {@code a}, new
 * owner {@code c}, every streaming transport. On the old code the late relay was appended and
 * delivered live: the client got a message it had from a a second time.
 */
class LateRelayTest {
  private static final long QUIET_MS = 200;

  private ReshardPair pair;

  @BeforeEach
  void start() {
    pair = new ReshardPair(ops -> ops.movedSpreadMs(0).handoffWaitMs(QUIET_MS), node -> node);
  }

  @AfterEach
  void stop() {
    pair.close();
  }

  private static ObjectNode relayOf(String user, String position) {
    ObjectNode relay = InternalApi.JSON.createObjectNode();
    relay.put(user, position);
    return relay;
  }

  @ParameterizedTest
  @EnumSource(
      value = TransportClient.Transport.class,
      names = {"WS", "SSE", "LONGPOLL"})
  void aRelayArrivingAfterACoveredHandoffOfAnEventTheClientHadIsNotDelivered(
      TransportClient.Transport transport) {
    String u = pair.movers("late-" + transport, 1).get(0);
    String token = TestNodes.token(u, List.of());
    pair.pending();
    // The client has k1 and k2 from a (its last ID is k2's), then goes away.
    String p1;
    String p2;
    String x;
    try (TransportClient onA = transport.client(pair.a.publicPort())) {
      onA.connect(token, null);
      p1 = post(pair.apiA, ReshardPair.userMessage("k1", u, null));
      p2 = post(pair.apiA, ReshardPair.userMessage("k2", u, null));
      assertEquals("k1", onA.awaitMessage().path("key").asText());
      JsonNode k2 = onA.awaitMessage();
      assertEquals("k2", k2.path("key").asText());
      x = k2.path("id").asText();
      assertEquals(p2, x);
    }
    // k2's relay reached c; k1's is still on its way (a slow publisher).
    ReshardPair.post(pair.apiC, ReshardPair.userMessage("k2", u, relayOf(u, p2)));
    long relayedAt = System.nanoTime();
    pair.activate();
    // A late client: it comes back without handoff once relays have been quiet (rule 3).
    Awaitility.await("relays quiet for handoffWaitMs")
        .atMost(Duration.ofSeconds(10))
        .until(() -> System.nanoTime() - relayedAt > 2 * QUIET_MS * 1_000_000);
    try (TransportClient onC = transport.client(pair.c.publicPort())) {
      onC.connect(token, x);
      Awaitility.await("c decided the handoff: covered")
          .atMost(Duration.ofSeconds(20))
          .until(
              () ->
                  Scrape.sample(
                          Scrape.get(pair.c.internalPort(), "/metrics").body(),
                          "halley_handoff_total{result=\"covered\"}")
                      == 1.0);
      // k1's relay arrives now, then a new message.
      ReshardPair.post(pair.apiC, ReshardPair.userMessage("k1", u, relayOf(u, p1)));
      ReshardPair.post(pair.apiC, ReshardPair.userMessage("live", u, null));
      JsonNode next = onC.awaitEvent();
      assertEquals(
          "live",
          next.path("key").asText(),
          transport + ": the next event on c is the new message, not k1 a second time: " + next);
    }
  }

  /** Publishes to the old owner; returns the user's position there. */
  private static String post(InternalApi api, ObjectNode message) {
    JsonNode r = ReshardPair.post(api, message);
    String user = message.get("users").get(0).asText();
    return r.path("positions").path(user).asText();
  }
}
