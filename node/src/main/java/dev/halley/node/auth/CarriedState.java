package dev.halley.node.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.nio.charset.StandardCharsets;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the old owner of a moving user carries to its new owner through the client (issue 14,
 * docs/protocol.md "Carried state"): the user's API subscriptions and access entries (block, {@code
 * issuedBefore} revocation, revoked {@code jti}s), as a JWS (HS256, signed with {@code
 * tokenHmacSecret}, the secret every node already shares to verify tokens), bound to the user, the
 * map version it was made for and an expiry. Nodes never talk to each other; the client hands it
 * back verbatim, appended to its {@code handoff}.
 *
 * <pre>{@code
 * String jws = state.sign(secret);                                   // old owner, at activation
 * CarriedState s = CarriedState.verify(jws, secret, user, version, nowMs); // new owner
 * }</pre>
 *
 * <p>{@link #over}: the user had more entries than {@code handoffCarryMaxEntries}; nothing is
 * listed and the new owner answers the handoff with an honest {@code reset} (never a silent
 * truncation). Immutable; thread-safe.
 */
public record CarriedState(
    String user,
    int mapVersion,
    long expiresAtMs,
    boolean over,
    List<String> channels,
    long blockedUntilMs,
    String blockReason,
    long revokedBeforeMs,
    long revokedBeforeKeepUntilMs,
    Map<String, Long> jtis) {

  /** Why a carried state was refused. */
  public static final class Refused extends Exception {
    /** True for a bad signature or another user's state (400); false for a stale one (reset). */
    public final boolean invalid;

    Refused(boolean invalid, String message) {
      super(message);
      this.invalid = invalid;
    }
  }

  public CarriedState {
    channels = List.copyOf(channels);
    jtis = Map.copyOf(jtis);
  }

  /** Carried entries: channels, the block, the {@code issuedBefore} revocation and each jti. */
  public int entries() {
    return channels.size()
        + (blockedUntilMs != 0 ? 1 : 0)
        + (revokedBeforeMs != Long.MIN_VALUE ? 1 : 0)
        + jtis.size();
  }

  /** The compact JWS of this state, signed with {@code secret} (HS256). */
  public String sign(String secret) {
    JWTClaimsSet.Builder b =
        new JWTClaimsSet.Builder()
            .subject(user)
            .expirationTime(new Date(expiresAtMs))
            .claim("mv", mapVersion);
    if (over) {
      b.claim("over", true);
    }
    if (!channels.isEmpty()) {
      b.claim("ch", channels);
    }
    if (blockedUntilMs != 0) {
      b.claim("bu", blockedUntilMs);
      if (blockReason != null) {
        b.claim("br", blockReason);
      }
    }
    if (revokedBeforeMs != Long.MIN_VALUE) {
      b.claim("rb", revokedBeforeMs).claim("rbk", revokedBeforeKeepUntilMs);
    }
    if (!jtis.isEmpty()) {
      b.claim("jt", new TreeMap<>(jtis));
    }
    SignedJWT jwt = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), b.build());
    try {
      jwt.sign(new MACSigner(secret.getBytes(StandardCharsets.UTF_8)));
    } catch (JOSEException e) {
      throw new IllegalStateException("cannot sign the carried state: " + e.getMessage(), e);
    }
    return jwt.serialize();
  }

  /**
   * Verifies {@code jws} for {@code user} and the map version {@code mapVersion} at {@code nowMs}.
   *
   * @throws Refused invalid (not a JWS, not HS256, bad signature, another user) or stale (expired,
   *     made for another map version)
   */
  public static CarriedState verify(
      String jws, String secret, String user, int mapVersion, long nowMs) throws Refused {
    JWTClaimsSet c;
    try {
      SignedJWT jwt = SignedJWT.parse(jws);
      if (!JWSAlgorithm.HS256.equals(jwt.getHeader().getAlgorithm())
          || !jwt.verify(new MACVerifier(secret.getBytes(StandardCharsets.UTF_8)))) {
        throw new Refused(true, "the carried state's signature is not valid");
      }
      c = jwt.getJWTClaimsSet();
    } catch (ParseException | JOSEException e) {
      throw new Refused(true, "the carried state is not a JWS of this cluster");
    }
    try {
      if (!user.equals(c.getSubject())) {
        throw new Refused(true, "the carried state is another user's");
      }
      Date exp = c.getExpirationTime();
      Long mv = c.getLongClaim("mv");
      if (exp == null || mv == null) {
        throw new Refused(true, "the carried state lacks exp or mv");
      }
      if (exp.getTime() <= nowMs) {
        throw new Refused(false, "the carried state expired at " + exp.getTime());
      }
      if (mv != mapVersion) {
        throw new Refused(
            false, "the carried state was made for map version " + mv + ", not " + mapVersion);
      }
      List<String> channels = c.getStringListClaim("ch");
      Map<String, Object> jt = c.getJSONObjectClaim("jt");
      Map<String, Long> jtis = new TreeMap<>();
      if (jt != null) {
        for (var e : jt.entrySet()) {
          jtis.put(e.getKey(), ((Number) e.getValue()).longValue());
        }
      }
      Long bu = c.getLongClaim("bu");
      Long rb = c.getLongClaim("rb");
      Long rbk = c.getLongClaim("rbk");
      Boolean over = c.getBooleanClaim("over");
      return new CarriedState(
          user,
          mv.intValue(),
          exp.getTime(),
          over != null && over,
          channels == null ? List.of() : new ArrayList<>(channels),
          bu == null ? 0 : bu,
          c.getStringClaim("br"),
          rb == null ? Long.MIN_VALUE : rb,
          rbk == null ? 0 : rbk,
          jtis);
    } catch (ParseException | ClassCastException e) {
      throw new Refused(true, "the carried state's claims are malformed");
    }
  }
}
