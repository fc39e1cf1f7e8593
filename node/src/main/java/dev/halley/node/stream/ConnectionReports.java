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
 * <p>Owner: the {@link Connection} that holds it (and names its transport in each call). The
 * observer is bound once, before the connection is registered on its stream, and read from any
 * thread; {@link #taken} and {@link #conflated} run with the connection's lock held, which also
 * guards the conflation count.
 */
final class ConnectionReports {
  private volatile ConnectionObserver observer;
  private long conflated;

  void bind(ConnectionObserver observer) {
    this.observer = observer;
  }

  /** Under the lock, IO thread: an event was taken for writing. */
  void taken(String transport, Object item) {
    ConnectionObserver o = observer;
    if (o == null) {
      return;
    }
    if (item instanceof Message m) {
      o.delivered(transport, m.acceptedAtNanos);
    } else if (item instanceof Control c && c.type.equals(EventTypes.RESET)) {
      o.reset(c.toString().contains("\"epoch\"") ? EventTypes.RESET_EPOCH : EventTypes.RESET_GAP);
    }
  }

  /** Under the lock: {@code n} messages were replaced by newer ones with their key. */
  void conflated(String transport, int n) {
    conflated += n;
    ConnectionObserver o = observer;
    if (o != null) {
      o.conflated(transport, n);
    }
  }

  /** Under the lock: the messages conflated so far. */
  long conflatedTotal() {
    return conflated;
  }

  void slowConsumer(String transport, String user) {
    ConnectionObserver o = observer;
    if (o != null) {
      o.slowConsumer(transport, user);
    }
  }

  void writeFailed(String transport, Throwable t) {
    ConnectionObserver o = observer;
    if (o != null) {
      o.writeFailed(transport, t);
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
    return o == null ? ConnectionObserver.DEFAULT_TOKEN_EXPIRED_GRACE_MS : o.tokenExpiredGraceMs();
  }
}
