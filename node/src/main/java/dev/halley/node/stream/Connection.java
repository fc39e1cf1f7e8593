package dev.halley.node.stream;

import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.Control;
import dev.halley.node.wire.EventTypes;
import dev.halley.node.wire.IoTimers;
import dev.halley.node.wire.Message;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One browser connection of a user stream: a bounded outbound queue of event references (no payload
 * copies) drained on the connection's IO thread, and a close-once guard.
 *
 * <p>Threading: {@link #offer} is called by publishers with the stream's lock held; everything else
 * that touches the transport runs on {@link #io}. Lock order: stream, then connection.
 *
 * <p>Seam for issue #4: {@link #onOverflow()} is the slow-consumer policy (default: close with
 * 4008), {@link #addCloseHook} lets metrics and presence observe the end of a connection.
 */
public abstract class Connection {
  private static final int INITIAL_CAPACITY = 4;
  private static final int SHRINK_ABOVE = 64;

  public final UserStream stream;

  /** The channels this connection's token grants; set when it registers, guarded by the stream. */
  java.util.Set<String> grants = java.util.Set.of();

  /** The connection's IO thread (an {@code XnioIoThread}; any executor in unit tests). */
  public final Executor io;

  private final int maxQueued;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final Runnable flushTask = this::runFlush;
  private final CopyOnWriteArrayList<Runnable> closeHooks = new CopyOnWriteArrayList<>();

  // IO thread only: the pending token-expiry close, removed when the connection closes first.
  private org.xnio.XnioExecutor.Key expiryKey;

  // IO thread only: the next heartbeat and its task (made once, so beats allocate nothing).
  private org.xnio.XnioExecutor.Key heartbeatKey;
  private Runnable heartbeat;

  // Guarded by this.
  private long[] seqs = new long[INITIAL_CAPACITY];
  private Object[] items = new Object[INITIAL_CAPACITY];
  private int head;
  private int size;

  // Conflation (issue #16), guarded by this: conflation key -> ring slot of the queued message
  // with that key; CONFLATED marks the slot of a message a newer one with its key replaced.
  private static final Object CONFLATED = new Object();
  private java.util.HashMap<String, Integer> keyed;
  private int tombstones;
  private long conflatedTotal;
  private boolean flushScheduled;
  private boolean overflowed;

  // Frequency limit (issue #16), guarded by this: with keyIntervalNanos > 0, a keyed message is
  // taken for writing only when its key's last one was taken at least that long ago; until then it
  // waits at its place in the queue (a newer one with its key replaces it there, see supersede),
  // and so do the events behind it. keyNext: key -> System.nanoTime() at which the key may be
  // written again; entries in the past are swept once the map doubles.
  private long keyIntervalNanos;
  private java.util.HashMap<String, Long> keyNext;
  private int keySweepAt;
  private long wakeAt;
  private boolean wakeArmed;
  private Runnable wake;

  // Issue #4: set by operations() before the connection is registered; guarded by this after.
  private ConnectionObserver ops;
  private long maxQueuedBytes = Long.MAX_VALUE;
  private long queuedBytes;
  private long replayBytes;
  private boolean replayQueued;
  // Bytes the transport holds for events already taken from the queue (frames in flight).
  private long pinnedBytes;
  private int finishCode;
  private String finishReason;

  // Set by poll(), read on the IO thread only.
  public long polledSeq;
  public Object polledItem;

  public Connection(UserStream stream, Executor io, int maxQueued) {
    this.stream = stream;
    this.io = io;
    this.maxQueued = maxQueued;
  }

  /** The transport name: {@code ws}, {@code sse}, {@code longpoll}. */
  public abstract String transport();

  public final String user() {
    return stream.user;
  }

  public final boolean isClosed() {
    return closed.get();
  }

  /** Runs {@code hook} once when this connection closes (at once if it already has). */
  public final void addCloseHook(Runnable hook) {
    closeHooks.add(hook);
    if (closed.get() && closeHooks.remove(hook)) {
      hook.run();
    }
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
      if (closed.get() || overflowed) {
        return false;
      }
      int bytes = bytesOf(item);
      Message keyedItem = item instanceof Message m && m.conflationKey != null ? m : null;
      if (keyedItem != null && keyed != null) {
        supersede(keyedItem.conflationKey);
      }
      if (size == maxQueued && tombstones > 0) {
        rebuild(seqs.length);
      }
      if (size == maxQueued
          || (replayQueued
              && (size > 0 || pinnedBytes > 0)
              && queuedBytes + pinnedBytes - replayBytes + bytes > maxQueuedBytes)) {
        overflowed = true;
        accepted = false;
      } else {
        if (size == seqs.length) {
          grow();
        }
        int tail = (head + size) % seqs.length;
        seqs[tail] = seq;
        items[tail] = item;
        size++;
        queuedBytes += bytes;
        accepted = true;
        if (keyedItem != null) {
          if (keyed == null) {
            keyed = new java.util.HashMap<>();
          }
          keyed.put(keyedItem.conflationKey, tail);
        }
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

  private void grow() {
    rebuild(Math.min(Math.max(seqs.length * 2, INITIAL_CAPACITY), maxQueued));
  }

  /**
   * Under the lock: the queued message with conflation key {@code key} (not yet taken for writing)
   * is replaced by a newer one: its slot becomes a tombstone that {@link #poll} skips.
   */
  private void supersede(String key) {
    Integer at = keyed.remove(key);
    if (at == null) {
      return;
    }
    Object old = items[at];
    long oldBytes = bytesOf(old);
    queuedBytes -= oldBytes;
    replayBytes = Math.max(0, replayBytes - oldBytes);
    items[at] = CONFLATED;
    tombstones++;
    conflatedTotal++;
    if (ops != null) {
      ops.conflated(transport(), 1);
    }
  }

  /** Under the lock: copies the live entries into arrays of {@code n} slots, from index 0. */
  private void rebuild(int n) {
    long[] s = new long[n];
    Object[] it = new Object[n];
    int live = 0;
    if (keyed != null) {
      keyed.clear();
    }
    for (int i = 0; i < size; i++) {
      int from = (head + i) % seqs.length;
      if (items[from] == CONFLATED) {
        continue;
      }
      s[live] = seqs[from];
      it[live] = items[from];
      if (keyed != null && it[live] instanceof Message m && m.conflationKey != null) {
        keyed.put(m.conflationKey, live);
      }
      live++;
    }
    seqs = s;
    items = it;
    head = 0;
    size = live;
    tombstones = 0;
  }

  /** Messages replaced by a newer one with the same conflation key before they were written. */
  public final synchronized long conflated() {
    return conflatedTotal;
  }

  /**
   * {@code n} messages this connection took from its queue were conflated away afterwards (a poll
   * answer keeps only the last of each key): counted with the queue's own conflations.
   */
  protected final synchronized void conflatedInBatch(int n) {
    if (n > 0) {
      conflatedTotal += n;
      if (ops != null) {
        ops.conflated(transport(), n);
      }
    }
  }

  /**
   * The frequency limit (docs/protocol.md, "Frequency limit"): at most one message per conflation
   * key every {@code intervalMs} ms is taken for writing (0: no limit). Call before the connection
   * is registered on its stream; it needs an XNIO IO thread for its wake-ups.
   */
  public final synchronized void keyInterval(long intervalMs) {
    keyIntervalNanos = TimeUnit.MILLISECONDS.toNanos(intervalMs);
  }

  /**
   * Under the lock, IO thread: whether the head message {@code m} must wait for its key's interval
   * (then a wake-up is armed for that instant), else records that its key is written now. A
   * finishing connection writes everything at once: its last event must not wait.
   */
  private boolean heldByInterval(Message m) {
    if (keyIntervalNanos <= 0 || m.conflationKey == null || finishCode != 0) {
      return false;
    }
    long now = System.nanoTime();
    if (keyNext == null) {
      keyNext = new java.util.HashMap<>();
      keySweepAt = 64;
    }
    Long next = keyNext.get(m.conflationKey);
    if (next != null && next - now > 0) {
      armWake(next, now);
      return true;
    }
    keyNext.put(m.conflationKey, now + keyIntervalNanos);
    if (keyNext.size() >= keySweepAt) {
      keyNext.values().removeIf(t -> t - now <= 0);
      keySweepAt = Math.max(64, keyNext.size() * 2);
    }
    return false;
  }

  /** Under the lock: flushes again at {@code at} (nanoTime), unless a wake-up comes earlier. */
  private void armWake(long at, long now) {
    if (wakeArmed && wakeAt - at <= 0) {
      return;
    }
    if (!(io instanceof org.xnio.XnioIoThread t)) {
      return;
    }
    if (wake == null) {
      wake =
          () -> {
            synchronized (this) {
              wakeArmed = false;
            }
            flushGuarded();
          };
    }
    long delayMs = Math.max(1, TimeUnit.NANOSECONDS.toMillis(at - now + 999_999));
    if (IoTimers.after(t, delayMs, TimeUnit.MILLISECONDS, wake) == null) {
      return; // the node is stopping: its IO threads take no tasks
    }
    wakeArmed = true;
    wakeAt = at;
  }

  /** IO thread: takes the next queued event into {@link #polledSeq}/{@link #polledItem}. */
  public final synchronized boolean poll() {
    while (size > 0 && items[head] == CONFLATED) {
      items[head] = null;
      head = (head + 1) % seqs.length;
      size--;
      tombstones--;
    }
    if (size == 0) {
      head = 0;
      return false;
    }
    if (items[head] instanceof Message held && heldByInterval(held)) {
      return false;
    }
    polledSeq = seqs[head];
    polledItem = items[head];
    items[head] = null;
    if (keyed != null && polledItem instanceof Message m && m.conflationKey != null) {
      keyed.remove(m.conflationKey, head);
    }
    long polledBytes = bytesOf(polledItem);
    queuedBytes -= polledBytes;
    replayBytes = Math.max(0, replayBytes - polledBytes);
    observe(polledItem);
    head = (head + 1) % seqs.length;
    size--;
    if (size == 0) {
      head = 0;
      if (seqs.length > SHRINK_ABOVE) {
        seqs = new long[INITIAL_CAPACITY];
        items = new Object[INITIAL_CAPACITY];
      }
    }
    return true;
  }

  /**
   * IO thread: the transport holds {@code bytes} more (a frame handed to the socket layer and not
   * yet written, its buffer included) or, negative, released them. They count against {@code
   * connectionQueueMaxBytes} with the queue, so a stalled connection pins at most the bound plus
   * one frame, however many events it was sent.
   */
  public final synchronized void pinned(long bytes) {
    pinnedBytes = Math.max(0, pinnedBytes + bytes);
  }

  public final synchronized long pinnedBytes() {
    return pinnedBytes;
  }

  public final synchronized int queued() {
    return size - tombstones;
  }

  public final synchronized void clearQueue() {
    queuedBytes = 0;
    replayBytes = 0;
    seqs = new long[INITIAL_CAPACITY];
    items = new Object[INITIAL_CAPACITY];
    head = 0;
    size = 0;
    tombstones = 0;
    keyed = null;
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
      } else if (!closed.get()) {
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
      if (!closed.get()) {
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
      ConnectionObserver o;
      synchronized (this) {
        o = ops;
      }
      if (o != null) {
        o.writeFailed(transport(), t);
      }
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
    if (ops != null) {
      ops.slowConsumer(transport(), user());
    }
    close(CloseCodes.SLOW_CONSUMER, "slow consumer");
  }

  /**
   * Issue #4: binds the node's observer (metrics) and the byte bound {@code
   * connectionQueueMaxBytes}; call before the connection is registered on its stream.
   */
  public final synchronized void operations(ConnectionObserver ops, long maxQueuedBytes) {
    this.ops = ops;
    this.maxQueuedBytes = maxQueuedBytes;
  }

  /**
   * The events queued so far are the connect-time replay: they do not count against {@code
   * connectionQueueMaxBytes} (a full replay must fit, as for the event bound). The byte bound
   * applies from this call on, to what is queued beyond the replay.
   */
  public final synchronized void replayQueued() {
    replayBytes = queuedBytes;
    replayQueued = true;
  }

  /** Approximate bytes an item pins while queued (the shared payload plus the envelope). */
  private static int bytesOf(Object item) {
    if (item instanceof Message m) {
      return m.tail.length + 64;
    }
    if (item instanceof Control c) {
      return c.json.length;
    }
    return item instanceof byte[] b ? b.length : 0;
  }

  /** Under the lock, IO thread: counts an event taken for writing. */
  private void observe(Object item) {
    if (ops == null) {
      return;
    }
    if (item instanceof Message m) {
      ops.delivered(transport(), m.acceptedAtNanos);
    } else if (item instanceof Control c && c.type.equals(EventTypes.RESET)) {
      ops.reset(c.toString().contains("\"epoch\"") ? EventTypes.RESET_EPOCH : EventTypes.RESET_GAP);
    }
  }

  /**
   * Issue #4 ({@code moved}, {@code reconnect}): stops taking events (detaches from the stream),
   * queues a last control event, and closes with {@code code} once everything queued is written, or
   * after {@code graceMs} at the latest.
   */
  public final void finish(String type, byte[] json, int code, String reason, long graceMs) {
    if (closed.get()) {
      return;
    }
    stream.detach(this);
    if (!offer(-1, new Control(type, null, json), code, reason)) {
      close(code, reason);
      return;
    }
    if (io instanceof org.xnio.XnioIoThread t) {
      schedule(t, () -> close(code, reason), graceMs);
    }
  }

  /**
   * IO thread: ends this connection when its token stops being valid, at {@code validUntilMs}
   * (epoch milliseconds, {@code exp} plus the leeway) as seen by the node's clock at {@code nowMs}.
   * WebSocket closes with 4001 ({@code unauthorized}: the client renews its token and reconnects);
   * SSE and long-poll end their response.
   *
   * <p>One timer per connection on the connection's own IO thread (XNIO's per-thread timer queue,
   * the same mechanism as heartbeats): no thread per connection, no scan over all connections, and
   * the close runs on the thread that owns the channel. The timer is removed when the connection
   * closes for another reason first, so a closed connection is not kept reachable until its expiry.
   */
  public final void closeAtTokenExpiry(long validUntilMs, long nowMs) {
    if (isClosed() || !(io instanceof org.xnio.XnioIoThread t)) {
      return;
    }
    long delayMs = Math.max(0, validUntilMs - nowMs);
    expiryKey = schedule(t, this::tokenExpired, delayMs);
  }

  private static final byte[] TOKEN_EXPIRED_JSON =
      ("{\"type\":\"" + EventTypes.TOKEN_EXPIRED + "\"}")
          .getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /** {@link ConnectionObserver#tokenExpiredGraceMs} without an observer (unit tests), ms. */
  static final long DEFAULT_TOKEN_EXPIRED_GRACE_MS = 5_000;

  /**
   * IO thread: the token is no longer valid. The default (WebSocket) closes with 4001; transports
   * without close codes override it to {@link #finishWithTokenExpired()}.
   */
  protected void tokenExpired() {
    close(CloseCodes.UNAUTHORIZED, "token expired");
  }

  /** Queues a {@code token_expired} event after what is queued, then ends the connection. */
  protected final void finishWithTokenExpired() {
    ConnectionObserver o;
    synchronized (this) {
      o = ops;
    }
    finish(
        EventTypes.TOKEN_EXPIRED,
        TOKEN_EXPIRED_JSON,
        CloseCodes.UNAUTHORIZED,
        "token expired",
        o == null ? DEFAULT_TOKEN_EXPIRED_GRACE_MS : o.tokenExpiredGraceMs());
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
    heartbeat =
        () -> {
          if (isClosed()) {
            return;
          }
          offer(-1, Control.PING);
          heartbeatKey = schedule(t, heartbeat, intervalMs);
        };
    heartbeatKey = schedule(t, heartbeat, intervalMs);
  }

  /**
   * IO thread: runs {@code task} after {@code delayMs} on {@code t}, or returns null when the IO
   * thread refuses it because the node is stopping (its channels are being closed, and this
   * connection with them): the timer is dropped and counted ({@link
   * ConnectionObserver#timerDropped}), not thrown into the IO thread, which would log a stack trace
   * per connection.
   */
  private org.xnio.XnioExecutor.Key schedule(org.xnio.XnioIoThread t, Runnable task, long delayMs) {
    return IoTimers.after(t, delayMs, TimeUnit.MILLISECONDS, task, this::timerDropped);
  }

  private void timerDropped() {
    ConnectionObserver o;
    synchronized (this) {
      o = ops;
    }
    if (o != null) {
      o.timerDropped();
    }
  }

  /** IO thread: transports call this when everything queued is written; ends a finishing one. */
  public final void closeIfFinished() {
    int code;
    String reason;
    synchronized (this) {
      if (finishCode == 0 || size > 0) {
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
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    stream.detach(this);
    Runnable end =
        () -> {
          try {
            if (expiryKey != null) {
              expiryKey.remove();
              expiryKey = null;
            }
            if (heartbeatKey != null) {
              heartbeatKey.remove();
              heartbeatKey = null;
            }
            closeTransport(code, reason);
          } finally {
            for (Runnable hook : closeHooks) {
              closeHooks.remove(hook);
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
