package dev.halley.example.chat;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The chat's session: a cookie that carries the user name and an expiry, signed with HMAC-SHA256
 * (the JDK's {@link Mac}), so a session needs no server-side state and survives a restart of the
 * chat server that holds the same key.
 *
 * <pre>{@code
 * SessionCookie sessions = new SessionCookie(key, Duration.ofDays(1));
 * String value = sessions.issue("alice", Instant.now());   // alice.1767225600.<signature>
 * String user = sessions.verify(value, Instant.now());     // "alice", or null
 * }</pre>
 *
 * <p>Value: {@code name.expiresEpochSeconds.base64url(hmac(name.expiresEpochSeconds))}; names are
 * [A-Za-z0-9_.-], so the last two dots separate the parts. Logging out removes the cookie from the
 * browser; a copied cookie stays valid until it expires (the example's trade-off for keeping no
 * state). Thread-safe: a {@link Mac} is made per call.
 */
final class SessionCookie {
  private static final String ALGORITHM = "HmacSHA256";

  private final SecretKeySpec key;
  private final Duration lifetime;

  SessionCookie(byte[] key, Duration lifetime) {
    if (key.length < 32) {
      throw new IllegalArgumentException("session key must be >= 32 bytes: " + key.length);
    }
    this.key = new SecretKeySpec(key.clone(), ALGORITHM);
    this.lifetime = lifetime;
  }

  /** The session lifetime (the cookie's Max-Age). */
  Duration lifetime() {
    return lifetime;
  }

  String issue(String user, Instant now) {
    String payload = user + "." + now.plus(lifetime).getEpochSecond();
    return payload + "." + sign(payload);
  }

  /** The user of a valid, unexpired value; null for anything else. */
  String verify(String value, Instant now) {
    if (value == null) {
      return null;
    }
    int sig = value.lastIndexOf('.');
    int exp = sig < 0 ? -1 : value.lastIndexOf('.', sig - 1);
    if (exp <= 0) {
      return null;
    }
    String payload = value.substring(0, sig);
    byte[] expected = sign(payload).getBytes(StandardCharsets.US_ASCII);
    byte[] given = value.substring(sig + 1).getBytes(StandardCharsets.US_ASCII);
    if (!MessageDigest.isEqual(expected, given)) {
      return null;
    }
    long expires;
    try {
      expires = Long.parseLong(value.substring(exp + 1, sig));
    } catch (NumberFormatException e) {
      return null;
    }
    return now.getEpochSecond() < expires ? value.substring(0, exp) : null;
  }

  private String sign(String payload) {
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(key);
      return Base64.getUrlEncoder()
          .withoutPadding()
          .encodeToString(mac.doFinal(payload.getBytes(StandardCharsets.UTF_8)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
    }
  }

  /** A key derived from a secret and a purpose (HMAC-SHA256 of the purpose under the secret). */
  static byte[] deriveKey(String secret, String purpose) {
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), ALGORITHM));
      return mac.doFinal(purpose.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
    }
  }
}
