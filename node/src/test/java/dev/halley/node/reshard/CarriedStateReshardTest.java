package dev.halley.node.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.halley.node.InternalApi;
import dev.halley.node.TestNodes;
import dev.halley.node.auth.AccessList;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 14, the state the old owner carries through the client (docs/protocol.md "Carried state"),
 * over real sockets: an API subscription and a revocation made on the old owner {@code a} before
 * the pending map existed hold on the new owner {@code c} after the cut-over; a tampered or another
 * user's carried state is refused with 400 {@code handoff_invalid}; an unsubscription made on
 * {@code c} after {@code a}'s activation is not undone by the older carried state. On the old code
 * {@code c} had no record of the subscription: after {@code moved} the client silently missed the
 * channel's messages (the first test times out waiting for {@code c}'s channel presence).
 */
class CarriedStateReshardTest {
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

  /** Waits until {@code f} resumed on c with a reset (and no error); that reset. */
  private static JsonNode awaitReset(FollowingClient f) {
    Awaitility.await("the client resumed on c with a reset")
        .atMost(Duration.ofSeconds(20))
        .until(() -> !f.resets.isEmpty() || !f.errors.isEmpty());
    assertEquals(List.of(), f.errors);
    return f.resets.get(0);
  }

  /** {@code halley_handoff_carried_total{result}} on {@code n}. */
  private static double carried(dev.halley.node.HalleyNode n, String result) {
    return dev.halley.node.Scrape.sample(
        dev.halley.node.Scrape.get(n.internalPort(), "/metrics").body(),
        "halley_handoff_carried_total{result=\"" + result + "\"}");
  }

  /** Whether c's channel presence of ROOM lists {@code user} (subscribed and connected there). */
  private boolean memberOnC(String user) {
    JsonNode r = pair.apiC.send("GET", "/v1/channels/" + ROOM + "/presence", null).body();
    for (JsonNode m : r.path("members")) {
      if (m.path("user").asText().equals(user)) {
        return true;
      }
    }
    return false;
  }

  @ParameterizedTest
  @EnumSource(FollowingClient.Transport.class)
  void aSubscriptionMadeBeforeThePendingMapHoldsOnTheNewOwnerWithEveryMessageOnce(
      FollowingClient.Transport transport) {
    String u = pair.movers("carry", 1).get(0);
    // Made on the old owner before any pending map: nobody repeats it on c.
    assertEquals(200, pair.apiA.subscribe(u, ROOM).status());
    FollowingClient f = pair.follow(transport, u, List.of(), true);
    ReshardPair.post(pair.apiA, ReshardPair.channelMessage("m1", null));
    Awaitility.await("m1 on a")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.contains("m1") || !f.errors.isEmpty());
    pair.pending();
    pair.activate();
    Awaitility.await("the client resumed on c, subscribed there")
        .atMost(Duration.ofSeconds(20))
        .until(() -> memberOnC(u) || !f.errors.isEmpty());
    // After the cut-over the publisher sends the channel's messages to every node of map 4.
    for (String k : List.of("m2", "m3")) {
      JsonNode r = ReshardPair.post(pair.apiC, ReshardPair.channelMessage(k, null));
      assertEquals(1, r.path("users").asInt(), "c has the carried subscription: " + r);
    }
    Awaitility.await("m2 and m3 reach the client on c")
        .atMost(Duration.ofSeconds(20))
        .until(() -> f.keys.contains("m3") || !f.errors.isEmpty() || !f.resets.isEmpty());
    assertEquals(List.of(), f.errors);
    assertEquals(List.of(), f.resets, "no reset: " + f.raw);
    assertEquals(List.of("m1", "m2", "m3"), f.keys, "every message once, in order: " + f.raw);
    assertTrue(f.moves.get(0).path("handoff").asText().contains("~"), f.moves.toString());
    assertEquals(1, carried(pair.a, "sent"), 0.0);
    assertEquals(1, carried(pair.c, "applied"), 0.0);
    assertEquals(0, carried(pair.c, "not_applied") + carried(pair.c, "stale"), 0.0);
  }

  /**
   * A poll (or long-poll) client holds no connection between two requests: its next request after
   * the activation gets {@code moved} from the finishing stream, which must carry the state as a
   * live connection's {@code moved} does. ReshardIT found it missing there: long-poll clients lost
   * their API-subscribed channel after moving back.
   */
  @Test
  void aPollBetweenTwoRequestsAtTheActivationGetsTheCarriedStateToo() {
    String u = pair.movers("between", 1).get(0);
    assertEquals(200, pair.apiA.subscribe(u, ROOM).status());
    pair.pending();
    pair.activate();
    assertEquals(200, poll(pair.a.publicPort(), TestNodes.token(u, List.of()), null, null));
    JsonNode events = lastBody.path("events");
    JsonNode moved = events.path(events.size() - 1);
    assertEquals("moved", moved.path("type").asText(), lastBody.toString());
    String handoff = moved.path("handoff").asText();
    assertTrue(handoff.contains("~"), "the finishing stream's moved carries the state: " + moved);
    String last = events.path(0).path("lastEventId").asText();
    assertEquals(200, poll(pair.c.publicPort(), TestNodes.token(u, List.of()), last, handoff));
    assertEquals(1, carried(pair.c, "applied"), 0.0);
    JsonNode r = ReshardPair.post(pair.apiC, ReshardPair.channelMessage("after", null));
    assertEquals(1, r.path("users").asInt(), "c has the carried subscription: " + r);
  }

  @Test
  void aRevocationMadeBeforeThePendingMapHoldsOnTheNewOwner() {
    String u = pair.movers("revoked", 1).get(0);
    FollowingClient f = pair.follow(FollowingClient.Transport.SSE, u, List.of(), true);
    InternalApi.Reply r = pair.apiA.send("POST", "/v1/users/" + u + "/revoke", "{\"jti\":\"d7\"}");
    assertEquals(200, r.status(), r.toString());
    assertEquals(401, poll(pair.a.publicPort(), tokenWithJti(u, "d7"), null, null));
    pair.pending();
    pair.activate();
    Awaitility.await("the client resumed on c")
        .atMost(Duration.ofSeconds(20))
        .until(() -> pair.apiC.connections(u) > 0 || !f.errors.isEmpty());
    assertEquals(List.of(), f.errors);
    assertEquals(
        "[\"d7\"]",
        pair.apiC
            .send("GET", "/v1/users/" + u + "/access", null)
            .body()
            .path("revokedJtis")
            .toString());
    assertEquals(401, poll(pair.c.publicPort(), tokenWithJti(u, "d7"), null, null));
    assertEquals(200, poll(pair.c.publicPort(), tokenWithJti(u, "d8"), null, null));
  }

  @Test
  void aCarriedBlockRefusesTheUserOnTheNewOwner() {
    String u = pair.movers("blocked", 1).get(0);
    // What a's activation would carry for u blocked before the pending map (AccessList.carry, as
    // NodeOperations calls it), signed with the cluster's secret.
    AccessList list = new AccessList(10);
    long now = System.currentTimeMillis();
    list.block(u, now + 600_000, "spam", now);
    String carried = list.carry(u, List.of(), 4, now + 60_000, 256, now).sign(TestNodes.SECRET);
    pair.pending();
    pair.activate();
    String handoff = "0123456789abcdef::0~" + carried;
    int status =
        poll(pair.c.publicPort(), TestNodes.token(u, List.of()), "0123456789abcdef:0", handoff);
    assertEquals(200, status, "admitted, then the carried block is recorded");
    assertTrue(
        pair.apiC
            .send("GET", "/v1/users/" + u + "/access", null)
            .body()
            .path("blockedUntil")
            .isIntegralNumber());
    assertEquals(403, poll(pair.c.publicPort(), TestNodes.token(u, List.of()), null, null));
  }

  @Test
  void aTamperedOrForeignCarriedStateIsRefused() {
    List<String> us = pair.movers("tamper", 2);
    String u = us.get(0);
    assertEquals(200, pair.apiA.subscribe(u, ROOM).status());
    FollowingClient f =
        pair.follow(FollowingClient.Transport.SSE, u, List.of(), true).holdAfterMoved();
    pair.pending();
    pair.activate();
    Awaitility.await("moved").atMost(Duration.ofSeconds(20)).until(() -> !f.moves.isEmpty());
    String handoff = f.moves.get(0).path("handoff").asText();
    int sep = handoff.indexOf('~');
    assertTrue(sep > 0, handoff);
    String x = handoff.substring(0, 16) + ":1";
    // One character of the signature changed.
    char c = handoff.charAt(handoff.length() - 2);
    String tampered =
        handoff.substring(0, handoff.length() - 2)
            + (c == 'A' ? 'B' : 'A')
            + handoff.charAt(handoff.length() - 1);
    assertEquals(400, poll(pair.c.publicPort(), TestNodes.token(u, List.of()), x, tampered));
    assertEquals("handoff_invalid", lastError, "the error names the refusal: " + lastError);
    // Another user's client bringing u's carried state.
    assertEquals(400, poll(pair.c.publicPort(), TestNodes.token(us.get(1), List.of()), x, handoff));
    assertEquals("handoff_invalid", lastError);
    assertEquals(2, carried(pair.c, "invalid"), 0.0);
    assertEquals(0, carried(pair.c, "applied"), 0.0);
  }

  @Test
  void aUserOverTheCarryBoundGetsAnHonestResetNotATruncatedState() {
    try (ReshardPair small =
        new ReshardPair(
            ops -> ops.movedSpreadMs(0).handoffWaitMs(10_000).handoffCarryMaxEntries(1),
            node -> node)) {
      String u = small.movers("over", 1).get(0);
      assertEquals(200, small.apiA.subscribe(u, ROOM).status());
      assertEquals(200, small.apiA.subscribe(u, "room-2").status());
      FollowingClient f = small.follow(FollowingClient.Transport.WS, u, List.of(), true);
      small.pending();
      small.activate();
      assertEquals("gap", awaitReset(f).path("reason").asText(), f.raw.toString());
      assertEquals(1, carried(small.c, "not_applied"), 0.0);
      assertEquals(0, carried(small.c, "applied"), 0.0);
    }
  }

  @Test
  void aCarriedStateLongerThanHalfTheHeaderBoundEndsInAReset() {
    try (ReshardPair small =
        new ReshardPair(
            ops -> ops.movedSpreadMs(0).handoffWaitMs(10_000).maxHeaderBytes(2048), node -> node)) {
      String u = small.movers("long", 1).get(0);
      for (int i = 0; i < 12; i++) {
        assertEquals(200, small.apiA.subscribe(u, "c".repeat(100) + i).status());
      }
      FollowingClient f = small.follow(FollowingClient.Transport.SSE, u, List.of(), true);
      small.pending();
      small.activate();
      awaitReset(f);
      assertTrue(f.moves.get(0).path("handoff").asText().length() < 1024, f.moves.toString());
    }
  }

  @Test
  void anExpiredOrOtherVersionCarriedStateEndsInAReset() {
    String u = pair.movers("stale", 1).get(0);
    long now = System.currentTimeMillis();
    AccessList list = new AccessList(10);
    list.revokeJti(u, "d1", now + 600_000, now);
    pair.pending();
    pair.activate();
    String epoch = "0123456789abcdef";
    for (String carried :
        List.of(
            list.carry(u, List.of(ROOM), 4, now - 1, 256, now).sign(TestNodes.SECRET),
            list.carry(u, List.of(ROOM), 5, now + 60_000, 256, now).sign(TestNodes.SECRET))) {
      int status =
          poll(
              pair.c.publicPort(),
              TestNodes.token(u, List.of()),
              epoch + ":0",
              epoch + "::0~" + carried);
      assertEquals(200, status, String.valueOf(lastBody));
      assertEquals(
          "reset", lastBody.path("events").path(0).path("type").asText(), lastBody.toString());
    }
    // Neither was applied.
    assertEquals(2, carried(pair.c, "stale"), 0.0);
    assertEquals(
        "[]",
        pair.apiC
            .send("GET", "/v1/users/" + u + "/access", null)
            .body()
            .path("revokedJtis")
            .toString());
  }

  @Test
  void anUnsubscribeOnTheNewOwnerIsNotUndoneByOlderCarriedState() {
    String u = pair.movers("unsub", 1).get(0);
    assertEquals(200, pair.apiA.subscribe(u, ROOM).status());
    FollowingClient f =
        pair.follow(FollowingClient.Transport.WS, u, List.of(), true).holdAfterMoved();
    pair.pending();
    pair.activate();
    Awaitility.await("moved").atMost(Duration.ofSeconds(20)).until(() -> !f.moves.isEmpty());
    // After a's activation the app unsubscribes u: only c (the owner now) gets the call.
    assertEquals(
        200, pair.apiC.send("DELETE", "/v1/users/" + u + "/channels/" + ROOM, null).status());
    f.proceed();
    Awaitility.await("the client resumed on c")
        .atMost(Duration.ofSeconds(20))
        .until(() -> pair.apiC.connections(u) > 0 || !f.errors.isEmpty());
    assertEquals(List.of(), f.errors);
    JsonNode r = ReshardPair.post(pair.apiC, ReshardPair.channelMessage("after-unsubscribe", null));
    assertEquals(0, r.path("users").asInt(), "the unsubscription holds: " + r);
  }

  private volatile String lastError;
  private volatile JsonNode lastBody;

  /** One {@code GET /v1/poll} on {@code port}; its status ({@link #lastError}: its error code). */
  private int poll(int port, String token, String lastEventId, String handoff) {
    StringBuilder q = new StringBuilder("token=").append(enc(token));
    if (lastEventId != null) {
      q.append("&lastEventId=").append(enc(lastEventId));
    }
    if (handoff != null) {
      q.append("&handoff=").append(enc(handoff));
    }
    InternalApi.Reply r =
        InternalApi.call(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/poll?" + q))
                .timeout(Duration.ofSeconds(20))
                .GET()
                .build());
    lastError = r.body().path("error").asText(null);
    lastBody = r.body();
    return r.status();
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  private static String tokenWithJti(String user, String jti) {
    SignedJWT jwt =
        new SignedJWT(
            new JWSHeader(JWSAlgorithm.HS256),
            new JWTClaimsSet.Builder()
                .subject(user)
                .jwtID(jti)
                .expirationTime(Date.from(Instant.now().plusSeconds(600)))
                .build());
    try {
      jwt.sign(new MACSigner(TestNodes.SECRET.getBytes(StandardCharsets.UTF_8)));
    } catch (com.nimbusds.jose.JOSEException e) {
      throw new IllegalStateException(e);
    }
    return jwt.serialize();
  }
}
