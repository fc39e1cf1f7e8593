package dev.halley.router;

import java.time.Instant;
import java.util.List;

/**
 * A user's blocks and revocations on their owner node, as that node answered a {@link
 * Publisher#disconnect}, {@link Publisher#block}, {@link Publisher#revokeToken} (or a related)
 * call.
 *
 * <pre>{@code
 * UserAccess a = publisher.block("alice", Instant.now().plus(Duration.ofHours(1)), "spam").join();
 * log.info("ended {} connections of {} on node {}", a.disconnected(), a.user(), a.node());
 * }</pre>
 *
 * <p>The state lives in the owner node's memory only: after a node restart or a map change that
 * moves the user, send it again (docs/protocol.md, "Access"). Immutable.
 *
 * @param user the user ID
 * @param node the ID of the node that answered (the owner)
 * @param disconnected live connections this call ended (0 for reads and unblocks)
 * @param blockedUntil when the block ends, or null if the user is not blocked
 * @param revokedBefore tokens with {@code iat} before it are refused, or null
 * @param revokedJtis revoked token IDs ({@code jti}) still remembered
 */
public record UserAccess(
    String user,
    String node,
    int disconnected,
    Instant blockedUntil,
    Instant revokedBefore,
    List<String> revokedJtis) {}
