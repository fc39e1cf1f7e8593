package dev.halley.node.auth;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.crypto.ECDSAVerifier;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Ids;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.text.ParseException;
import java.time.Clock;
import java.util.Base64;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Verifies browser JWTs with nimbus-jose-jwt: exactly one algorithm is accepted (HS256 with a
 * shared secret, or ES256/RS256 with a public key), {@code sub} and {@code exp} are required, and
 * {@code channels} is an optional array of channel names. Thread-safe.
 *
 * <p>Verified tokens can be kept ({@link #withCache}): a long-poll client presents the same token
 * on every request, and parsing and checking it was most of a request's cost. The cache is keyed by
 * the whole token text (header, claims and signature) through its SHA-256 ({@link TokenKey}: 48
 * bytes kept per token instead of its text, issue 12), so only a token byte-for-byte equal to one
 * that verified is answered from it; it holds only tokens that verified, each until its validity
 * ends, and every answer from it checks that validity against the clock again. Revocations and
 * blocks are checked behind the verifier on every request, cached or not. The cache is bounded in
 * bytes (Caffeine, thread-safe; its upkeep runs on the calling thread).
 */
public final class TokenVerifier {
  /** What one cached token counts against the bound besides its text: principal and entry. */
  static final int CACHE_ENTRY_OVERHEAD_BYTES = 256;

  private final JWSAlgorithm algorithm;
  private final JWSVerifier verifier;
  private final Clock clock;
  private final long leewayMs;
  private final Cache<TokenKey, Principal> cache; // null: no cache

  private TokenVerifier(
      JWSAlgorithm algorithm,
      JWSVerifier verifier,
      Clock clock,
      long leewayMs,
      Cache<TokenKey, Principal> cache) {
    this.algorithm = algorithm;
    this.verifier = verifier;
    this.clock = clock;
    this.leewayMs = leewayMs;
    this.cache = cache;
  }

  private TokenVerifier(JWSAlgorithm algorithm, JWSVerifier verifier, Clock clock) {
    this(algorithm, verifier, clock, 0, null);
  }

  /**
   * This verifier with a clock-skew allowance: a token is valid until {@code exp + leewayMs}
   * (milliseconds, >= 0), at connect and for {@link Principal#validUntilMs()}.
   */
  public TokenVerifier withLeeway(long leewayMs) {
    if (leewayMs < 0) {
      throw new IllegalArgumentException("tokenLeewayMs must be >= 0: " + leewayMs);
    }
    return new TokenVerifier(
        algorithm, verifier, clock, leewayMs, cache == null ? null : newCache(cache));
  }

  /**
   * This verifier keeping verified tokens until their validity ends, at most {@code maxBytes} of
   * them (a token's length in characters plus {@value #CACHE_ENTRY_OVERHEAD_BYTES} each); 0: none
   * kept, every token is verified at every use.
   */
  public TokenVerifier withCache(long maxBytes) {
    if (maxBytes < 0) {
      throw new IllegalArgumentException("tokenCacheMaxBytes must be >= 0: " + maxBytes);
    }
    return new TokenVerifier(
        algorithm, verifier, clock, leewayMs, maxBytes == 0 ? null : newCache(maxBytes));
  }

  private Cache<TokenKey, Principal> newCache(Cache<TokenKey, Principal> like) {
    return newCache(like.policy().eviction().orElseThrow().getMaximum());
  }

  private Cache<TokenKey, Principal> newCache(long maxBytes) {
    return Caffeine.newBuilder()
        .executor(Runnable::run)
        .maximumWeight(maxBytes)
        .weigher((TokenKey token, Principal p) -> token.length() + CACHE_ENTRY_OVERHEAD_BYTES)
        .expireAfter(
            new Expiry<TokenKey, Principal>() {
              @Override
              public long expireAfterCreate(TokenKey token, Principal p, long now) {
                long leftMs = Math.max(0, p.validUntilMs() - clock.millis());
                return java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(leftMs);
              }

              @Override
              public long expireAfterUpdate(TokenKey token, Principal p, long now, long duration) {
                return expireAfterCreate(token, p, now);
              }

              @Override
              public long expireAfterRead(TokenKey token, Principal p, long now, long duration) {
                return duration;
              }
            })
        .build();
  }

  /** Tokens the cache holds now (0 without a cache). */
  public long cachedTokens() {
    if (cache == null) {
      return 0;
    }
    cache.cleanUp();
    return cache.estimatedSize();
  }

  /** HS256 with a shared secret of at least 32 bytes. */
  public static TokenVerifier hmac(String secret, Clock clock) {
    try {
      return new TokenVerifier(
          JWSAlgorithm.HS256, new MACVerifier(secret.getBytes(StandardCharsets.UTF_8)), clock);
    } catch (JOSEException e) {
      throw new IllegalArgumentException("tokenHmacSecret: " + e.getMessage(), e);
    }
  }

  /** ES256 (EC P-256 key) or RS256 (RSA key, >= 2048 bits), from a PEM {@code PUBLIC KEY} block. */
  public static TokenVerifier publicKey(String pem, Clock clock) {
    PublicKey key = parsePem(pem);
    try {
      if (key instanceof ECPublicKey ec) {
        if (ec.getParams().getCurve().getField().getFieldSize() != 256) {
          throw new IllegalArgumentException("tokenPublicKeyPem: the EC key must be on P-256");
        }
        return new TokenVerifier(JWSAlgorithm.ES256, new ECDSAVerifier(ec), clock);
      }
      if (key instanceof RSAPublicKey rsa) {
        if (rsa.getModulus().bitLength() < 2048) {
          throw new IllegalArgumentException("tokenPublicKeyPem: the RSA key must be >= 2048 bits");
        }
        return new TokenVerifier(JWSAlgorithm.RS256, new RSASSAVerifier(rsa), clock);
      }
    } catch (JOSEException e) {
      throw new IllegalArgumentException("tokenPublicKeyPem: " + e.getMessage(), e);
    }
    throw new IllegalArgumentException("tokenPublicKeyPem: not an EC or RSA key");
  }

  private static PublicKey parsePem(String pem) {
    String body =
        pem.replace("-----BEGIN PUBLIC KEY-----", "")
            .replace("-----END PUBLIC KEY-----", "")
            .replaceAll("\\s", "");
    if (pem.contains("PRIVATE KEY")) {
      throw new IllegalArgumentException(
          "tokenPublicKeyPem: a private key was given; nodes hold only the public key");
    }
    byte[] der;
    try {
      der = Base64.getDecoder().decode(body);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("tokenPublicKeyPem: not a PEM PUBLIC KEY block", e);
    }
    for (String type : List.of("EC", "RSA")) {
      try {
        return KeyFactory.getInstance(type).generatePublic(new X509EncodedKeySpec(der));
      } catch (GeneralSecurityException ignored) {
        // try the next key type
      }
    }
    throw new IllegalArgumentException("tokenPublicKeyPem: not an EC or RSA public key");
  }

  /** The algorithm this verifier accepts. */
  public String algorithm() {
    return algorithm.getName();
  }

  /**
   * Returns the token's principal.
   *
   * @throws HttpError 401 {@code token_missing}, {@code token_invalid} or {@code token_expired}
   */
  public Principal verify(String token) {
    if (cache == null || token == null) {
      return parseAndCheck(token);
    }
    return verify(token, TokenKey.of(token));
  }

  private Principal verify(String token, TokenKey key) {
    Principal known = cache.getIfPresent(key);
    if (known != null) {
      if (known.validUntilMs() <= clock.millis()) {
        cache.invalidate(key);
        throw expired(known.expiresAtMs());
      }
      return known;
    }
    Principal p = parseAndCheck(token);
    cache.put(key, p);
    return p;
  }

  /**
   * A token a client presented (its {@link TokenKey}; null when the verifier keeps no tokens) and
   * the principal it verified to.
   */
  public record Verified(TokenKey token, Principal principal) {}

  /**
   * What the cache and a connection keep of a token instead of its text: its SHA-256 (two tokens
   * with the same one are the same token, as far as anyone can make them) and its length in
   * characters, which the cache's bound counts.
   */
  public record TokenKey(long a, long b, long c, long d, int length) {
    private static final ThreadLocal<MessageDigest> SHA256 =
        ThreadLocal.withInitial(
            () -> {
              try {
                return MessageDigest.getInstance("SHA-256");
              } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("every JDK has SHA-256", e);
              }
            });

    static TokenKey of(String token) {
      byte[] h = SHA256.get().digest(token.getBytes(StandardCharsets.UTF_8));
      ByteBuffer b = ByteBuffer.wrap(h);
      return new TokenKey(b.getLong(), b.getLong(), b.getLong(), b.getLong(), token.length());
    }
  }

  /**
   * {@link #verify(String)} for a client that presented {@code last} before on the same connection
   * (a long-poll client sends its token with every request): the same token, still valid, is
   * answered with {@code last} itself (compared by SHA-256), without parsing, signature check or
   * cache lookup; anything else is verified as {@link #verify(String)} does. Only with the cache on
   * ({@code tokenCacheMaxBytes} > 0): a node that keeps no verified tokens verifies every request.
   */
  public Verified verify(String token, Verified last) {
    if (cache == null || token == null) {
      return new Verified(null, verify(token));
    }
    TokenKey key = TokenKey.of(token);
    if (last != null
        && last.principal().validUntilMs() > clock.millis()
        && key.equals(last.token())) {
      return last;
    }
    return new Verified(key, verify(token, key));
  }

  /** Whether verified tokens are kept ({@link #withCache} with a bound above 0). */
  public boolean keepsTokens() {
    return cache != null;
  }

  private Principal parseAndCheck(String token) {
    if (token == null || token.isEmpty()) {
      throw new HttpError(
          401, ErrorCodes.TOKEN_MISSING, "no token (Authorization: Bearer or ?token=)");
    }
    SignedJWT jwt;
    try {
      jwt = SignedJWT.parse(token);
    } catch (ParseException e) {
      throw invalid("the token is not a signed JWT");
    }
    if (!algorithm.equals(jwt.getHeader().getAlgorithm())) {
      throw invalid("the token's algorithm must be " + algorithm);
    }
    JWTClaimsSet claims;
    try {
      if (!jwt.verify(verifier)) {
        throw invalid("the token's signature does not verify");
      }
      claims = jwt.getJWTClaimsSet();
    } catch (JOSEException | ParseException | IllegalStateException e) {
      throw invalid("the token's signature does not verify");
    }
    Date exp = claims.getExpirationTime();
    if (exp == null) {
      throw invalid("the token has no exp claim");
    }
    long validUntilMs = exp.getTime() + leewayMs;
    if (validUntilMs <= clock.millis()) {
      throw expired(exp.getTime());
    }
    Date nbf = claims.getNotBeforeTime();
    if (nbf != null && nbf.getTime() - leewayMs > clock.millis()) {
      throw invalid("the token is not valid before " + nbf.toInstant());
    }
    // nimbus turns a numeric sub into a string: only a JSON string is a user ID.
    Object rawSub = jwt.getPayload().toJSONObject().get("sub");
    if (rawSub != null && !(rawSub instanceof String)) {
      throw invalid("the token's sub must be a string");
    }
    String sub = claims.getSubject();
    if (!Ids.isUserId(sub)) {
      throw invalid("the token's sub must be a user ID (1..256 UTF-8 bytes)");
    }
    Object raw = claims.getClaim("channels");
    Set<String> channels = new LinkedHashSet<>();
    if (raw != null) {
      if (!(raw instanceof List<?> list)) {
        throw invalid("the token's channels claim must be an array of channel names");
      }
      for (Object c : list) {
        if (!(c instanceof String s) || !Ids.isChannel(s)) {
          throw invalid("the token's channels claim has a bad channel name: " + c);
        }
        channels.add(s);
      }
    }
    Date iat = claims.getIssueTime();
    return new Principal(
        sub,
        Set.copyOf(channels),
        exp.getTime(),
        validUntilMs,
        claims.getJWTID(),
        iat == null ? Principal.NO_IAT : iat.getTime());
  }

  private static HttpError expired(long expMs) {
    return new HttpError(
        401,
        ErrorCodes.TOKEN_EXPIRED,
        "the token expired at " + java.time.Instant.ofEpochMilli(expMs));
  }

  private static HttpError invalid(String message) {
    return new HttpError(401, ErrorCodes.TOKEN_INVALID, message);
  }

  /**
   * A verified token: the user, the channels it grants, its {@code exp} and the instant it stops
   * being accepted ({@code exp} plus the leeway), both epoch milliseconds; its {@code jti} (null if
   * none) and {@code iat} (epoch milliseconds, {@link #NO_IAT} if none), which revocations match.
   */
  public record Principal(
      String user,
      Set<String> channels,
      long expiresAtMs,
      long validUntilMs,
      String jti,
      long issuedAtMs) {
    /** {@link #issuedAtMs()} of a token without {@code iat}. */
    public static final long NO_IAT = Long.MIN_VALUE;

    public Principal(String user, Set<String> channels, long expiresAtMs, long validUntilMs) {
      this(user, channels, expiresAtMs, validUntilMs, null, NO_IAT);
    }
  }

  @Override
  public String toString() {
    return "TokenVerifier{" + algorithm + "}";
  }
}
