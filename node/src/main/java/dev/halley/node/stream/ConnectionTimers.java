package dev.halley.node.stream;

import dev.halley.node.wire.IoTimers;
import java.util.concurrent.TimeUnit;
import org.xnio.XnioExecutor;
import org.xnio.XnioIoThread;

/**
 * A connection's heartbeat and token-expiry timer on its own IO thread (XNIO's per-thread timer
 * queue): one timer for both, armed for whichever is due first and removed when the connection
 * closes (so a closed connection is not kept reachable until its expiry). No thread per connection
 * and no scan over all connections. A timer the IO thread refuses because the node is stopping is
 * dropped and reported to {@link #dropped}, never thrown into the IO thread (which would log a
 * stack trace per connection). One-off timers such as the finish grace are armed apart, and the
 * connection makes this one at its first use: a held long-poll has none.
 *
 * <p>One timer instead of one per purpose: each armed XNIO timer costs its key and its entry in the
 * thread's queue (about 80 bytes), and each task its own object; this object is itself the task
 * (issue 12).
 *
 * <p>Owner: the {@link Connection} that holds it, which implements what is due. Its deadlines and
 * key are touched on that connection's IO thread only.
 */
abstract class ConnectionTimers implements Runnable {
  private static final long NONE = Long.MAX_VALUE;

  private XnioIoThread thread;
  private XnioExecutor.Key key;
  private long armedAt = NONE; // System.nanoTime() the key is armed for
  private long expiryAt = NONE;
  private long beatAt = NONE;
  private long beatNanos;

  /** IO thread: the token's validity ended. */
  abstract void expired();

  /** IO thread: a heartbeat is due; false when the connection closed (no more beats). */
  abstract boolean beat();

  /** The IO thread refused a timer because the node is stopping. */
  abstract void dropped();

  /** Runs {@code task} after {@code delayMs} on {@code t}; null when {@code t} refused it. */
  private XnioExecutor.Key after(XnioIoThread t, Runnable task, long delayMs) {
    XnioExecutor.Key k = IoTimers.after(t, delayMs, TimeUnit.MILLISECONDS, task);
    if (k == null) {
      dropped();
    }
    return k;
  }

  /** IO thread: {@link #expired} after {@code delayMs}, unless {@link #cancel} comes first. */
  final void expireAfter(XnioIoThread t, long delayMs) {
    thread = t;
    expiryAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(delayMs);
    arm(System.nanoTime());
  }

  /**
   * IO thread: {@link #beat} every {@code intervalMs} until it returns false or {@link #cancel}.
   */
  final void heartbeats(XnioIoThread t, long intervalMs) {
    thread = t;
    beatNanos = TimeUnit.MILLISECONDS.toNanos(intervalMs);
    beatAt = System.nanoTime() + beatNanos;
    arm(System.nanoTime());
  }

  /** IO thread: removes the expiry and heartbeat timer. */
  final void cancel() {
    expiryAt = NONE;
    beatAt = NONE;
    disarm();
  }

  /** IO thread: the shared timer came due; runs what is due, then arms it for what is next. */
  @Override
  public final void run() {
    key = null;
    armedAt = NONE;
    long now = System.nanoTime();
    if (expiryAt != NONE && expiryAt - now <= 0) {
      expiryAt = NONE;
      expired();
    }
    if (beatAt != NONE && beatAt - now <= 0) {
      if (beat()) {
        beatAt = System.nanoTime() + beatNanos;
      } else {
        beatAt = NONE;
      }
    }
    arm(System.nanoTime());
  }

  /** Arms (or moves) the one timer for the earliest deadline; none left: removes it. */
  private void arm(long now) {
    long next = Math.min(expiryAt, beatAt);
    if (next == NONE) {
      disarm();
      return;
    }
    if (key != null && armedAt <= next) {
      return; // it comes due first and arms the next deadline then
    }
    disarm();
    long delayMs = Math.max(0, TimeUnit.NANOSECONDS.toMillis(next - now + 999_999));
    key = after(thread, this, delayMs);
    armedAt = key == null ? NONE : next;
  }

  private void disarm() {
    IoTimers.cancel(key);
    key = null;
    armedAt = NONE;
  }
}
