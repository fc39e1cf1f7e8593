package dev.halley.node;

/**
 * A snapshot of one node's state, from {@link HalleyNode#stats()}: the browser connections it
 * counts (WebSocket, SSE, long-poll and poll), the user streams it holds (connected or buffering),
 * the map version it serves, and whether it is ready and draining. The full picture is the {@code
 * /metrics} endpoint (docs/operations.md).
 */
public record NodeStats(
    int connections, int userStreams, int mapVersion, boolean ready, boolean draining) {}
