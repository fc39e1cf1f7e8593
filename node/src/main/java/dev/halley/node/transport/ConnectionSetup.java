package dev.halley.node.transport;

import dev.halley.node.auth.TokenVerifier;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.Connection;

/**
 * The set-up every browser transport gives its connections, in one place: {@link #configure} when a
 * connection is built (the node's observer with its byte bound, and the frequency limit), and
 * {@link #opened} once it is registered on its stream and started (access control's list of open
 * connections, the close at the token's expiry, and the finish of a connection whose user a map
 * change moved away meanwhile).
 *
 * <p>Threading: the connection's IO thread, like the transports that call it.
 */
public final class ConnectionSetup {
  private ConnectionSetup() {}

  /**
   * Reports to the node's observer, bounded by {@code connectionQueueMaxBytes}; at most one message
   * per conflation key every {@code keyIntervalMs} (0: no limit). Returns {@code c}.
   */
  public static <C extends Connection> C configure(NodeContext node, C c, long keyIntervalMs) {
    c.operations(node.ops, node.config.connectionQueueMaxBytes());
    c.keyInterval(keyIntervalMs);
    return c;
  }

  /**
   * After {@code c} started: listed by access control (blocks and revocations close it), closed
   * when {@code principal}'s token expires if {@code closeAtExpiry} (a held long-poll answers at
   * its expiry instead), and finished at once if a map change moved its user meanwhile.
   */
  public static void opened(
      NodeContext node, Connection c, TokenVerifier.Principal principal, boolean closeAtExpiry) {
    node.access.opened(c, principal);
    if (closeAtExpiry) {
      c.closeAtTokenExpiry(principal.validUntilMs(), node.clock.millis());
    }
    node.ops.finishIfMoved(c);
  }
}
