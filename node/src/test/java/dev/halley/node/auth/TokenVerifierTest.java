package dev.halley.node.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import dev.halley.node.wire.HttpError;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Token checks: algorithms, signatures, expiry and claims. */
class TokenVerifierTest {
  private static final String SECRET = "0123456789abcdef0123456789abcdef-secret";
  private static final Instant NOW = Instant.parse("2030-01-01T00:00:00Z");
  private static final Clock CLOCK = Clock.fixed(NOW, ZoneOffset.UTC);
  private final TokenVerifier hmac = TokenVerifier.hmac(SECRET, CLOCK);

  private static JWTClaimsSet.Builder claims(String sub, Instant exp) {
    JWTClaimsSet.Builder b = new JWTClaimsSet.Builder().subject(sub);
    if (exp != null) {
      b.expirationTime(Date.from(exp));
    }
    return b;
  }

  private static String sign(JWSAlgorithm alg, JWSSigner signer, JWTClaimsSet claims)
      throws Exception {
    SignedJWT jwt =
        new SignedJWT(new JWSHeader.Builder(alg).type(JOSEObjectType.JWT).build(), claims);
    jwt.sign(signer);
    return jwt.serialize();
  }

  private static String hs256(JWTClaimsSet claims) throws Exception {
    return sign(JWSAlgorithm.HS256, new MACSigner(SECRET.getBytes(StandardCharsets.UTF_8)), claims);
  }

  private static String code(Runnable r) {
    return assertThrows(HttpError.class, r::run).code();
  }

  @Test
  void acceptsAValidHs256TokenWithChannels() throws Exception {
    String t =
        hs256(
            claims("alice", NOW.plusSeconds(60))
                .claim("channels", List.of("room:1", "a/b"))
                .build());
    TokenVerifier.Principal p = hmac.verify(t);
    assertEquals("alice", p.user());
    assertEquals(Set.of("room:1", "a/b"), p.channels());
    assertEquals(NOW.plusSeconds(60).toEpochMilli(), p.expiresAtMs());
  }

  @Test
  void leewayExtendsTheTokenAtConnectAndItsValidUntil() throws Exception {
    String justExpired = hs256(claims("alice", NOW.minusSeconds(2)).build());
    assertEquals("token_expired", code(() -> hmac.verify(justExpired)));
    TokenVerifier lenient = hmac.withLeeway(5_000);
    TokenVerifier.Principal p = lenient.verify(justExpired);
    assertEquals(NOW.minusSeconds(2).toEpochMilli(), p.expiresAtMs());
    assertEquals(NOW.plusSeconds(3).toEpochMilli(), p.validUntilMs());
    String longExpired = hs256(claims("alice", NOW.minusSeconds(5)).build());
    assertEquals("token_expired", code(() -> lenient.verify(longExpired)));
    assertEquals(
        NOW.plusSeconds(60).toEpochMilli(),
        hmac.verify(hs256(claims("alice", NOW.plusSeconds(60)).build())).validUntilMs());
    assertThrows(IllegalArgumentException.class, () -> hmac.withLeeway(-1));
  }

  @Test
  void missingMalformedForgedAndExpiredTokensAreRejectedWithTheirCodes() throws Exception {
    assertEquals("token_missing", code(() -> hmac.verify(null)));
    assertEquals("token_missing", code(() -> hmac.verify("")));
    assertEquals("token_invalid", code(() -> hmac.verify("abc.def")));
    String forged =
        sign(
            JWSAlgorithm.HS256,
            new MACSigner("another-secret-of-at-least-32-bytes!!".getBytes(StandardCharsets.UTF_8)),
            claims("alice", NOW.plusSeconds(60)).build());
    assertEquals("token_invalid", code(() -> hmac.verify(forged)));
    String expired = hs256(claims("alice", NOW).build());
    assertEquals("token_expired", code(() -> hmac.verify(expired)));
    String noExp = hs256(claims("alice", null).build());
    assertEquals("token_invalid", code(() -> hmac.verify(noExp)));
    String noSub = hs256(claims(null, NOW.plusSeconds(60)).build());
    assertEquals("token_invalid", code(() -> hmac.verify(noSub)));
    String badChannel =
        hs256(claims("alice", NOW.plusSeconds(60)).claim("channels", List.of("no spaces")).build());
    assertEquals("token_invalid", code(() -> hmac.verify(badChannel)));
    String channelsNotArray =
        hs256(claims("alice", NOW.plusSeconds(60)).claim("channels", "room").build());
    assertEquals("token_invalid", code(() -> hmac.verify(channelsNotArray)));
  }

  @Test
  void tamperedPayloadIsRejected() throws Exception {
    String t = hs256(claims("alice", NOW.plusSeconds(60)).build());
    String[] parts = t.split("\\.");
    String evil = Base64URL.encode("{\"sub\":\"mallory\",\"exp\":1999999999}").toString();
    assertEquals("token_invalid", code(() -> hmac.verify(parts[0] + "." + evil + "." + parts[2])));
  }

  /** A clock the test moves. */
  private static final class MovingClock extends Clock {
    private Instant now = NOW;

    void advance(long ms) {
      now = now.plusMillis(ms);
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }

  @Test
  void aCachedTokenIsAnsweredUntilItsValidityEndsThenExpiresAsBefore() throws Exception {
    MovingClock clock = new MovingClock();
    TokenVerifier cached = TokenVerifier.hmac(SECRET, clock).withLeeway(1_000).withCache(1 << 20);
    String t = hs256(claims("alice", NOW.plusSeconds(10)).claim("channels", List.of("r")).build());
    TokenVerifier.Principal first = cached.verify(t);
    assertEquals(1, cached.cachedTokens());
    assertTrue(first == cached.verify(t), "the second use is answered from the cache");
    clock.advance(10_999);
    assertEquals(first, cached.verify(t)); // within exp + leeway
    clock.advance(1);
    HttpError e = assertThrows(HttpError.class, () -> cached.verify(t));
    assertEquals("token_expired", e.code());
    assertEquals("the token expired at " + NOW.plusSeconds(10), e.getMessage());
    assertEquals("token_expired", code(() -> cached.verify(t)));
  }

  @Test
  void theCacheAnswersOnlyTheExactTokenThatVerified() throws Exception {
    TokenVerifier cached = hmac.withCache(1 << 20);
    String t = hs256(claims("alice", NOW.plusSeconds(60)).build());
    cached.verify(t);
    String[] parts = t.split("\\.");
    String evil = Base64URL.encode("{\"sub\":\"mallory\",\"exp\":1999999999}").toString();
    assertEquals(
        "token_invalid", code(() -> cached.verify(parts[0] + "." + evil + "." + parts[2])));
    assertEquals("token_invalid", code(() -> cached.verify(t + "x")));
    String forged =
        sign(
            JWSAlgorithm.HS256,
            new MACSigner("another-secret-of-at-least-32-bytes!!".getBytes(StandardCharsets.UTF_8)),
            claims("alice", NOW.plusSeconds(60)).build());
    assertEquals("token_invalid", code(() -> cached.verify(forged)));
    assertEquals("token_invalid", code(() -> cached.verify(forged)));
    assertEquals("token_missing", code(() -> cached.verify(null)));
    assertEquals("token_missing", code(() -> cached.verify("")));
    assertEquals(1, cached.cachedTokens(), "only the token that verified is kept");
  }

  @Test
  void theCacheIsBoundedInBytesAndZeroKeepsNone() throws Exception {
    String one = hs256(claims("u0", NOW.plusSeconds(60)).build());
    long perToken = one.length() + TokenVerifier.CACHE_ENTRY_OVERHEAD_BYTES;
    TokenVerifier cached = hmac.withCache(perToken * 10);
    for (int i = 0; i < 100; i++) {
      String t = hs256(claims("u" + i, NOW.plusSeconds(60)).build());
      assertEquals("u" + i, cached.verify(t).user());
    }
    assertTrue(
        cached.cachedTokens() <= 10, "at most 10 tokens of this size: " + cached.cachedTokens());
    TokenVerifier none = hmac.withCache(0);
    assertEquals("u0", none.verify(one).user());
    assertEquals(0, none.cachedTokens());
    assertThrows(IllegalArgumentException.class, () -> hmac.withCache(-1));
  }

  /** A connection's last token: the same token is answered as it was, until its validity ends. */
  @Test
  void theLastTokenOfAConnectionIsAnsweredOnlyWhileItIsTheSameAndValid() throws Exception {
    MovingClock clock = new MovingClock();
    TokenVerifier cached = TokenVerifier.hmac(SECRET, clock).withLeeway(1_000).withCache(1 << 20);
    assertTrue(cached.keepsTokens());
    String t = hs256(claims("alice", NOW.plusSeconds(10)).build());
    TokenVerifier.Verified first = cached.verify(t, null);
    assertEquals("alice", first.principal().user());
    assertEquals(TokenVerifier.TokenKey.of(t), first.token(), "the connection keeps its SHA-256");
    assertTrue(first == cached.verify(new String(t.toCharArray()), first), "an equal token");
    // Another token on the same connection is verified as any token is.
    String[] parts = t.split("\\.");
    String evil = Base64URL.encode("{\"sub\":\"mallory\",\"exp\":1999999999}").toString();
    assertEquals(
        "token_invalid", code(() -> cached.verify(parts[0] + "." + evil + "." + parts[2], first)));
    assertEquals("token_invalid", code(() -> cached.verify(t + "x", first)));
    assertEquals("token_missing", code(() -> cached.verify(null, first)));
    String bob = hs256(claims("bob", NOW.plusSeconds(60)).build());
    assertEquals("bob", cached.verify(bob, first).principal().user());
    clock.advance(10_999);
    assertTrue(first == cached.verify(t, first)); // within exp + leeway
    clock.advance(1);
    HttpError e = assertThrows(HttpError.class, () -> cached.verify(t, first));
    assertEquals("token_expired", e.code());
    assertEquals("the token expired at " + NOW.plusSeconds(10), e.getMessage());
    // Without a cache nothing is remembered: every request is verified.
    TokenVerifier none = TokenVerifier.hmac(SECRET, clock).withCache(0);
    assertEquals(false, none.keepsTokens());
    TokenVerifier.Verified once = none.verify(bob, null);
    assertTrue(once != none.verify(bob, once), "verified again");
  }

  @Test
  void algNoneIsRejected() {
    String plain = new PlainJWT(claims("alice", NOW.plusSeconds(60)).build()).serialize();
    assertEquals("token_invalid", code(() -> hmac.verify(plain)));
    assertEquals("token_invalid", code(() -> hmac.verify(plain + "c2ln")));
  }

  @Test
  void es256PublicKeyModeAcceptsItsTokensAndRejectsHs256() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    KeyPair kp = g.generateKeyPair();
    TokenVerifier es = TokenVerifier.publicKey(pem(kp), CLOCK);
    assertEquals("ES256", es.algorithm());
    String good =
        sign(
            JWSAlgorithm.ES256,
            new ECDSASigner((ECPrivateKey) kp.getPrivate()),
            claims("bob", NOW.plusSeconds(60)).build());
    assertEquals("bob", es.verify(good).user());
    // An HS256 token "signed" with the public key bytes (algorithm confusion) is refused.
    String confused =
        sign(
            JWSAlgorithm.HS256,
            new MACSigner(pem(kp).getBytes(StandardCharsets.UTF_8)),
            claims("bob", NOW.plusSeconds(60)).build());
    assertEquals("token_invalid", code(() -> es.verify(confused)));
    KeyPair other = g.generateKeyPair();
    String forged =
        sign(
            JWSAlgorithm.ES256,
            new ECDSASigner((ECPrivateKey) other.getPrivate()),
            claims("bob", NOW.plusSeconds(60)).build());
    assertEquals("token_invalid", code(() -> es.verify(forged)));
  }

  @Test
  void rs256PublicKeyMode() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(2048);
    KeyPair kp = g.generateKeyPair();
    TokenVerifier rs = TokenVerifier.publicKey(pem(kp), CLOCK);
    assertEquals("RS256", rs.algorithm());
    String good =
        sign(
            JWSAlgorithm.RS256,
            new RSASSASigner(kp.getPrivate()),
            claims("carol", NOW.plusSeconds(60)).build());
    assertEquals("carol", rs.verify(good).user());
    String expired =
        sign(
            JWSAlgorithm.RS256,
            new RSASSASigner(kp.getPrivate()),
            claims("carol", NOW.minusSeconds(1)).build());
    assertEquals("token_expired", code(() -> rs.verify(expired)));
  }

  @Test
  void badKeysFailNamingTheField() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                TokenVerifier.publicKey(
                    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", CLOCK));
    assertTrue(e.getMessage().startsWith("tokenPublicKeyPem"), e.getMessage());
    IllegalArgumentException p =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                TokenVerifier.publicKey(
                    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", CLOCK));
    assertTrue(p.getMessage().contains("private key"), p.getMessage());
  }

  static String pem(KeyPair kp) {
    return "-----BEGIN PUBLIC KEY-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
            .encodeToString(kp.getPublic().getEncoded())
        + "\n-----END PUBLIC KEY-----\n";
  }
}
