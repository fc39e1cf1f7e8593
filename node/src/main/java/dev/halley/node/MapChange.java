package dev.halley.node;

/**
 * The outcome of {@link HalleyNode#updateMap} or {@link HalleyNode#reloadMapFile}: the map versions
 * before and after, whether anything changed (the same map again changes nothing), and how many
 * users and connections this node moved to their new owners ({@code moved}, WebSocket close 4009).
 */
public record MapChange(
    int previousVersion, int version, boolean changed, int movedUsers, int movedConnections) {}
