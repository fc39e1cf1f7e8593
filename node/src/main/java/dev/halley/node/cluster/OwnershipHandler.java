package dev.halley.node.cluster;

import dev.halley.node.auth.TokenHandler;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.util.Objects;

/**
 * Lets a browser connection through to {@code next} only if this node owns its verified user under
 * the current map; otherwise 421 {@code not_owner} naming the owner's public URL and the map
 * version.
 *
 * <pre>{@code
 * new TokenHandler(tokens, new OwnershipHandler(node, next))
 * }</pre>
 *
 * <p>Needs the principal that {@link TokenHandler} attached. IO thread, never blocks.
 */
public final class OwnershipHandler implements HttpHandler {
  private final NodeContext node;
  private final HttpHandler next;

  public OwnershipHandler(NodeContext node, HttpHandler next) {
    this.node = Objects.requireNonNull(node, "node");
    this.next = Objects.requireNonNull(next, "next");
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    node.requireOwner(TokenHandler.principal(exchange).user());
    next.handleRequest(exchange);
  }

  @Override
  public String toString() {
    return "OwnershipHandler(" + node.nodeId + ") -> " + next;
  }
}
