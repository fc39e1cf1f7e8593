package dev.halley.node.admission;

import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.net.InetSocketAddress;
import java.util.Objects;

/**
 * The first check of a browser connection attempt, before its token is verified (cheap): the node's
 * lifecycle (draining, not ready), its total connections, and the client address's rate, then
 * {@code next}.
 *
 * <pre>{@code
 * HttpHandler ws = new AdmissionHandler(limits, rateLimitLoopback, new TokenHandler(tokens, ...));
 * }</pre>
 *
 * <p>Throws {@code HttpError} 503 {@code draining}/{@code not_ready}/{@code too_many_connections}
 * or 429 {@code rate_limited} (the listener's error handler answers it). IO thread, never blocks.
 */
public final class AdmissionHandler implements HttpHandler {
  private final ConnectionLimits limits;
  private final boolean rateLimitLoopback;
  private final HttpHandler next;

  /**
   * @param rateLimitLoopback whether loopback clients count against {@code connectRatePerSecond}
   */
  public AdmissionHandler(ConnectionLimits limits, boolean rateLimitLoopback, HttpHandler next) {
    this.limits = Objects.requireNonNull(limits, "limits");
    this.rateLimitLoopback = rateLimitLoopback;
    this.next = Objects.requireNonNull(next, "next");
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    InetSocketAddress a = exchange.getSourceAddress();
    boolean loopback = a != null && a.getAddress() != null && a.getAddress().isLoopbackAddress();
    String address = a == null || a.getAddress() == null ? "" : a.getAddress().getHostAddress();
    limits.checkNew(address, rateLimitLoopback || !loopback);
    next.handleRequest(exchange);
  }

  @Override
  public String toString() {
    return "AdmissionHandler(lifecycle, maxConnections, connectRatePerSecond) -> " + next;
  }
}
