package dev.halley.node.stream;

import dev.halley.node.wire.Control;
import dev.halley.node.wire.Message;

/**
 * The byte accounting of a connection's outbound queue against {@code connectionQueueMaxBytes}
 * (issue #4): the bytes its queued events pin, the part of them that is the connect-time replay
 * (exempt from the bound, as a full replay must fit), and the bytes the transport still holds for
 * events already taken (frames in flight), which count against the bound with the queue.
 *
 * <p>Owner: the {@link Connection} that holds it. Not thread-safe: every method runs with that
 * connection's lock held.
 */
final class QueueBytes {
  private long max = Long.MAX_VALUE;
  private long queued;
  private long replay;
  private boolean replayQueued;
  private long pinned;

  /** Approximate bytes an item pins while queued (the shared payload plus the envelope). */
  static int of(Object item) {
    if (item instanceof Message m) {
      return m.tail.length + 64;
    }
    if (item instanceof Control c) {
      return c.json.length;
    }
    return item instanceof byte[] b ? b.length : 0;
  }

  /** The bound {@code connectionQueueMaxBytes}, in bytes. */
  void max(long maxBytes) {
    this.max = maxBytes;
  }

  /**
   * Whether {@code bytes} more would pass the bound. Before {@link #replayQueued} nothing does; an
   * event that finds nothing queued and nothing in flight is always taken (one event may exceed the
   * bound on its own).
   */
  boolean wouldExceed(int bytes, boolean queueEmpty) {
    return replayQueued && (!queueEmpty || pinned > 0) && queued + pinned - replay + bytes > max;
  }

  /** An event of {@code bytes} was queued. */
  void added(int bytes) {
    queued += bytes;
  }

  /** An event of {@code bytes} left the queue (taken for writing, or conflated away). */
  void removed(long bytes) {
    queued -= bytes;
    replay = Math.max(0, replay - bytes);
  }

  /** What is queued now is the replay: the bound applies to what is queued beyond it. */
  void replayQueued() {
    replay = queued;
    replayQueued = true;
  }

  /** The transport holds {@code bytes} more for taken events, or (negative) released them. */
  void pinned(long bytes) {
    pinned = Math.max(0, pinned + bytes);
  }

  long pinned() {
    return pinned;
  }

  /** The queue was emptied: nothing of it is queued or replay any more (in-flight bytes stay). */
  void queueCleared() {
    queued = 0;
    replay = 0;
  }
}
