package dev.halley.node.stream;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Batches the cross-thread hand-off of one publish: while a publish runs (between {@link #begin}
 * and {@link #end} on the publishing thread), connections that need a flush are collected per IO
 * thread, and {@link #end} hands each IO thread one task that flushes all of its connections, not
 * one task (and one selector wake-up) per connection. Without an open batch a connection schedules
 * its own flush, as before.
 *
 * <pre>
 * HandOff h = HandOff.begin();
 * try { ... stream.publish(m, now) ... } finally { h.end(); }
 * </pre>
 *
 * <p>Threading: one instance per publishing thread (a thread local), used by that thread only;
 * nesting is counted, the outermost {@link #end} hands off. The order of events on a connection is
 * its queue's order, which the batch does not touch: it only delays the flush to the end of the
 * publish.
 */
public final class HandOff {
  private static final ThreadLocal<HandOff> CURRENT = ThreadLocal.withInitial(HandOff::new);

  private final Map<Executor, List<Connection>> byThread = new IdentityHashMap<>();
  private int depth;

  private HandOff() {}

  /** Opens (or nests into) this thread's batch. */
  public static HandOff begin() {
    HandOff h = CURRENT.get();
    h.depth++;
    return h;
  }

  /** This thread's open batch, or null. */
  static HandOff open() {
    HandOff h = CURRENT.get();
    return h.depth > 0 ? h : null;
  }

  void add(Executor io, Connection c) {
    byThread.computeIfAbsent(io, k -> new ArrayList<>()).add(c);
  }

  /** Closes this level; the outermost hands one flush task to each IO thread involved. */
  public void end() {
    if (--depth > 0 || byThread.isEmpty()) {
      return;
    }
    for (Map.Entry<Executor, List<Connection>> e : byThread.entrySet()) {
      Connection[] connections = e.getValue().toArray(new Connection[0]);
      try {
        e.getKey()
            .execute(
                () -> {
                  for (Connection c : connections) {
                    c.runFlushTask();
                  }
                });
      } catch (RejectedExecutionException stopping) {
        // The node is stopping: its IO threads take no tasks; the events stay in the buffers.
      }
    }
    byThread.clear();
  }
}
