package dev.halley.node.http;

import io.undertow.util.HeaderMap;
import io.undertow.util.HttpString;
import java.util.List;
import java.util.Set;

/**
 * The public listener's CORS rule, in one place for {@link CorsHandler} and the 503 of {@link
 * OverCapacity}: an {@code Origin} is allowed when the allow-list has {@code "*"} or names it, or
 * when it is the node's own origin ({@code scheme://Host}); an allowed origin is echoed in {@code
 * Access-Control-Allow-Origin} with {@code Vary: Origin}. Immutable.
 */
public final class CorsPolicy {
  static final HttpString ALLOW_ORIGIN = new HttpString("Access-Control-Allow-Origin");
  static final HttpString VARY = new HttpString("Vary");

  private final boolean any;
  private final Set<String> allowed;

  public CorsPolicy(List<String> allowedOrigins) {
    this.any = allowedOrigins.contains("*");
    this.allowed = Set.copyOf(allowedOrigins);
  }

  /** Whether a request from {@code origin} to {@code scheme://host} may read the answer. */
  boolean allows(String origin, String scheme, String host) {
    return any
        || allowed.contains(origin)
        || (host != null && origin.equals(scheme + "://" + host));
  }

  /** The headers an allowed {@code origin} gets on every answer. */
  void addHeaders(HeaderMap headers, String origin) {
    headers.put(ALLOW_ORIGIN, origin);
    headers.put(VARY, "Origin");
  }

  /** The same headers as raw HTTP/1.1 header lines (each ending in CRLF). */
  String headerLines(String origin) {
    return ALLOW_ORIGIN + ": " + origin + "\r\n" + VARY + ": Origin\r\n";
  }

  @Override
  public String toString() {
    return any ? "*" : allowed.toString();
  }
}
