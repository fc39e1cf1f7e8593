package dev.halley.node.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 14, contract change 5 (2026-12-01 21:16, precision 22:10) over real sockets: a client that
 * reaches the new owner {@code c} only after a publisher left dual mode. That publisher sends a
 * channel message plainly to every node (it declares {@code Halley-Map-Versions: 4} only): the old
 * owner {@code a}'s finishing stream stores it after F and reports its position, which nobody
 * relays, and {@code c} gives it only to pre-streams relay-subscribed to its channel. On a quiet
 * channel (nothing of it relayed for the user) the message reached neither owner for the user: the
 * handoff must end in an honest {@code reset gap}. On the old code it was covered and the message
 * was silently missing. On a channel that was relayed for the user, {@code c} kept a plain copy:
 * covered, every message once.
 */
class PublisherLeftDualModeTest {
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

  /** Publishes {@code message} alone as a publisher declaring {@code versions}; its result. */
  private static JsonNode postAs(HalleyNode node, String versions, ObjectNode message) {
    ObjectNode root = InternalApi.JSON.createObjectNode();
    root.putArray("messages").add(message);
    InternalApi.Reply r =
        InternalApi.call(
            HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + node.internalPort() + "/v1/publish"))
                .header("Authorization", "Bearer " + TestNodes.API_KEY)
                .header("Halley-Publisher", "pub-" + versions.replace(',', '-'))
                .header("Halley-Map-Versions", versions)
                .POST(HttpRequest.BodyPublishers.ofString(root.toString()))
                .build());
    assertEquals(200, r.status(), r.toString());
    return r.body().get("results").get(0);
  }

  private static ObjectNode relay(String user, String position) {
    ObjectNode r = InternalApi.JSON.createObjectNode();
    r.put(user, position);
    return r;
  }

  /**
   * The common part: u's client on a has k1 (reported, relayed to c by a dual publisher),
   * optionally a channel message {@code r1} relayed for u (c's pre-stream then relay-subscribed to
   * the room); map 4 is activated and the client, told {@code moved}, stays away; then a publisher
   * that left dual mode sends {@code m} to the room on a and on c. Returns the client (still held)
   * and c's result for {@code m}.
   */
  private FollowingClient leftDualWhileAway(
      FollowingClient.Transport t, String user, boolean relayTheRoom) {
    FollowingClient f = pair.follow(t, user, List.of(ROOM), true).holdAfterMoved();
    pair.pending();
    String p1 =
        postAs(pair.a, "3,4", ReshardPair.userMessage("k1", user, null))
            .path("positions")
            .path(user)
            .asText();
    postAs(pair.c, "3,4", ReshardPair.userMessage("k1", user, relay(user, p1)));
    if (relayTheRoom) {
      JsonNode onA = postAs(pair.a, "3,4", ReshardPair.channelMessage("r1", null));
      assertTrue(onA.path("positions").has(user), onA.toString());
      postAs(pair.c, "3,4", ReshardPair.channelMessage("r1", onA.path("positions")));
    }
    Awaitility.await(t + " client has what a delivered")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.size() == (relayTheRoom ? 2 : 1) || !f.errors.isEmpty());
    pair.activate();
    Awaitility.await(t + " client got moved")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.moves.size() == 1 || !f.errors.isEmpty());
    assertTrue(f.moves.get(0).hasNonNull("handoff"), f.moves.toString());
    // A publisher past its dual grace: the channel message goes plainly to every node.
    postAs(pair.a, "4", ReshardPair.channelMessage("m", null));
    JsonNode onC = postAs(pair.c, "4", ReshardPair.channelMessage("m", null));
    assertEquals(relayTheRoom ? 1 : 0, onC.path("users").asInt(), "c's copy of m: " + onC);
    return f;
  }

  /**
   * Lets the client go to c, publishes a last user message there, waits for the client's answer.
   */
  private void arrive(FollowingClient f, String user) {
    f.proceed();
    ReshardPair.post(pair.apiC, ReshardPair.userMessage("live", user, null));
    Awaitility.await(f.transport + " client's answer on c")
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(20))
        .until(() -> f.keys.contains("live") || !f.errors.isEmpty());
    assertEquals(List.of(), f.errors);
    assertEquals(pair.c.publicPort(), f.port());
  }

  private double handoffs(String result) {
    return Scrape.sample(
        Scrape.get(pair.c.internalPort(), "/metrics").body(),
        "halley_handoff_total{result=\"" + result + "\"}");
  }

  @ParameterizedTest
  @EnumSource(FollowingClient.Transport.class)
  void aQuietChannelsMessageAfterAPublisherLeftDualModeEndsTheHandoffInAReset(
      FollowingClient.Transport t) {
    String u = pair.movers("quiet-" + t, 1).get(0);
    FollowingClient f = leftDualWhileAway(t, u, false);
    arrive(f, u);
    assertTrue(
        f.keys.contains("m") || !f.resets.isEmpty(),
        t + ": m reached neither owner for u, so the handoff must not be covered: " + f.raw);
    assertEquals(1, f.resets.size(), "one honest reset: " + f.raw);
    assertEquals("gap", f.resets.get(0).path("reason").asText(), f.resets.toString());
    assertEquals(1.0, handoffs("reset_gap"), 0.0);
    assertEquals(0.0, handoffs("covered"), 0.0);
  }

  @ParameterizedTest
  @EnumSource(FollowingClient.Transport.class)
  void aRelayedChannelsMessageAfterAPublisherLeftDualModeIsHandedOverWithoutReset(
      FollowingClient.Transport t) {
    String u = pair.movers("relayed-" + t, 1).get(0);
    FollowingClient f = leftDualWhileAway(t, u, true);
    arrive(f, u);
    assertEquals(List.of(), f.resets, "no reset: " + f.raw);
    assertEquals(List.of("k1", "r1", "m", "live"), f.keys, "every message once, in order");
    assertEquals(1.0, handoffs("covered"), 0.0);
  }
}
