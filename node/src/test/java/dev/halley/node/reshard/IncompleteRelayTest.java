package dev.halley.node.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 14, a dual-mode publisher's channel message that reached the old owner {@code a} before it
 * held the pending map, and the new owner {@code c} only after c's activation (its gaining-phase
 * request was slow): {@code a} stored and delivered it without reporting a position, so the relay
 * to {@code c} does not list the moving user, and router-lib marks it {@code relayIncomplete}. The
 * user's pre-stream on {@code c} is relay-subscribed to the channel (an earlier message was relayed
 * for it), which after c's activation takes plain copies; this one it must not take, or the client
 * gets it a second time after its handoff. ReshardIT saw exactly that under load (four messages
 * twice) before the flag existed.
 */
class IncompleteRelayTest {
  private static final String ROOM = ReshardPair.ROOM;

  private ReshardPair pair;

  @BeforeEach
  void start() {
    pair = ReshardPair.standard();
  }

  @AfterEach
  void stop() {
    pair.close();
  }

  @Test
  void aGainingPhaseCopyOfAMessageTheOldOwnerStoredWithoutAPositionIsNotDeliveredAgain() {
    String u = pair.movers("incomplete", 1).get(0);
    FollowingClient f = pair.follow(FollowingClient.Transport.SSE, u, List.of(ROOM), true);
    Awaitility.await("the client is on a")
        .atMost(Duration.ofSeconds(20))
        .until(() -> pair.apiA.connections(u) > 0 || !f.errors.isEmpty());
    // m1 reaches a before it holds the pending map: stored, delivered, no position.
    JsonNode m1OnA = ReshardPair.post(pair.apiA, ReshardPair.channelMessage("m1", null));
    assertTrue(m1OnA.path("positions").isMissingNode(), m1OnA.toString());
    Awaitility.await("m1 from a")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.contains("m1") || !f.errors.isEmpty());
    pair.pending();
    // m2: a reports u's position, and its relay makes c's pre-stream relay-subscribed to ROOM.
    JsonNode m2OnA = ReshardPair.post(pair.apiA, ReshardPair.channelMessage("m2", null));
    assertTrue(m2OnA.path("positions").has(u), m2OnA.toString());
    ReshardPair.post(pair.apiC, ReshardPair.channelMessage("m2", m2OnA.path("positions")));
    Awaitility.await("m2 from a")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.contains("m2") || !f.errors.isEmpty());
    // c activates first (the documented order); then m1's gaining-phase request arrives there.
    assertEquals(
        200, pair.apiC.send("POST", "/v1/admin/map/activate", "{\"version\": 4}").status());
    ObjectNode late = ReshardPair.channelMessage("m1", null);
    late.put("relayIncomplete", true);
    JsonNode m1OnC = ReshardPair.post(pair.apiC, late);
    assertEquals(0, m1OnC.path("users").asInt(), "no copy for the moving user: " + m1OnC);
    // Without the flag (a publisher not in dual mode) a plain copy is taken, as before.
    JsonNode m3OnC = ReshardPair.post(pair.apiC, ReshardPair.channelMessage("m3", null));
    assertEquals(1, m3OnC.path("users").asInt(), m3OnC.toString());
    ReshardPair.post(pair.apiA, ReshardPair.channelMessage("m3", null));
    assertEquals(
        200, pair.apiA.send("POST", "/v1/admin/map/activate", "{\"version\": 4}").status());
    Awaitility.await("the client resumed on c with m3")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.contains("m3") || !f.errors.isEmpty() || !f.resets.isEmpty());
    assertEquals(List.of(), f.errors);
    assertEquals(List.of(), f.resets, "no reset: " + f.raw);
    assertEquals(List.of("m1", "m2", "m3"), f.keys, "every message once, in order: " + f.raw);
  }

  @Test
  void relayIncompleteIsABooleanOnAChannelMessage() {
    ObjectNode bad = ReshardPair.channelMessage("x", null);
    bad.put("relayIncomplete", "yes");
    ObjectNode root = dev.halley.node.InternalApi.JSON.createObjectNode();
    root.putArray("messages").add(bad);
    dev.halley.node.InternalApi.Reply r = pair.apiA.publish(root.toString());
    assertEquals(400, r.status(), r.toString());
    assertEquals("invalid_field", r.body().path("error").asText(), r.toString());
    ObjectNode user = ReshardPair.userMessage("y", "someone", null);
    user.put("relayIncomplete", true);
    root = dev.halley.node.InternalApi.JSON.createObjectNode();
    root.putArray("messages").add(user);
    r = pair.apiA.publish(root.toString());
    assertEquals(400, r.status(), r.toString());
  }
}
