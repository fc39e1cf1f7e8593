package dev.halley.node.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.Scrape;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 14, repeats of a message key during a reshard, over real sockets (old owner {@code a}, new
 * owner {@code c}, a publisher by hand, a client following {@code moved} with its handoff):
 *
 * <ul>
 *   <li>a repeat to the old owner (a publisher whose first answer was lost retries with the same
 *       key) answers {@code duplicate} with the first outcome's {@code positions}, for user and
 *       channel messages, before and after the old owner's activation, so the publisher relays the
 *       position instead of an unknown one;
 *   <li>a later relay of a key the new owner already stored (plainly, or with an unknown old
 *       position) annotates that event instead of adding a second copy;
 *   <li>a latest-value copy the old owner adds at a connect while the pending map is installed (no
 *       publisher sees it, so it is never relayed) is listed in the handoff, and the new owner does
 *       not wait for it.
 * </ul>
 *
 * All end in a covered handoff (no reset, every message once); on the old code the first had no
 * {@code positions} in the duplicate answer, and the others ended in {@code reset gap}.
 */
class HandoffCoverageTest {
  private static final String ROOM = ReshardPair.ROOM;
  private static final String PRICE = "price";

  private ReshardPair pair;
  private HalleyNode a;
  private HalleyNode c;
  private InternalApi apiA;
  private InternalApi apiC;

  @BeforeEach
  void start() {
    pair =
        new ReshardPair(
            ops -> ops.movedSpreadMs(0).handoffWaitMs(10_000),
            node -> node.latestValueChannels(List.of(PRICE)));
    a = pair.a;
    c = pair.c;
    apiA = pair.apiA;
    apiC = pair.apiC;
  }

  @AfterEach
  void stop() {
    pair.close();
  }

  private String mover(String prefix) {
    return pair.movers(prefix, 1).get(0);
  }

  private FollowingClient client(FollowingClient.Transport t, String user) {
    return pair.follow(t, user, List.of(ROOM), true);
  }

  private static ObjectNode userMessage(String key, String user, JsonNode relay) {
    return ReshardPair.userMessage(key, user, relay);
  }

  private static ObjectNode channelMessage(String key, JsonNode relay) {
    ObjectNode m = InternalApi.JSON.createObjectNode();
    m.put("id", key);
    m.put("channel", ROOM);
    m.put("data", key);
    if (relay != null) {
      m.set("relay", relay);
    }
    return m;
  }

  private static JsonNode post(InternalApi api, ObjectNode message) {
    return ReshardPair.post(api, message);
  }

  /** {@link #post} as a dual-mode publisher declares itself ({@code Halley-Map-Versions: 3,4}). */
  private static JsonNode postDual(HalleyNode node, ObjectNode message) {
    ObjectNode root = InternalApi.JSON.createObjectNode();
    root.putArray("messages").add(message);
    InternalApi.Reply r =
        InternalApi.call(
            java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://127.0.0.1:" + node.internalPort() + "/v1/publish"))
                .header("Authorization", "Bearer " + dev.halley.node.TestNodes.API_KEY)
                .header("Halley-Publisher", "dual-pub")
                .header("Halley-Map-Versions", "3,4")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(root.toString()))
                .build());
    assertEquals(200, r.status(), r.toString());
    return r.body().get("results").get(0);
  }

  private static ObjectNode relay(String user, String position) {
    ObjectNode r = InternalApi.JSON.createObjectNode();
    if (position == null) {
      r.putNull(user);
    } else {
      r.put(user, position);
    }
    return r;
  }

  /**
   * Publishes a last message on c (after the activation it goes there plainly) and waits until the
   * client holds it (or failed), then checks that it holds exactly {@code before} and it.
   */
  private void assertHandedOverCleanly(FollowingClient f, String user, List<String> before) {
    post(apiC, userMessage("live", user, null));
    List<String> expected = new ArrayList<>(before);
    expected.add("live");
    Awaitility.await(f.transport + " client got every message")
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(20))
        .until(
            () -> f.keys.size() >= expected.size() || !f.errors.isEmpty() || !f.resets.isEmpty());
    assertEquals(List.of(), f.errors);
    assertEquals(List.of(), f.resets, "no reset: " + f.raw);
    assertEquals(expected, f.keys, "every message once, in order");
    assertEquals(1, f.moves.size(), f.moves.toString());
    assertTrue(f.moves.get(0).hasNonNull("handoff"), f.moves.toString());
    assertEquals(c.publicPort(), f.port());
    String metrics = Scrape.get(c.internalPort(), "/metrics").body();
    assertEquals(1, Scrape.sample(metrics, "halley_handoff_total{result=\"covered\"}"), 0.0);
  }

  @Test
  void aRepeatToTheOldOwnerRestatesTheFirstPositionsAndTheirRelayIsCovered() {
    String u = mover("dup");
    FollowingClient f = client(FollowingClient.Transport.SSE, u);
    pair.pending();

    // A user message: the first answer's position, then the repeat's (its answer restated).
    JsonNode first = post(apiA, userMessage("k1", u, null));
    String p1 = first.path("positions").path(u).asText(null);
    assertTrue(p1 != null, first.toString());
    JsonNode repeat = post(apiA, userMessage("k1", u, null));
    assertEquals("duplicate", repeat.path("status").asText(), repeat.toString());
    assertEquals(p1, repeat.path("positions").path(u).asText(null), "restated: " + repeat);

    // A channel message, the same.
    JsonNode ch = post(apiA, channelMessage("ch1", null));
    String p2 = ch.path("positions").path(u).asText(null);
    assertTrue(p2 != null, ch.toString());
    JsonNode chRepeat = post(apiA, channelMessage("ch1", null));
    assertEquals("duplicate", chRepeat.path("status").asText(), chRepeat.toString());
    assertEquals(ch.path("positions"), chRepeat.path("positions"), "restated: " + chRepeat);

    // The publisher relays what the repeats said (it never saw the first answers).
    post(apiC, userMessage("k1", u, relay(u, repeat.path("positions").path(u).asText())));
    post(apiC, channelMessage("ch1", chRepeat.path("positions")));
    pair.activate();

    // After the activation (a finishing stream) a repeat still restates the position.
    JsonNode late = post(apiA, userMessage("k1", u, null));
    assertEquals("duplicate", late.path("status").asText(), late.toString());
    assertEquals(p1, late.path("positions").path(u).asText(null), late.toString());

    assertHandedOverCleanly(f, u, List.of("k1", "ch1"));
  }

  /**
   * The old owner stored "early" before it held the pending map (no position; the client has it),
   * and the publisher's plain copy of it reaches the new owner only after a relay made the user's
   * pre-stream relay-subscribed to the channel (ReshardIT's duplicated channel messages: the
   * pending map installed node after node, answers in another order). On the old code the new owner
   * appended that copy (the publisher declared the pending map) without an old position, so the
   * covered handoff delivered it a second time.
   */
  @Test
  void aPlainChannelCopyBeforeTheNewOwnersActivationIsNotAddedToARelayedPreStream() {
    String u = mover("plain");
    FollowingClient f = client(FollowingClient.Transport.SSE, u);
    post(apiA, channelMessage("early", null)); // a holds no pending map yet: no position
    Awaitility.await("the client has 'early' from a")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.contains("early"));
    pair.pending();
    JsonNode next = post(apiA, channelMessage("next", null));
    postDual(c, channelMessage("next", next.path("positions")));
    JsonNode late = postDual(c, channelMessage("early", null)); // the late plain copy
    assertEquals(0, late.path("users").asInt(), "c took no plain copy: " + late);
    pair.activate();
    assertHandedOverCleanly(f, u, List.of("early", "next"));
  }

  /**
   * Activated against the documented order (the old owner before the new one): the old owner's
   * finishing stream takes nothing, and the new owner takes plain channel messages into a
   * pre-stream only after its own activation, so a channel message published meanwhile reached
   * neither for the user. The handoff then ends in an honest {@code reset}; on the old code it was
   * covered, and the message was silently missing.
   */
  @Test
  void aHandoffReachingTheNewOwnerBeforeItsActivationEndsInAReset() {
    String u = mover("order");
    FollowingClient f = client(FollowingClient.Transport.WS, u);
    pair.pending();
    String p1 = post(apiA, userMessage("k1", u, null)).path("positions").path(u).asText();
    post(apiC, userMessage("k1", u, relay(u, p1)));
    assertEquals(200, apiA.send("POST", "/v1/admin/map/activate", "{\"version\": 4}").status());
    Awaitility.await("the client follows moved to c")
        .atMost(Duration.ofSeconds(30))
        .until(() -> f.port() == c.publicPort() || !f.errors.isEmpty());
    post(apiC, userMessage("live", u, null));
    Awaitility.await("the client's answer on c")
        .atMost(Duration.ofSeconds(30))
        .until(() -> !f.resets.isEmpty() || !f.errors.isEmpty() || f.keys.contains("live"));
    assertEquals(List.of(), f.errors);
    assertEquals(1, f.resets.size(), "an honest reset: " + f.raw);
    assertEquals("gap", f.resets.get(0).path("reason").asText(), f.resets.toString());
    assertEquals(c.publicPort(), f.port());
  }

  /**
   * A channel message published after the old owner's activation, on a channel no message of which
   * was relayed for the user before (a quiet channel), while the client is on its way to the new
   * owner: the old owner's finishing stream stores it after F and reports its position (contract
   * change 1 of 2026-12-01), the publisher relays it, and the client gets it on the new owner. On
   * the old code the finishing stream took nothing and the new owner's pre-stream was not
   * subscribed to the channel: the handoff was covered and the message silently missing.
   */
  @Test
  void aChannelMessageAfterTheOldOwnersActivationReachesTheMovingClientThroughTheNewOwner() {
    String u = mover("quiet");
    FollowingClient f = client(FollowingClient.Transport.SSE, u);
    pair.pending();
    String p1 = post(apiA, userMessage("k1", u, null)).path("positions").path(u).asText();
    pair.activate(); // k1's relay is still on its way: the handoff on c waits for it
    Awaitility.await("the client got moved")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.moves.size() == 1);
    // The publisher, as router-lib's channel phases do: a first, then c with a's positions.
    JsonNode onA = post(apiA, channelMessage("m", null));
    JsonNode positions = onA.path("positions");
    post(apiC, channelMessage("m", positions.has(u) ? positions : null));
    post(apiC, userMessage("k1", u, relay(u, p1)));
    assertHandedOverCleanly(f, u, List.of("k1", "m"));
  }

  @Test
  void aLaterRelayAnnotatesTheEventTheNewOwnerAlreadyHeldInsteadOfAResetOrASecondCopy() {
    String u = mover("ann");
    FollowingClient f = client(FollowingClient.Transport.WS, u);
    pair.pending();
    // k1: the usual relay. k2: the publisher heard nothing from a (relay null), and later learnt
    // the position (its repeat's answer). k3: c got it plainly first, the relay came after.
    String p1 = post(apiA, userMessage("k1", u, null)).path("positions").path(u).asText();
    post(apiC, userMessage("k1", u, relay(u, p1)));
    String p2 = post(apiA, userMessage("k2", u, null)).path("positions").path(u).asText();
    post(apiC, userMessage("k2", u, relay(u, null)));
    post(apiC, userMessage("k3", u, null));
    String p3 = post(apiA, userMessage("k3", u, null)).path("positions").path(u).asText();
    JsonNode r2 = post(apiC, userMessage("k2", u, relay(u, p2)));
    assertEquals("duplicate", r2.path("status").asText(), r2.toString());
    JsonNode r3 = post(apiC, userMessage("k3", u, relay(u, p3)));
    assertEquals("duplicate", r3.path("status").asText(), r3.toString());
    JsonNode state = apiC.send("GET", "/v1/admin/map/state", null).body();
    assertEquals(3, state.at("/preStreams/events").asInt(), "each key once: " + state);
    pair.activate();
    assertHandedOverCleanly(f, u, List.of("k1", "k2", "k3"));
  }

  @Test
  void aLaterRelayWaitedForByAHandoffAnnotatesAndCompletesIt() {
    String u = mover("wait");
    FollowingClient f = client(FollowingClient.Transport.LONGPOLL, u);
    pair.pending();
    String p1 = post(apiA, userMessage("k1", u, null)).path("positions").path(u).asText();
    post(apiC, userMessage("k1", u, null)); // plain first: c holds k1 without its position
    pair.activate();
    // The client is on c now, its handoff waiting for k1's position; the relay completes it.
    Awaitility.await("the handoff waits on c")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.moves.size() == 1);
    post(apiC, userMessage("k1", u, relay(u, p1)));
    assertHandedOverCleanly(f, u, List.of("k1"));
  }

  @Test
  void aLatestValueCopyAddedAtAConnectOnTheOldOwnerIsListedInTheHandoffAndNotWaitedFor() {
    String u = mover("lv");
    pair.pending();
    // k1 is reported (S); the price value exists before the client connects.
    String p1 = post(apiA, userMessage("k1", u, null)).path("positions").path(u).asText();
    post(apiC, userMessage("k1", u, relay(u, p1)));
    ObjectNode price = channelMessage("pv1", null);
    price.put("channel", PRICE);
    post(apiA, price); // the user's stream is not subscribed yet: no position
    post(apiC, price.deepCopy());
    // A fresh connect granting the channel: a's copy of the value goes into the stream (after S),
    // seen by no publisher.
    FollowingClient f = pair.follow(FollowingClient.Transport.SSE, u, List.of(PRICE), true);
    Awaitility.await("the latest value at connect")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.contains("pv1"));
    String p2 = post(apiA, userMessage("k2", u, null)).path("positions").path(u).asText();
    post(apiC, userMessage("k2", u, relay(u, p2)));
    pair.activate();
    assertHandedOverCleanly(f, u, List.of("pv1", "k2"));
    String handoff = f.moves.get(0).path("handoff").asText();
    assertEquals(4, handoff.split(":").length, "the handoff lists the copy: " + handoff);
  }
}
