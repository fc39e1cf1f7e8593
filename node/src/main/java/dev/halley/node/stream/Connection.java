package dev.halley.node.stream;

import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.Control;
import dev.halley.node.wire.EventTypes;
import dev.halley.node.wire.IoTimers;
import dev.halley.node.wire.Message;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * One browser connection of a user stream: a bounded outbound queue of event references (no payload
 * copies) drained on the connection's IO thread, and a close-once guard.
 *
 * <p>Threading: {@link #offer} is called by publishers with the stream's lock held; everything else
 * that touches the transport runs on {@link #io}. Lock order: stream, then connection.
 *
 * <p>Its parts, each a small class of this package owned by one connection: the queue's slots
 * ({@link OutboundRing}: the ring, conflation tombstones, the keyed index), its byte bound ({@link
 * QueueBytes}), the {@link FrequencyLimit}, all three guarded by this connection's lock; its {@link
 * ConnectionTimers} (IO thread); and its {@link ConnectionReports} to the observer. What stays here
 * is how they combine: taking an event, scheduling the flush, finishing, closing.
 *
 * <p>Seam for issue #4: {@link #onOverflow()} is the slow-consumer policy (default: close with
 * 4008), {@link #addCloseHook} lets metrics and presence observe the end of a connection.
 */
public abstract class Connection {
  public final UserStream stream;

  /** The channels this connection's token grants; set when it registers, guarded by the stream. */
  java.util.Set<String> grants = java.util.Set.of();

  // What the node's access control checks this connection against (its token's principal, a type
  // this package does not know); null until it tracks the connection.
  private volatile Object principal;

  /** The connection's IO thread (an {@code XnioIoThread}; any executor in unit tests). */
  public final Executor io;

  private static final VarHandle CLOSED;
  private static final Runnable[] NO_HOOKS = {};

  static {
    try {
      CLOSED = MethodHandles.lookup().findVarHandle(Connection.class, "closed", boolean.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  // Set once by close (CLOSED); a field rather than an AtomicBoolean: one object less each.
  private volatile boolean closed;
  private final Runnable flushTask = this::runFlush;
  private final ConnectionReports reports = new ConnectionReports();
  // Made by the first heartbeat or token expiry (IO thread): a held long-poll arms neither.
  private ConnectionTimers timers;

  // Guarded by this.
  private final OutboundRing ring;
  private final QueueBytes bytes = new QueueBytes();
  private FrequencyLimit limit; // null: no frequency limit
  private boolean flushScheduled;
  private boolean overflowed;
  private int finishCode;
  private String finishReason;
  // The close hooks not run yet; null once close has taken them (a hook added later runs at once).
  private Runnable[] closeHooks = NO_HOOKS;

  // Set by poll(), read on the IO thread only.
  public long polledSeq;
  public Object polledItem;

  public Connection(UserStream stream, Executor io, int maxQueued) {
    this.stream = stream;
    this.io = io;
    this.ring = new OutboundRing(maxQueued);
  }

  /** Sets what the access control checks this connection against (its token's principal). */
  public final void principal(Object principal) {
    this.principal = principal;
  }

  /** What {@link #principal(Object)} set; null before. */
  public final Object principal() {
    return principal;
  }

  /** The transport name: {@code ws}, {@code sse}, {@code longpoll}. */
  public abstract String transport();

  public final String user() {
    return stream.user;
  }

  public final boolean isClosed() {
    return closed;
  }

  /** Runs {@code hook} once when this connection closes (at once if it already has). */
  public final void addCloseHook(Runnable hook) {
    synchronized (this) {
      Runnable[] hooks = closeHooks;
      if (hooks != null) {
        hooks = Arrays.copyOf(hooks, hooks.length + 1);
        hooks[hooks.length - 1] = hook;
        closeHooks = hooks;
        return;
      }
    }
    hook.run();
  }

  /**
   * Queues an event ({@code item} is a {@link Message} with its {@code seq}, or a {@link Control})
   * and schedules a flush on the IO thread. Returns false if the connection is closed or its queue
   * is full (then it is handed to {@link #onOverflow()}).
   */
  public final boolean offer(long seq, Object item) {
    return offer(seq, item, 0, null);
  }

  /**
   * {@link #offer(long, Object)}; a {@code finishCode} other than 0 is set in the same critical
   * section that queues the item, so a flush can never see the code without the last event queued
   * (and close before writing it).
   */
  private boolean offer(long seq, Object item, int finishCode, String finishReason) {
    boolean schedule;
    boolean accepted;
    synchronized (this) {
      if (closed || overflowed) {
        return false;
      }
      int size = QueueBytes.of(item);
      if (item instanceof Message m && m.conflationKey != null) {
        Object old = ring.supersede(m.conflationKey);
        if (old != null) {
          bytes.removed(QueueBytes.of(old));
          reports.conflated(transport(), 1);
        }
      }
      if (ring.isFull() || bytes.wouldExceed(size, ring.slots() == 0)) {
        overflowed = true;
        accepted = false;
      } else {
        ring.add(seq, item);
        bytes.added(size);
        accepted = true;
        if (finishCode != 0) {
          this.finishCode = finishCode;
          this.finishReason = finishReason;
        }
      }
      schedule = !flushScheduled;
      flushScheduled = true;
    }
    if (schedule) {
      HandOff batch = HandOff.open();
      if (batch != null) {
        batch.add(io, this); // one task per IO thread at the end of the publish
      } else {
        try {
          io.execute(flushTask);
        } catch (RejectedExecutionException e) {
          // The node is stopping: its IO threads take no tasks; the event stays in the buffer.
        }
      }
    }
    return accepted;
  }

  /** Messages replaced by a newer one with the same conflation key before they were written. */
  public final synchronized long conflated() {
    return reports.conflatedTotal();
  }

  /**
   * {@code n} messages this connection took from its queue were conflated away afterwards (a poll
   * answer keeps only the last of each key): counted with the queue's own conflations.
   */
  protected final synchronized void conflatedInBatch(int n) {
    if (n > 0) {
      reports.conflated(transport(), n);
    }
  }

  /**
   * The frequency limit (docs/protocol.md, "Frequency limit"): at most one message per conflation
   * key every {@code intervalMs} ms is taken for writing (0: no limit). Call before the connection
   * is registered on its stream; it needs an XNIO IO thread for its wake-ups.
   */
  public final synchronized void keyInterval(long intervalMs) {
    if (intervalMs <= 0 && limit == null) {
      return;
    }
    if (limit == null) {
      limit = new FrequencyLimit(this, io, this::flushGuarded);
    }
    limit.interval(intervalMs);
  }

  /**
   * IO thread: takes the next queued event into {@link #polledSeq}/{@link #polledItem}; false (and
   * {@link #polledItem} cleared) when none is ready, so an idle connection does not keep the last
   * event it wrote (the hello, or a large message) reachable until the next one (issue 12).
   */
  public final synchronized boolean poll() {
    polledItem = null;
    Object next = ring.peek();
    if (next == null) {
      return false;
    }
    // A finishing connection writes everything at once: its last event must not wait.
    if (limit != null
        && finishCode == 0
        && next instanceof Message m
        && m.conflationKey != null
        && limit.holds(m.conflationKey, System.nanoTime())) {
      return false;
    }
    polledSeq = ring.peekSeq();
    polledItem = next;
    ring.removeHead();
    bytes.removed(QueueBytes.of(next));
    reports.taken(transport(), next);
    return true;
  }

  /**
   * IO thread: the transport holds {@code bytes} more (a frame handed to the socket layer and not
   * yet written, its buffer included) or, negative, released them. They count against {@code
   * connectionQueueMaxBytes} with the queue, so a stalled connection pins at most the bound plus
   * one frame, however many events it was sent.
   */
  public final synchronized void pinned(long bytes) {
    this.bytes.pinned(bytes);
  }

  public final synchronized long pinnedBytes() {
    return bytes.pinned();
  }

  public final synchronized int queued() {
    return ring.live();
  }

  public final synchronized void clearQueue() {
    bytes.queueCleared();
    ring.clear();
  }

  /** IO thread: the flush a {@link HandOff} batch scheduled for this connection. */
  void runFlushTask() {
    runFlush();
  }

  private void runFlush() {
    boolean over;
    synchronized (this) {
      flushScheduled = false;
      over = overflowed;
    }
    try {
      if (over) {
        onOverflow();
      } else if (!closed) {
        flush();
      }
    } catch (Throwable t) {
      failed(t);
    }
  }

  /**
   * IO thread: {@link #flush()} from a transport's own callbacks (a write completed), with the same
   * guard as a scheduled flush: anything it throws closes this connection instead of escaping into
   * the IO thread.
   */
  protected final void flushGuarded() {
    try {
      if (!closed) {
        flush();
      }
    } catch (Throwable t) {
      failed(t);
    }
  }

  /**
   * IO thread: something a transport's own listener caught (a read or write callback outside {@link
   * #flush}) ends this connection as {@link #failed} does: reported, then closed.
   */
  protected final void fail(Throwable t) {
    failed(t);
  }

  /**
   * Issue 11 item 5: anything thrown on this connection's write path, an {@link Error} such as
   * {@link OutOfMemoryError} included, ends this connection (WebSocket 4011) and is reported to the
   * observer; it never escapes into the IO thread (which serves thousands of other connections) and
   * never leaves the connection half-flushed and open.
   */
  private void failed(Throwable t) {
    try {
      reports.writeFailed(transport(), t);
    } catch (Throwable ignored) {
      // reporting must not stop the close
    }
    try {
      close(CloseCodes.SERVER_ERROR, "internal error");
    } catch (Throwable ignored) {
      // the connection is marked closed first: it takes no more events either way
    }
  }

  /** IO thread: writes queued events as far as the transport accepts them now. */
  protected abstract void flush();

  /** IO thread: the queue overflowed. The default closes the connection as a slow consumer. */
  protected void onOverflow() {
    reports.slowConsumer(transport(), user());
    close(CloseCodes.SLOW_CONSUMER, "slow consumer");
  }

  /**
   * Issue #4: binds the node's observer (metrics) and the byte bound {@code
   * connectionQueueMaxBytes}; call before the connection is registered on its stream.
   */
  public final synchronized void operations(ConnectionObserver ops, long maxQueuedBytes) {
    reports.bind(ops);
    bytes.max(maxQueuedBytes);
  }

  /**
   * The events queued so far are the connect-time replay: they do not count against {@code
   * connectionQueueMaxBytes} (a full replay must fit, as for the event bound). The byte bound
   * applies from this call on, to what is queued beyond the replay.
   */
  public final synchronized void replayQueued() {
    bytes.replayQueued();
  }

  /**
   * Issue #4 ({@code moved}, {@code reconnect}): stops taking events (detaches from the stream),
   * queues a last control event, and closes with {@code code} once everything queued is written, or
   * after {@code graceMs} at the latest.
   */
  public final void finish(String type, byte[] json, int code, String reason, long graceMs) {
    if (closed) {
      return;
    }
    stream.detach(this);
    if (!offer(-1, new Control(type, null, json), code, reason)) {
      close(code, reason);
      return;
    }
    if (io instanceof org.xnio.XnioIoThread t) {
      IoTimers.after(
          t, graceMs, TimeUnit.MILLISECONDS, () -> close(code, reason), reports::timerDropped);
    }
  }

  /**
   * IO thread: ends this connection when its token stops being valid, at {@code validUntilMs}
   * (epoch milliseconds, {@code exp} plus the leeway) as seen by the node's clock at {@code nowMs}.
   * WebSocket closes with 4001 ({@code unauthorized}: the client renews its token and reconnects);
   * SSE and long-poll end their response. One timer on the connection's own IO thread, removed when
   * the connection closes for another reason first ({@link ConnectionTimers}).
   */
  public final void closeAtTokenExpiry(long validUntilMs, long nowMs) {
    if (isClosed() || !(io instanceof org.xnio.XnioIoThread t)) {
      return;
    }
    timers().expireAfter(t, Math.max(0, validUntilMs - nowMs));
  }

  private static final byte[] TOKEN_EXPIRED_JSON =
      ("{\"type\":\"" + EventTypes.TOKEN_EXPIRED + "\"}")
          .getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /**
   * IO thread: the token is no longer valid. The default (WebSocket) closes with 4001; transports
   * without close codes override it to {@link #finishWithTokenExpired()}.
   */
  protected void tokenExpired() {
    close(CloseCodes.UNAUTHORIZED, "token expired");
  }

  /** Queues a {@code token_expired} event after what is queued, then ends the connection. */
  protected final void finishWithTokenExpired() {
    finish(
        EventTypes.TOKEN_EXPIRED,
        TOKEN_EXPIRED_JSON,
        CloseCodes.UNAUTHORIZED,
        "token expired",
        reports.tokenExpiredGraceMs());
  }

  /**
   * IO thread: queues a {@code ping} every {@code intervalMs} milliseconds until the connection
   * closes (WebSocket sends it as an event, SSE as a comment line). One timer per connection on its
   * own IO thread, removed when the connection closes.
   */
  public final void startHeartbeats(long intervalMs) {
    if (isClosed() || !(io instanceof org.xnio.XnioIoThread t)) {
      return;
    }
    timers().heartbeats(t, intervalMs);
  }

  /** IO thread: the connection's heartbeat and token-expiry timer, made at its first use. */
  private ConnectionTimers timers() {
    if (timers == null) {
      timers =
          new ConnectionTimers() {
            @Override
            void expired() {
              tokenExpired();
            }

            @Override
            boolean beat() {
              if (isClosed()) {
                return false;
              }
              offer(-1, Control.PING);
              return true;
            }

            @Override
            void dropped() {
              reports.timerDropped();
            }
          };
    }
    return timers;
  }

  /** IO thread: transports call this when everything queued is written; ends a finishing one. */
  public final void closeIfFinished() {
    int code;
    String reason;
    synchronized (this) {
      if (finishCode == 0 || ring.slots() > 0) {
        return;
      }
      code = finishCode;
      reason = finishReason;
    }
    close(code, reason);
  }

  /**
   * Closes once: detaches from the user stream (no more events are queued), then ends the transport
   * on the IO thread with a WebSocket close {@code code} (other transports end their response),
   * then runs the close hooks.
   */
  public final void close(int code, String reason) {
    if (!CLOSED.compareAndSet(this, false, true)) {
      return;
    }
    stream.detach(this);
    Runnable end =
        () -> {
          try {
            if (timers != null) {
              timers.cancel();
            }
            closeTransport(code, reason);
          } finally {
            Runnable[] hooks;
            synchronized (this) {
              hooks = closeHooks;
              closeHooks = null;
            }
            for (Runnable hook : hooks) {
              hook.run();
            }
          }
        };
    if (io instanceof Thread t ? Thread.currentThread() == t : true) {
      end.run();
    } else {
      try {
        io.execute(end);
      } catch (RejectedExecutionException e) {
        end.run(); // the node is stopping and its channels are closing anyway
      }
    }
  }

  /** IO thread, once: ends the transport; it may still drain the queue (long-poll does). */
  protected abstract void closeTransport(int code, String reason);

  @Override
  public String toString() {
    return transport() + "(" + stream.user + ", queued " + queued() + ")";
  }
}
