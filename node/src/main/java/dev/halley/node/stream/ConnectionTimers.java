package dev.halley.node.stream;

import dev.halley.node.wire.IoTimers;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.xnio.XnioExecutor;
import org.xnio.XnioIoThread;

/**
 * A connection's timers on its own IO thread (XNIO's per-thread timer queue): the token-expiry
 * close and the heartbeats, one timer each, removed when the connection closes (so a closed
 * connection is not kept reachable until its expiry), and one-off timers such as the finish grace.
 * No thread per connection and no scan over all connections. A timer the IO thread refuses because
 * the node is stopping is dropped and reported to {@code dropped}, never thrown into the IO thread
 * (which would log a stack trace per connection).
 *
 * <p>Owner: the {@link Connection} that holds it. Its keys are touched on that connection's IO
 * thread only; {@link #after} keeps no state and may be called from any thread.
 */
final class ConnectionTimers {
  private final Runnable dropped;
  private XnioExecutor.Key expiry;
  private XnioExecutor.Key heartbeat;
  // The heartbeat task, made once so that beats allocate nothing.
  private Runnable beat;

  ConnectionTimers(Runnable dropped) {
    this.dropped = dropped;
  }

  /** Runs {@code task} after {@code delayMs} on {@code t}; null when {@code t} refused it. */
  XnioExecutor.Key after(XnioIoThread t, Runnable task, long delayMs) {
    return IoTimers.after(t, delayMs, TimeUnit.MILLISECONDS, task, dropped);
  }

  /** IO thread: runs {@code task} after {@code delayMs}, unless {@link #cancel} comes first. */
  void expireAfter(XnioIoThread t, long delayMs, Runnable task) {
    expiry = after(t, task, delayMs);
  }

  /**
   * IO thread: runs {@code ping} every {@code intervalMs} until {@code closed} or {@link #cancel}.
   */
  void heartbeats(XnioIoThread t, long intervalMs, BooleanSupplier closed, Runnable ping) {
    beat =
        () -> {
          if (closed.getAsBoolean()) {
            return;
          }
          ping.run();
          heartbeat = after(t, beat, intervalMs);
        };
    heartbeat = after(t, beat, intervalMs);
  }

  /** IO thread: removes the expiry and heartbeat timers. */
  void cancel() {
    IoTimers.cancel(expiry);
    expiry = null;
    IoTimers.cancel(heartbeat);
    heartbeat = null;
  }
}
