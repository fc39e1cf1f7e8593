package dev.halley.node.stream;

import dev.halley.node.wire.Control;
import dev.halley.node.wire.Message;
import java.util.function.LongFunction;

/**
 * The replay sink of streaming transports (WebSocket, SSE): queues the preamble (SSE's {@code
 * retry:}), {@code hello}, then the {@code reset} or the replayed events, and always registers the
 * connection for live events.
 */
public final class StreamingReplay<C extends Connection> implements UserStream.ReplaySink {
  private final C conn;
  private final Object preamble;
  private final LongFunction<Control> hello;

  /**
   * @param preamble an item queued before {@code hello}, or null
   * @param hello makes the {@code hello} event for a stream position
   */
  public StreamingReplay(C conn, Object preamble, LongFunction<Control> hello) {
    this.conn = conn;
    this.preamble = preamble;
    this.hello = hello;
  }

  /** The connection this sink opens the stream for. */
  public C connection() {
    return conn;
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
    conn.offer(-1, hello.apply(position));
    if (reset != null) {
      conn.offer(-1, reset);
    }
    for (int i = 0; i < n; i++) {
      conn.offer(seqs[i], messages[i]);
    }
    conn.replayQueued();
    return conn;
  }
}
