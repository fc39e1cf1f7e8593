package dev.halley.node.stream;

import dev.halley.node.wire.Message;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The node-wide memory budget of all resume buffers (issue 11 item 8): a message buffered for any
 * number of users counts its bytes once, plus {@link #ENTRY_BYTES} per user holding it. Over the
 * budget, the node's oldest buffered events are dropped first, whoever holds them ({@link
 * UserStream#dropForBudget}); a client resuming from before them gets {@code reset} ({@code gap}).
 *
 * <p>Threading: {@link #added}/{@link #removed} are called with the stream's lock held and take
 * only this object's short lock (stream, then budget); {@link #enforce()} is called with no stream
 * lock held and takes the budget lock and a stream lock one after the other, never nested.
 */
public final class BufferBudget {
  /** What one buffered reference costs besides the message bytes: slot, seq, order entry. */
  public static final int ENTRY_BYTES = 48;

  private final long budgetBytes;
  private final AtomicLong used = new AtomicLong();
  private final AtomicLong entries = new AtomicLong();
  private final AtomicLong evicted = new AtomicLong();

  private record Entry(UserStream stream, long seq) {}

  // Guarded by this: buffered references, oldest first (some stale: already dropped).
  private final ArrayDeque<Entry> order = new ArrayDeque<>();

  public BufferBudget(long budgetBytes) {
    this.budgetBytes = budgetBytes;
  }

  /** No budget (tests of streams alone). */
  static BufferBudget unlimited() {
    return new BufferBudget(Long.MAX_VALUE);
  }

  /** Stream lock held: {@code m} was appended to {@code s} at {@code seq}. */
  void added(UserStream s, long seq, Message m) {
    long add = ENTRY_BYTES;
    if (m.retainBuffered()) {
      add += m.tail.length;
    }
    used.addAndGet(add);
    long live = entries.incrementAndGet();
    synchronized (this) {
      order.addLast(new Entry(s, seq));
      if (order.size() > 2 * live + 1024) {
        compact();
      }
    }
  }

  /** Stream lock held: one buffered reference to {@code m} went (any reason). */
  void removed(Message m) {
    long sub = ENTRY_BYTES;
    if (m.releaseBuffered()) {
      sub += m.tail.length;
    }
    used.addAndGet(-sub);
    entries.decrementAndGet();
  }

  /** No stream lock held: drops the oldest buffered events until the buffers fit the budget. */
  public void enforce() {
    while (used.get() > budgetBytes) {
      Entry e;
      synchronized (this) {
        e = order.pollFirst();
      }
      if (e == null) {
        return;
      }
      evicted.addAndGet(e.stream.dropForBudget(e.seq));
    }
  }

  private void compact() {
    for (Iterator<Entry> it = order.iterator(); it.hasNext(); ) {
      Entry e = it.next();
      if (e.seq < e.stream.firstBufferedSeq()) {
        it.remove();
      }
    }
  }

  /** Bytes the buffers hold now. */
  public long usedBytes() {
    return used.get();
  }

  public long budgetBytes() {
    return budgetBytes;
  }

  /** Buffered references (one per user per event). */
  public long entries() {
    return entries.get();
  }

  /** Events dropped because the budget was full. */
  public long evicted() {
    return evicted.get();
  }

  @Override
  public String toString() {
    return "BufferBudget{" + used.get() + "/" + budgetBytes + " bytes}";
  }
}
