package dev.halley.node.admission;

import dev.halley.node.auth.TokenHandler;
import dev.halley.node.metrics.NodeMetrics;
import io.undertow.server.ExchangeCompletionListener;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.ServerConnection;
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
    exchange.addExchangeCompleteListener(new Admitted(lease, metrics, transport));
    next.handleRequest(exchange);
  }

  /**
   * Releases the lease and the gauge once, when the connection ends: one object per connection for
   * both listeners it needs (issue 12).
   */
  private record Admitted(ConnectionLimits.Lease lease, NodeMetrics metrics, String transport)
      implements ExchangeCompletionListener, ServerConnection.CloseListener {
    @Override
    public void exchangeEvent(HttpServerExchange ex, NextListener nextListener) {
      // A WebSocket lives on after its upgrade exchange completes (101): release at TCP close.
      if (ex.getStatusCode() == 101) {
        ex.getConnection().addCloseListener(this);
        if (!ex.getConnection().isOpen()) {
          release();
        }
      } else {
        release();
      }
      nextListener.proceed();
    }

    @Override
    public void closed(ServerConnection connection) {
      release();
    }

    private void release() {
      if (lease.release()) {
        metrics.connectionClosed(transport);
      }
    }
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
