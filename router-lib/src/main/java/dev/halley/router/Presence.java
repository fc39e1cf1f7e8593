package dev.halley.router;

/**
 * Whether a user has live connections on their owner node, and how many.
 *
 * <pre>{@code
 * Presence p = publisher.presence("alice").join();
 * if (!p.online()) sendEmailInstead();
 * }</pre>
 *
 * <p>A snapshot: it may be stale by the time it is read. Immutable.
 *
 * @param user the user ID
 * @param node the ID of the node that answered (the owner)
 * @param online true when {@code connections > 0}
 * @param connections live connections (WebSocket, SSE or a held long-poll) of the user
 */
public record Presence(String user, String node, boolean online, int connections) {}
