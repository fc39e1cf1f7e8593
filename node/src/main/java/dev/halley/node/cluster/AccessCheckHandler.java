package dev.halley.node.cluster;

import dev.halley.node.auth.TokenHandler;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.util.Objects;

/**
 * Lets a browser connection through to {@code next} only if its user is not blocked and its token
 * not revoked ({@link AccessControl}); otherwise 403 {@code user_blocked} (with {@code until}) or
 * 401 {@code token_revoked}.
 *
 * <pre>{@code
 * new OwnershipHandler(node, new AccessCheckHandler(node.access, next))
 * }</pre>
 *
 * <p>Needs the principal that {@link TokenHandler} attached. IO thread, never blocks.
 */
public final class AccessCheckHandler implements HttpHandler {
  private final AccessControl access;
  private final HttpHandler next;

  public AccessCheckHandler(AccessControl access, HttpHandler next) {
    this.access = Objects.requireNonNull(access, "access");
    this.next = Objects.requireNonNull(next, "next");
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    access.admit(TokenHandler.principal(exchange));
    next.handleRequest(exchange);
  }

  @Override
  public String toString() {
    return "AccessCheckHandler(" + access + ") -> " + next;
  }
}
