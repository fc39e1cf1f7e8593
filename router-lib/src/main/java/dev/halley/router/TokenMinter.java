package dev.halley.router;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.halley.router.internal.Ids;
import java.nio.charset.StandardCharsets;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateKey;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * Mints the connection tokens (JWTs) that nodes verify: {@code sub} = user ID, {@code exp}, {@code
 * iat} and {@code channels}.
 *
 * <pre>{@code
 * TokenMinter minter = TokenMinter.hs256(System.getenv("HALLEY_TOKEN_SECRET"));  // nodes share it
 * // or: TokenMinter.es256(ecPrivateKey)  (nodes hold only the public key)
 * String token = minter.mint("alice", Duration.ofMinutes(10), Set.of("room:1"));
 * }</pre>
 *
 * <p>Signing uses Nimbus JOSE + JWT, the library the node verifies with. HS256 needs a secret of at
 * least 32 bytes (256 bits); ES256 a P-256 key; RS256 a key of at least 2048 bits. Keep TTLs short:
 * a query-string token can land in access logs; the browser client asks for a new one when it
 * expires.
 *
 * <p>Immutable and thread-safe; {@link #withClock} and {@link #withKeyId} return copies.
 */
public final class TokenMinter {
  private final JWSSigner signer;
  private final JWSAlgorithm algorithm;
  private final Clock clock;
  private final String keyId;

  private TokenMinter(JWSSigner signer, JWSAlgorithm algorithm, Clock clock, String keyId) {
    this.signer = signer;
    this.algorithm = algorithm;
    this.clock = clock;
    this.keyId = keyId;
  }

  /** HS256 with a shared secret (UTF-8 bytes of {@code secret}, at least 32 bytes). */
  public static TokenMinter hs256(String secret) {
    Objects.requireNonNull(secret, "secret");
    return hs256(secret.getBytes(StandardCharsets.UTF_8));
  }

  /** HS256 with a shared secret of at least 32 bytes. */
  public static TokenMinter hs256(byte[] secret) {
    Objects.requireNonNull(secret, "secret");
    if (secret.length < 32) {
      throw new IllegalArgumentException(
          "HS256 secret must be at least 32 bytes: " + secret.length);
    }
    try {
      return new TokenMinter(
          new MACSigner(secret.clone()), JWSAlgorithm.HS256, Clock.systemUTC(), null);
    } catch (JOSEException e) {
      throw new IllegalArgumentException("unusable HS256 secret: " + e.getMessage(), e);
    }
  }

  /** ES256 (ECDSA on P-256) with the private key; nodes verify with the public key. */
  public static TokenMinter es256(ECPrivateKey key) {
    Objects.requireNonNull(key, "key");
    try {
      return new TokenMinter(new ECDSASigner(key), JWSAlgorithm.ES256, Clock.systemUTC(), null);
    } catch (JOSEException e) {
      throw new IllegalArgumentException("unusable ES256 key: " + e.getMessage(), e);
    }
  }

  /** RS256 (RSA PKCS#1 v1.5 with SHA-256) with the private key; nodes hold the public key. */
  public static TokenMinter rs256(RSAPrivateKey key) {
    Objects.requireNonNull(key, "key");
    if (key.getModulus().bitLength() < 2048) {
      throw new IllegalArgumentException(
          "RS256 key must be at least 2048 bits: " + key.getModulus().bitLength());
    }
    return new TokenMinter(new RSASSASigner(key), JWSAlgorithm.RS256, Clock.systemUTC(), null);
  }

  /** A copy that reads the time from {@code clock} (for {@code iat} and {@code exp}). */
  public TokenMinter withClock(Clock clock) {
    return new TokenMinter(signer, algorithm, Objects.requireNonNull(clock, "clock"), keyId);
  }

  /** A copy that puts {@code kid} in the JWT header (for key rotation; default: none). */
  public TokenMinter withKeyId(String kid) {
    return new TokenMinter(signer, algorithm, clock, Objects.requireNonNull(kid, "kid"));
  }

  /** A token for {@code user} with no channels, valid for {@code ttl} (exp is in whole seconds). */
  public String mint(String user, Duration ttl) {
    return mint(user, ttl, Set.of());
  }

  /**
   * A token for {@code user}, valid for {@code ttl} from now, that subscribes the connection to
   * {@code channels}.
   *
   * @throws IllegalArgumentException on a bad user ID or channel name, or a ttl under one second
   */
  public String mint(String user, Duration ttl, Collection<String> channels) {
    return mint(user, ttl, channels, null);
  }

  /**
   * {@link #mint(String, Duration, Collection)} with a token ID ({@code jti}, 1..256 characters,
   * e.g. a device or session ID) that {@link Publisher#revokeToken} can revoke.
   */
  public String mint(String user, Duration ttl, Collection<String> channels, String jti) {
    if (jti != null && (jti.isEmpty() || jti.length() > 256)) {
      throw new IllegalArgumentException("jti must have 1..256 characters: " + jti.length());
    }
    Ids.checkUser(user);
    Objects.requireNonNull(ttl, "ttl");
    Objects.requireNonNull(channels, "channels");
    if (ttl.compareTo(Duration.ofSeconds(1)) < 0) {
      throw new IllegalArgumentException("ttl must be >= 1 second: " + ttl);
    }
    Set<String> sorted = new TreeSet<>();
    for (String channel : channels) {
      sorted.add(Ids.checkChannel(channel));
    }
    Instant now = clock.instant();
    JWTClaimsSet.Builder claims =
        new JWTClaimsSet.Builder()
            .subject(user)
            .issueTime(Date.from(now))
            .expirationTime(Date.from(now.plus(ttl)));
    if (!sorted.isEmpty()) {
      claims.claim("channels", List.copyOf(sorted));
    }
    if (jti != null) {
      claims.jwtID(jti);
    }
    JWSHeader.Builder header = new JWSHeader.Builder(algorithm).type(JOSEObjectType.JWT);
    if (keyId != null) {
      header.keyID(keyId);
    }
    SignedJWT jwt = new SignedJWT(header.build(), claims.build());
    try {
      jwt.sign(signer);
    } catch (JOSEException e) {
      throw new IllegalStateException("JWT signing failed: " + e.getMessage(), e);
    }
    return jwt.serialize();
  }

  @Override
  public String toString() {
    return "TokenMinter{" + algorithm + (keyId != null ? ", kid=" + keyId : "") + "}";
  }
}
