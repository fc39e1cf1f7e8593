package dev.halley.node.cluster;

import dev.halley.node.auth.TokenHandler;
import dev.halley.node.wire.Params;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.util.Objects;

/**
 * Lets a browser connection through to {@code next} only if this node serves its verified user
 * ({@link NodeContext#admits}: owns it under the current map; gains it under the pending map and
 * the client resumes with {@code handoff}; keeps its finishing stream; or the last map change moved
 * it away, and the transport answers {@code moved}); otherwise 421 {@code not_owner} naming the
 * owner's public URL and the map version.
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
    String user = TokenHandler.principal(exchange).user();
    boolean handoff = exchange.getQueryParameters().containsKey(Params.HANDOFF);
    if (!node.admits(user, handoff)) {
      node.requireOwner(user); // throws the 421
    }
    next.handleRequest(exchange);
  }

  @Override
  public String toString() {
    return "OwnershipHandler(" + node.nodeId + ") -> " + next;
  }
}
