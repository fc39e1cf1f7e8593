package dev.halley.node.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 14 over real sockets: two in-process nodes, {@code a} (the old owner) and {@code c} (a node
 * the new map adds), a publisher following the contract by hand (pending map on both, each message
 * to the old owner first and its position relayed to the new one, channel messages with the relay
 * of the old owner's positions, activation gainer first, then plain sends to the new owner), and
 * clients on WebSocket, SSE and long-poll that follow {@code moved} with its {@code handoff}: 0
 * lost, 0 duplicated, 0 resets across the cut-over, including a relay that arrives after the
 * activation (the handoff waits for it). An old client (no handoff) gets the honest {@code reset};
 * a long-poll client between two requests gets {@code moved}, not 421.
 */
class LosslessReshardTest {
  private static final String ROOM = ReshardPair.ROOM;

  private ReshardPair pair;
  private HalleyNode a;
  private HalleyNode c;
  private InternalApi apiA;
  private InternalApi apiC;
  private ClusterMap v4;

  @BeforeEach
  void start() {
    pair =
        new ReshardPair(
            ops -> ops.maxConnectionsPerUser(10_000).movedSpreadMs(300).handoffWaitMs(4_000),
            node -> node);
    a = pair.a;
    c = pair.c;
    apiA = pair.apiA;
    apiC = pair.apiC;
    v4 = pair.v4;
  }

  @AfterEach
  void stop() {
    pair.close();
  }

  /** {@code n} users a owns under map 3 that map 4 moves to c. */
  private List<String> movers(String prefix, int n) {
    return pair.movers(prefix, n);
  }

  private FollowingClient client(FollowingClient.Transport t, String user, boolean followsHandoff) {
    return pair.follow(t, user, List.of(ROOM), followsHandoff);
  }

  private static ObjectNode userMessage(String key, String user, JsonNode relay) {
    return ReshardPair.userMessage(key, user, relay);
  }

  private static JsonNode post(InternalApi api, ObjectNode message) {
    return ReshardPair.post(api, message);
  }

  /** Old owner first; returns its position for the user. */
  private String toOld(String key, String user) {
    JsonNode r = post(apiA, userMessage(key, user, null));
    String pos = r.path("positions").path(user).asText(null);
    assertTrue(pos != null, "a reports the position of a moving user: " + r);
    return pos;
  }

  private void relay(String key, String user, String position) {
    ObjectNode relay = InternalApi.JSON.createObjectNode();
    relay.put(user, position);
    JsonNode r = post(apiC, userMessage(key, user, relay));
    assertEquals("accepted", r.path("status").asText(), r.toString());
  }

  @Test
  void connectedClientsOnEveryTransportGetEveryMessageOnceWithoutReset() {
    List<String> users = movers("u", 6);
    Map<String, FollowingClient> byUser = new HashMap<>();
    FollowingClient.Transport[] ts = FollowingClient.Transport.values();
    for (int i = 0; i < users.size(); i++) {
      byUser.put(users.get(i), client(ts[i % ts.length], users.get(i), true));
    }
    Map<String, List<String>> expected = new HashMap<>();
    users.forEach(u -> expected.put(u, new ArrayList<>()));

    // Before the pending map: plain publishes to a.
    for (String u : users) {
      post(apiA, userMessage("pre-" + u, u, null));
      expected.get(u).add("pre-" + u);
    }
    pair.pending();

    // Dual mode: old owner first, relay its position to the new owner.
    Map<String, String> lateRelays = new HashMap<>();
    for (int k = 0; k < 5; k++) {
      for (String u : users) {
        String key = "d" + k + "-" + u;
        String pos = toOld(key, u);
        expected.get(u).add(key);
        if (k == 4) {
          lateRelays.put(u, pos); // relayed after the activation: the handoff waits for it
        } else {
          relay(key, u, pos);
        }
      }
      // A channel message: its positions at a become the relay for c.
      ObjectNode ch = InternalApi.JSON.createObjectNode();
      ch.put("id", "ch" + k);
      ch.put("channel", ROOM);
      ch.put("data", k);
      JsonNode r = post(apiA, ch);
      JsonNode positions = r.path("positions");
      for (String u : users) {
        assertTrue(positions.has(u), "channel result has the position of " + u + ": " + r);
        expected.get(u).add("ch" + k);
      }
      ch.set("relay", positions);
      JsonNode rc = post(apiC, ch);
      assertEquals(users.size(), rc.path("users").asInt(), rc.toString());
    }
    JsonNode state = apiC.send("GET", "/v1/admin/map/state", null).body();
    assertEquals(users.size(), state.at("/preStreams/users").asInt(), state.toString());

    // Activation: the gainer first, then the loser (its clients get moved with handoff).
    pair.activate();
    assertEquals(users.size(), finishing(apiA));

    // After the activation: a answers misdirected, the publisher sends to c plainly.
    for (String u : users) {
      String key = "post-" + u;
      JsonNode r = post(apiA, userMessage(key, u, null));
      assertEquals(List.of(u), InternalApi.texts(r.get("misdirected")), r.toString());
      post(apiC, userMessage(key, u, null));
      expected.get(u).add(key);
    }
    // The last relays arrive late (a slow publisher thread): the clients' handoffs wait.
    lateRelays.forEach((u, pos) -> relay("d4-" + u, u, pos));

    for (String u : users) {
      FollowingClient f = byUser.get(u);
      awaitOr(
          f.transport + " client of " + u + " got every message",
          () -> f.keys.size() >= expected.get(u).size() || !f.errors.isEmpty(),
          f);
      assertEquals(List.of(), f.errors, f.transport + " " + u);
      assertEquals(List.of(), f.resets, f.transport + " " + u + " got no reset " + f.raw);
      assertEquals(
          new java.util.TreeSet<>(expected.get(u)),
          new java.util.TreeSet<>(f.keys),
          f.transport + " " + u + ": every message");
      assertEquals(
          expected.get(u).size(), f.keys.size(), f.transport + " " + u + ": no repeat " + f.keys);
      assertEquals(1, f.moves.size(), f.transport + " " + u + ": " + f.moves);
      assertTrue(f.moves.get(0).hasNonNull("handoff"), f.moves.toString());
      assertEquals(c.publicPort(), f.port());
    }
    // Live messages after the cut-over still arrive exactly once.
    for (String u : users) {
      post(apiC, userMessage("live-" + u, u, null));
      expected.get(u).add("live-" + u);
    }
    for (String u : users) {
      FollowingClient f = byUser.get(u);
      Awaitility.await(f.transport + " " + u + " live after the cut-over")
          .atMost(Duration.ofSeconds(20))
          .until(() -> f.keys.size() >= expected.get(u).size());
      assertEquals(new java.util.TreeSet<>(expected.get(u)), new java.util.TreeSet<>(f.keys));
      assertEquals(expected.get(u).size(), f.keys.size(), f.transport + " " + u + ": no repeat");
      assertEquals(List.of(), f.resets);
    }
    String metrics = Scrape.get(c.internalPort(), "/metrics").body();
    assertEquals(
        users.size(), Scrape.sample(metrics, "halley_handoff_total{result=\"covered\"}"), 0.0);
    assertEquals(
        users.size(),
        Scrape.sample(Scrape.get(a.internalPort(), "/metrics").body(), "halley_moved_sent_total"),
        0.0);
  }

  private static void awaitOr(
      String what, java.util.function.BooleanSupplier ok, FollowingClient f) {
    try {
      Awaitility.await(what)
          .atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(20))
          .until(ok::getAsBoolean);
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      throw new AssertionError(
          what
              + ": keys "
              + f.keys
              + " resets "
              + f.resets
              + " moves "
              + f.moves
              + " ports "
              + f.ports
              + " errors "
              + f.errors
              + " raw "
              + f.raw,
          e);
    }
  }

  private static int finishing(InternalApi api) {
    return api.send("GET", "/v1/admin/map/state", null).body().at("/handoffs/finishing").asInt();
  }

  /**
   * A WebSocket held for its handoff (the relay of [S, F] has not come) whose client gives up and
   * closes its socket before {@code hello}: once the wait is over the node closes the connection
   * and stops counting it. (The node read nothing while the handoff waited, so it never saw the
   * close; the leftover connections kept counting on the node a reshard removed, issue 14's
   * ReshardIT.)
   */
  @Test
  void aWebSocketWhoseClientLeavesWhileItsHandoffWaitsIsClosedAndUncounted() throws Exception {
    String u = movers("leave", 1).get(0);
    leaveWhileHeld(u); // the relay of k1 to c never comes
    Awaitility.await("c closed and uncounted the WebSocket its client left")
        .atMost(Duration.ofSeconds(20))
        .until(() -> websockets(c) == 0.0);
  }

  /** The same, when the missing relay arrives after the client left (the wait ends covered). */
  @Test
  void aWebSocketWhoseClientLeavesBeforeTheRelayCompletesItsHandoffIsClosed() throws Exception {
    String u = movers("leave2", 1).get(0);
    String x = leaveWhileHeld(u);
    relay("k1", u, x); // wakes the held attempt: covered, on a socket its client closed
    Awaitility.await("c closed and uncounted the WebSocket its client left")
        .atMost(Duration.ofSeconds(20))
        .until(() -> websockets(c) == 0.0);
  }

  /**
   * k1 accepted by a (not relayed), map 4 activated, then a raw WebSocket to c resuming before k1
   * with the handoff [k1, k1]: held for the relay; once c counts it the client closes its socket
   * before {@code hello}. Returns k1's position at a.
   */
  private String leaveWhileHeld(String u) throws Exception {
    post(apiA, userMessage("pre", u, null));
    pair.pending();
    String x = toOld("k1", u);
    pair.activate();
    String epoch = x.substring(0, x.indexOf(':'));
    String seq = x.substring(x.indexOf(':') + 1);
    String query =
        "&lastEventId="
            + java.net.URLEncoder.encode(x, java.nio.charset.StandardCharsets.UTF_8)
            + "&handoff="
            + java.net.URLEncoder.encode(
                epoch + ":" + seq + ":" + seq, java.nio.charset.StandardCharsets.UTF_8);
    try (dev.halley.node.RawWebSocket ws =
        dev.halley.node.RawWebSocket.connect(
            c.publicPort(), TestNodes.token(u, List.of(ROOM)), query)) {
      Awaitility.await("c counts the held WebSocket")
          .atMost(Duration.ofSeconds(10))
          .until(() -> websockets(c) == 1.0);
    } // the client leaves before hello
    return x;
  }

  private static double websockets(HalleyNode n) {
    return Scrape.sample(
        Scrape.get(n.internalPort(), "/metrics").body(),
        "halley_connections{transport=\"websocket\"}");
  }

  /**
   * A channel message published while the publisher did not know the pending map yet reaches every
   * node of the active map; each old owner that holds the pending map answers with the positions of
   * its own moving users, so router-lib relays the one message to the new owner once per old owner
   * (same key, a relay naming other users each time). Each relay's users get the event with its
   * position; a repeat of a relay adds nothing. Before the fix the second relay was answered as an
   * idempotent duplicate and its users' pre-streams lacked the event: their handoffs waited
   * handoffWaitMs and ended in reset gap (ReshardIT: every moved client of the first old owners).
   */
  @Test
  void aChannelMessageRelayedOncePerOldOwnerReachesEveryRelayedUserOnce() {
    List<String> users = movers("late", 2);
    String u1 = users.get(0);
    String u2 = users.get(1);
    apiC.send("POST", "/v1/admin/map/pending", v4.toJson());
    String epoch1 = "00000000000000e1"; // the two old owners (their events are relayed only)
    String epoch2 = "00000000000000e2";
    ObjectNode ch = InternalApi.JSON.createObjectNode();
    ch.put("id", "late-1");
    ch.put("channel", ROOM);
    ch.put("data", "late");
    ObjectNode relay1 = InternalApi.JSON.createObjectNode();
    relay1.put(u1, epoch1 + ":5");
    ch.set("relay", relay1);
    assertEquals(1, post(apiC, ch).path("users").asInt());
    ObjectNode relay2 = InternalApi.JSON.createObjectNode();
    relay2.put(u2, epoch2 + ":9");
    ch.set("relay", relay2);
    post(apiC, ch); // the same message relayed for the other old owner's user
    ch.set("relay", relay1);
    post(apiC, ch); // a retry of the first relay
    apiC.send("POST", "/v1/admin/map/activate", "{\"version\": 4}");

    // Each client missed only that message on its old owner: [S, F] = [seq, seq], X = seq - 1.
    for (String[] k : List.of(new String[] {u1, epoch1, "5"}, new String[] {u2, epoch2, "9"})) {
      long seq = Long.parseLong(k[2]);
      String x = k[1] + ":" + (seq - 1);
      String handoff = k[1] + ":" + seq + ":" + seq;
      InternalApi.Reply r =
          InternalApi.call(
              java.net.http.HttpRequest.newBuilder(
                      java.net.URI.create(
                          "http://127.0.0.1:"
                              + c.publicPort()
                              + "/v1/longpoll?token="
                              + TestNodes.token(k[0], List.of(ROOM))
                              + "&lastEventId="
                              + x
                              + "&handoff="
                              + handoff
                              + "&timeoutMs=0"))
                  .GET()
                  .build());
      assertEquals(200, r.status(), r.toString());
      List<String> types = new ArrayList<>();
      List<String> keys = new ArrayList<>();
      for (JsonNode e : r.body().path("events")) {
        types.add(e.path("type").asText());
        if (e.has("key")) {
          keys.add(e.path("key").asText());
        }
      }
      assertEquals(List.of("message"), types, k[0] + ": covered, no reset: " + r.body());
      assertEquals(List.of("late-1"), keys, k[0] + ": the message once: " + r.body());
    }
  }

  @Test
  void anOldClientWithoutHandoffGetsTheHonestReset() {
    String u = movers("old", 1).get(0);
    FollowingClient f = client(FollowingClient.Transport.WS, u, false);
    pair.pending();
    relay("k1", u, toOld("k1", u));
    pair.activate();
    awaitOr("the old client resumed on c", () -> !f.resets.isEmpty() || !f.errors.isEmpty(), f);
    assertEquals(List.of(), f.errors);
    assertEquals(1, f.resets.size(), f.resets.toString());
    assertEquals("gap", f.resets.get(0).path("reason").asText());
    // What c holds after the reset's position is delivered (k1 again: the app reloads anyway).
    Awaitility.await("k1 after the reset")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.size() >= 2);
    assertEquals(List.of("k1", "k1"), f.keys);
  }

  @Test
  void aReconnectWithoutHandoffCoverageGetsAReset() {
    // The old owner accepted k2 and its relay never came: the handoff cannot be covered.
    String u = movers("gap", 1).get(0);
    FollowingClient f = client(FollowingClient.Transport.SSE, u, true);
    pair.pending();
    relay("k1", u, toOld("k1", u));
    toOld("k2", u);
    ObjectNode unknown = InternalApi.JSON.createObjectNode();
    unknown.putNull(u);
    post(apiC, userMessage("k3", u, unknown)); // the old owner's outcome unknown
    pair.activate();
    Awaitility.await("the client resumed on c")
        .atMost(Duration.ofSeconds(20))
        .until(() -> !f.resets.isEmpty() || !f.errors.isEmpty());
    assertEquals(List.of(), f.errors);
    assertEquals("gap", f.resets.get(0).path("reason").asText());
  }

  @Test
  void aLongPollClientBetweenRequestsGetsMovedNotNotOwnerAfterAnImmediateSwitch() {
    String u = movers("lp", 1).get(0);
    // The immediate switch (no pending map): the stream is dropped, as before.
    assertEquals(200, apiA.send("POST", "/v1/admin/map", v4.toJson()).status());
    String token = TestNodes.token(u, null);
    InternalApi.Reply r =
        InternalApi.call(
            java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create(
                        "http://127.0.0.1:"
                            + a.publicPort()
                            + "/v1/longpoll?token="
                            + token
                            + "&lastEventId="
                            + "0011223344556677:5"))
                .GET()
                .build());
    assertEquals(200, r.status(), r.toString());
    JsonNode moved = r.body().path("events").get(0);
    assertEquals("moved", moved.path("type").asText(), r.toString());
    assertEquals("c", moved.path("node").asText());
    assertTrue(!moved.has("handoff"), "no finishing stream: no handoff");
    ArrayNode none = (ArrayNode) r.body().path("events");
    assertEquals(1, none.size());
  }
}
