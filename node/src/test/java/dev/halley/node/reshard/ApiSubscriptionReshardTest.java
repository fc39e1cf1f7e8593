package dev.halley.node.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.InternalApi;
import java.time.Duration;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 14, a moving user's API subscription made in dual mode (the publisher sends the owner calls
 * to both owners) over real sockets: the new owner {@code c} accepts it for the user it gains under
 * the pending map, so it holds after the cut-over; before its activation the pre-stream takes no
 * plain copy of the subscribed channel's messages (the old owner {@code a} still serves the user
 * and reports them for a relay). On the old code {@code c} answered {@code 421}: after the move the
 * subscription was gone (router-lib's {@code DualModeOwnerCallsNodesTest} shows the same for a
 * block).
 */
class ApiSubscriptionReshardTest {
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
  void aSubscriptionOfAMovingUserOnBothOwnersHoldsAfterTheCutOverWithEveryMessageOnce() {
    String u = pair.movers("api", 1).get(0);
    FollowingClient f = pair.follow(FollowingClient.Transport.SSE, u, List.of(), true);
    pair.pending();
    // The dual-mode publisher's subscribe: both owners.
    for (InternalApi api : List.of(pair.apiA, pair.apiC)) {
      InternalApi.Reply r = api.send("PUT", "/v1/users/" + u + "/channels/" + ROOM, null);
      assertEquals(200, r.status(), r.toString());
      assertEquals("[\"" + ROOM + "\"]", r.body().path("channels").toString(), r.toString());
    }
    // A channel message from a publisher not yet dual reaches c plainly: no copy in the
    // pre-stream (a has it, and reports it)...
    JsonNode onA = ReshardPair.post(pair.apiA, ReshardPair.channelMessage("m1", null));
    assertTrue(onA.path("positions").has(u), onA.toString());
    JsonNode plain = ReshardPair.post(pair.apiC, ReshardPair.channelMessage("m1", null));
    assertEquals(0, plain.path("users").asInt(), "no plain copy before c's activation: " + plain);
    // ...its relay (the publisher learnt the pending map from a's answer) does.
    ReshardPair.post(pair.apiC, ReshardPair.channelMessage("m1", onA.path("positions")));
    Awaitility.await("the client has m1 from a")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.contains("m1") || !f.errors.isEmpty());
    pair.activate();
    // After the cut-over c has the subscription: a channel message reaches the client there.
    Awaitility.await("the client is on c")
        .atMost(Duration.ofSeconds(20))
        .until(
            () ->
                f.raw.stream()
                        .anyMatch(
                            l -> l.startsWith(pair.c.publicPort() + " ") && l.contains("\"hello\""))
                    || !f.errors.isEmpty());
    ReshardPair.post(pair.apiC, ReshardPair.channelMessage("m2", null));
    Awaitility.await("m2 reaches the client on c")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.contains("m2") || !f.errors.isEmpty() || !f.resets.isEmpty());
    assertEquals(List.of(), f.errors);
    assertEquals(List.of(), f.resets, "no reset: " + f.raw);
    assertEquals(List.of("m1", "m2"), f.keys, "every message once, in order: " + f.raw);
  }
}
