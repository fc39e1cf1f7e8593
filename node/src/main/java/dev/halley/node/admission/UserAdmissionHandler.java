package dev.halley.node.admission;

import dev.halley.node.auth.TokenHandler;
import dev.halley.node.metrics.NodeMetrics;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.util.Objects;

/**
 * Admits the verified user of a browser connection, then hands it to {@code next} (the transport):
 * takes a lease on the total and per-user connection limits (which also drives presence) and counts
 * the connection in the connections gauge, until the connection ends: the WebSocket's TCP
 * connection closes, or the SSE / long-poll / poll response completes.
 *
 * <pre>{@code
 * new TokenHandler(tokens, new OwnershipHandler(node, new UserAdmissionHandler(limits, metrics, ws)))
 * }</pre>
 *
 * <p>Needs the principal that {@link TokenHandler} attached. Throws {@code HttpError} 503 {@code
 * too_many_connections}. IO thread, never blocks.
 */
public final class UserAdmissionHandler implements HttpHandler {
  private final ConnectionLimits limits;
  private final NodeMetrics metrics;
  private final HttpHandler next;

  public UserAdmissionHandler(ConnectionLimits limits, NodeMetrics metrics, HttpHandler next) {
    this.limits = Objects.requireNonNull(limits, "limits");
    this.metrics = Objects.requireNonNull(metrics, "metrics");
    this.next = Objects.requireNonNull(next, "next");
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    ConnectionLimits.Lease lease = limits.acquire(TokenHandler.principal(exchange).user());
    String transport = transport(exchange.getRequestPath());
    metrics.connectionOpened(transport);
    Runnable release =
        () -> {
          if (!lease.isReleased()) {
            lease.close();
            metrics.connectionClosed(transport);
          }
        };
    // A WebSocket lives on after its upgrade exchange completes (101): release at TCP close.
    exchange.addExchangeCompleteListener(
        (ex, nextListener) -> {
          if (ex.getStatusCode() == 101) {
            ex.getConnection().addCloseListener(c -> release.run());
            if (!ex.getConnection().isOpen()) {
              release.run();
            }
          } else {
            release.run();
          }
          nextListener.proceed();
        });
    next.handleRequest(exchange);
  }

  /** The transport tag of a browser path. */
  static String transport(String path) {
    return switch (path) {
      case "/v1/ws" -> NodeMetrics.WEBSOCKET;
      case "/v1/sse" -> NodeMetrics.SSE;
      case "/v1/longpoll" -> NodeMetrics.LONGPOLL;
      case "/v1/poll" -> NodeMetrics.POLL;
      default -> NodeMetrics.OTHER;
    };
  }

  @Override
  public String toString() {
    return "UserAdmissionHandler(maxConnectionsPerUser, presence) -> " + next;
  }
}
