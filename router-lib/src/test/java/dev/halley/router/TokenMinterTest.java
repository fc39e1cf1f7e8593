package dev.halley.router;

import static dev.halley.router.TestCluster.userOn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.cluster.ClusterMap;
import dev.halley.testing.RawHttp;
import dev.halley.testing.SseTestClient;
import java.net.URI;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Tokens minted by router-lib, presented to a real node. */
class TokenMinterTest {
  private static final Duration TTL = Duration.ofMinutes(5);
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void hs256TokenIsAcceptedAndExpiredOrForeignTokensAreRejected() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b")) {
      ClusterMap m = cluster.map();
      String user = userOn(m, "b", 0);
      TokenMinter minter = TokenMinter.hs256(TestCluster.SECRET);
      try (Publisher p =
          Publisher.builder()
              .mapSource(MapSource.of(() -> m))
              .apiKey(TestCluster.API_KEY)
              .build()) {
        ConnectInfo ci = p.connectInfo(user, minter, TTL, Set.of("room:1"));

        assertEquals("b", ci.node());
        assertEquals(cluster.publicUrl("b").toString(), ci.url());
        assertEquals(m.version(), ci.mapVersion());
        assertFalse(ci.mapJson().contains(cluster.internalUrl("a").toString()), ci.mapJson());
        JsonNode json = JSON.readTree(ci.toJson());
        assertEquals(2, json.path("map").path("nodes").size());
        assertFalse(ci.toString().contains(ci.token()), "toString leaks the token");
        try (SseTestClient stream = SseTestClient.open(URI.create(ci.url()), ci.token())) {
          p.publishToChannel("room:1", "token channels work").get();
          assertEquals("token channels work", stream.awaitData().asText());
        }

        String expired =
            minter
                .withClock(Clock.offset(Clock.systemUTC(), Duration.ofHours(-1)))
                .mint(user, Duration.ofMinutes(1));
        assertRejected(cluster.publicUrl("b"), expired, "token_expired");

        String foreign =
            TokenMinter.hs256("some-other-secret-0123456789-0123456789").mint(user, TTL);
        assertRejected(cluster.publicUrl("b"), foreign, "token_invalid");
      }
    }
  }

  @Test
  void es256TokenIsAcceptedByAPublicKeyNodeAndOtherKeysAreRejected() throws Exception {
    KeyPairGenerator ec = KeyPairGenerator.getInstance("EC");
    ec.initialize(new ECGenParameterSpec("secp256r1"));
    KeyPair keys = ec.generateKeyPair();
    String pem =
        "-----BEGIN PUBLIC KEY-----\n"
            + Base64.getMimeEncoder().encodeToString(keys.getPublic().getEncoded())
            + "\n-----END PUBLIC KEY-----\n";
    try (TestCluster cluster = new TestCluster(b -> b.tokenPublicKeyPem(pem), "a")) {
      URI url = cluster.publicUrl("a");
      String user = "alice";
      TokenMinter minter = TokenMinter.es256((ECPrivateKey) keys.getPrivate());

      try (SseTestClient stream = SseTestClient.open(url, minter.mint(user, TTL))) {
        // the hello arrived: accepted
      }

      KeyPair otherEc = ec.generateKeyPair();
      assertRejected(
          url,
          TokenMinter.es256((ECPrivateKey) otherEc.getPrivate()).mint(user, TTL),
          "token_invalid");
      KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA");
      rsa.initialize(2048);
      assertRejected(
          url,
          TokenMinter.rs256((RSAPrivateKey) rsa.generateKeyPair().getPrivate()).mint(user, TTL),
          "token_invalid");
      assertRejected(url, TokenMinter.hs256(TestCluster.SECRET).mint(user, TTL), "token_invalid");
    }
  }

  @Test
  void badMinterInputFailsFastNamingTheValue() {
    IllegalArgumentException shortSecret =
        assertThrows(IllegalArgumentException.class, () -> TokenMinter.hs256("too-short"));
    assertTrue(shortSecret.getMessage().contains("32 bytes"), shortSecret.getMessage());
    TokenMinter minter = TokenMinter.hs256(TestCluster.SECRET);
    assertThrows(IllegalArgumentException.class, () -> minter.mint("", TTL));
    assertThrows(
        IllegalArgumentException.class, () -> minter.mint("alice", TTL, Set.of("bad channel")));
    assertThrows(IllegalArgumentException.class, () -> minter.mint("alice", Duration.ZERO));
  }

  private static void assertRejected(URI url, String token, String code) throws Exception {
    RawHttp.Response response = SseTestClient.attempt(url, token);
    assertEquals(401, response.status(), response.body());
    assertEquals(code, JSON.readTree(response.body()).path("error").asText(), response.body());
  }
}
