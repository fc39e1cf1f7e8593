package dev.halley.node.internal;

/**
 * The replay sink of streaming transports (WebSocket, SSE): queues {@code hello}, then the {@code
 * reset} or the replayed events, and always registers the connection for live events.
 */
final class StreamingReplay implements UserStream.ReplaySink {
  private final NodeContext node;
  private final Connection conn;
  private final Object preamble;

  /** {@code preamble}: an item queued before {@code hello} (SSE's {@code retry:}), or null. */
  StreamingReplay(NodeContext node, Connection conn, Object preamble) {
    this.node = node;
    this.conn = conn;
    this.preamble = preamble;
  }

  @Override
  public Connection open(
      long position,
      long current,
      Control reset,
      long[] seqs,
      Message[] messages,
      int n,
      long now) {
    if (preamble != null) {
      conn.offer(-1, preamble);
    }
    conn.offer(
        -1,
        node.codec.hello(node.nodeId, node.map().version(), position, node.config.heartbeatMs()));
    if (reset != null) {
      conn.offer(-1, reset);
    }
    for (int i = 0; i < n; i++) {
      conn.offer(seqs[i], messages[i]);
    }
    return conn;
  }
}
