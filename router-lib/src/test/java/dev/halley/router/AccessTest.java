package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static dev.halley.router.TestCluster.userOn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.testing.RawHttp;
import dev.halley.testing.SseTestClient;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Disconnect, block and revoke through router-lib, each sent to the user's owner among real nodes.
 */
class AccessTest {
  private static final TokenMinter MINTER = TokenMinter.hs256(TestCluster.SECRET);
  private static final Duration TTL = Duration.ofMinutes(5);

  private static Publisher publisher(ClusterMap map) {
    return Publisher.builder()
        .mapSource(MapSource.of(() -> map))
        .apiKey(API_KEY)
        .mapRefreshInterval(Duration.ZERO)
        .requestTimeout(Duration.ofSeconds(10))
        .build();
  }

  private static <T> T await(CompletableFuture<T> f) throws Exception {
    return f.get(60, TimeUnit.SECONDS);
  }

  @Test
  void blockAndDisconnectGoToTheOwnerAndEndItsConnections() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b");
        Publisher p = publisher(cluster.map())) {
      for (String nodeId : List.of("a", "b")) {
        String user = userOn(cluster.map(), nodeId, 0);
        URI url = cluster.publicUrl(nodeId);
        String token = MINTER.mint(user, TTL);
        try (SseTestClient s = SseTestClient.open(url, token)) {
          UserAccess d = await(p.disconnect(user, "maintenance"));
          assertEquals(new UserAccess(user, nodeId, 1, null, null, List.of()), d);
          JsonNode e = s.awaitEvent("disconnect");
          assertEquals("disconnected", e.get("code").asText());
          assertEquals("maintenance", e.get("reason").asText());
        }
        Instant until = Instant.now().plus(Duration.ofMinutes(10)).truncatedTo(ChronoUnit.MILLIS);
        try (SseTestClient s = SseTestClient.open(url, token)) {
          UserAccess b = await(p.block(user, until, null));
          assertEquals(1, b.disconnected());
          assertEquals(until, b.blockedUntil());
          assertEquals("user_blocked", s.awaitEvent("disconnect").get("code").asText());
        }
        RawHttp.Response refused = SseTestClient.attempt(url, token);
        assertEquals(403, refused.status());
        assertTrue(refused.body().contains("user_blocked"), refused.body());
        assertEquals(until, await(p.access(user)).blockedUntil());

        assertNull(await(p.unblock(user)).blockedUntil());
        SseTestClient.open(url, token).close();
      }
    }
  }

  @Test
  void revokedTokensAreRefusedAndTheirConnectionsEnded() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b");
        Publisher p = publisher(cluster.map())) {
      String user = userOn(cluster.map(), "b", 0);
      URI url = cluster.publicUrl("b");
      String phone = MINTER.mint(user, TTL, Set.of(), "phone");
      String laptop = MINTER.mint(user, TTL, Set.of(), "laptop");
      try (SseTestClient onPhone = SseTestClient.open(url, phone);
          SseTestClient onLaptop = SseTestClient.open(url, laptop)) {
        UserAccess r = await(p.revokeToken(user, "phone", Instant.now().plus(TTL)));
        assertEquals(1, r.disconnected());
        assertEquals(List.of("phone"), r.revokedJtis());
        assertEquals("token_revoked", onPhone.awaitEvent("disconnect").get("code").asText());
        assertEquals(401, SseTestClient.attempt(url, phone).status());

        // Every token minted before now (whole seconds of iat) is refused from here on.
        Instant cut = Instant.now().plusSeconds(1);
        assertEquals(1, await(p.revokeTokensIssuedBefore(user, cut)).disconnected());
        assertEquals("token_revoked", onLaptop.awaitEvent("disconnect").get("code").asText());
        assertEquals(401, SseTestClient.attempt(url, laptop).status());
        String later =
            MINTER
                .withClock(
                    java.time.Clock.offset(java.time.Clock.systemUTC(), Duration.ofSeconds(2)))
                .mint(user, TTL);
        SseTestClient.open(url, later).close();
      }
    }
  }

  @Test
  void badArgumentsFailFastAndNodeRefusalsFailTheFuture() throws Exception {
    try (TestCluster cluster = new TestCluster("a");
        Publisher p = publisher(cluster.map())) {
      assertThrows(IllegalArgumentException.class, () -> p.revokeToken("alice", "", null));
      assertThrows(NullPointerException.class, () -> p.block("alice", null, null));
      assertThrows(IllegalArgumentException.class, () -> p.disconnect("alice", "x".repeat(257)));
      ExecutionException past =
          assertThrows(
              ExecutionException.class,
              () -> await(p.block("alice", Instant.now().minusSeconds(1), null)));
      NodeRequestException e = (NodeRequestException) past.getCause();
      assertEquals(400, e.status());
      assertEquals("invalid_field", e.code());
    }
  }
}
