package dev.halley.node.stream;

import dev.halley.node.wire.Control;
import dev.halley.node.wire.EventTypes;
import dev.halley.node.wire.Message;

/**
 * What a connection tells the node's {@link ConnectionObserver} (metrics): events taken for
 * writing, conflations (also counted here for {@link Connection#conflated}), slow consumers, write
 * failures, dropped timers; and the one setting it reads through it. Without an observer (unit
 * tests) it reports nothing.
 *
 * <p>Owner: the {@link Connection} that holds it. The observer is bound once, before the connection
 * is registered on its stream, and read from any thread; {@link #taken} and {@link #conflated} run
 * with the connection's lock held, which also guards the conflation count.
 */
final class ConnectionReports {
  private final Connection connection;
  private volatile ConnectionObserver observer;
  private long conflated;

  ConnectionReports(Connection connection) {
    this.connection = connection;
  }

  void bind(ConnectionObserver observer) {
    this.observer = observer;
  }

  /** Under the lock, IO thread: an event was taken for writing. */
  void taken(Object item) {
    ConnectionObserver o = observer;
    if (o == null) {
      return;
    }
    if (item instanceof Message m) {
      o.delivered(connection.transport(), m.acceptedAtNanos);
    } else if (item instanceof Control c && c.type.equals(EventTypes.RESET)) {
      o.reset(c.toString().contains("\"epoch\"") ? EventTypes.RESET_EPOCH : EventTypes.RESET_GAP);
    }
  }

  /** Under the lock: {@code n} messages were replaced by newer ones with their key. */
  void conflated(int n) {
    conflated += n;
    ConnectionObserver o = observer;
    if (o != null) {
      o.conflated(connection.transport(), n);
    }
  }

  /** Under the lock: the messages conflated so far. */
  long conflatedTotal() {
    return conflated;
  }

  void slowConsumer() {
    ConnectionObserver o = observer;
    if (o != null) {
      o.slowConsumer(connection.transport(), connection.user());
    }
  }

  void writeFailed(Throwable t) {
    ConnectionObserver o = observer;
    if (o != null) {
      o.writeFailed(connection.transport(), t);
    }
  }

  void timerDropped() {
    ConnectionObserver o = observer;
    if (o != null) {
      o.timerDropped();
    }
  }

  /** {@link ConnectionObserver#tokenExpiredGraceMs}, ms. */
  long tokenExpiredGraceMs() {
    ConnectionObserver o = observer;
    return o == null ? Connection.DEFAULT_TOKEN_EXPIRED_GRACE_MS : o.tokenExpiredGraceMs();
  }
}
