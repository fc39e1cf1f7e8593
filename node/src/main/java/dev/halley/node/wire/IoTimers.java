package dev.halley.node.wire;

import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.xnio.XnioExecutor;

/**
 * The one way the node arms a timer (or queues a task) on an IO thread. While the node stops, its
 * IO threads refuse new tasks with a {@link RejectedExecutionException} ("Thread is terminating")
 * as they close their connections, so a timer armed then (by a connection closing with the node, a
 * timer that came due and arms the next, a request opened in that moment) is not armed: {@link
 * #after} returns null and runs {@code ifStopping} instead of throwing into the IO thread (which
 * logs a stack trace per task) or into its caller.
 *
 * <p>{@code ifStopping} is where a caller says what the missing timer would have done that must
 * still happen, such as closing a socket now instead of after a grace; most callers drop it, as the
 * connection goes with the node.
 */
public final class IoTimers {
  private static final Runnable NOTHING = () -> {};

  private IoTimers() {}

  /**
   * Runs {@code task} on {@code thread} after {@code delay}; returns its key, or null when the
   * thread is stopping, after running {@code ifStopping} on the caller's thread.
   */
  public static XnioExecutor.Key after(
      XnioExecutor thread, long delay, TimeUnit unit, Runnable task, Runnable ifStopping) {
    try {
      return thread.executeAfter(task, delay, unit);
    } catch (RejectedExecutionException stopping) {
      ifStopping.run();
      return null;
    }
  }

  /** The same, dropping the timer when the thread is stopping. */
  public static XnioExecutor.Key after(
      XnioExecutor thread, long delay, TimeUnit unit, Runnable task) {
    return after(thread, delay, unit, task, NOTHING);
  }

  /** Queues {@code task} on {@code thread}; false (nothing queued) when it is stopping. */
  public static boolean execute(XnioExecutor thread, Runnable task) {
    try {
      thread.execute(task);
      return true;
    } catch (RejectedExecutionException stopping) {
      return false;
    }
  }

  /** Removes a timer {@link #after} armed; null (a timer never armed) is fine. */
  public static void cancel(XnioExecutor.Key key) {
    if (key != null) {
      key.remove();
    }
  }
}
