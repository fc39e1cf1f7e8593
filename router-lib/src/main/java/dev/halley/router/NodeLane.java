package dev.halley.router;

import dev.halley.router.internal.Wire;
import java.net.URI;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * The send queue of one node: at most maxInFlightRequests publish requests in flight; while the
 * window is full, or a fragment waits for an earlier message to one of its recipients ({@link
 * RecipientOrder}), fragments wait here (at most maxQueuedMessages), and the next request takes up
 * to maxBatchMessages sendable ones, in queue order. One lane per node, so a slow node only fills
 * its own queue. The queue and the window count are guarded by this object; the lane calls into the
 * {@link RecipientOrder} (whose lock nests inside this one), never the other way round.
 */
final class NodeLane {
  final String nodeId;
  private final ClusterPublisher publisher;
  private final Settings settings;
  private final Semaphore room;
  private final ArrayDeque<Fragment> queue = new ArrayDeque<>();
  private final int lookahead;
  private volatile URI publishUri;
  private int inFlight; // guarded by this

  NodeLane(String nodeId, URI internalUrl, ClusterPublisher publisher) {
    this.nodeId = nodeId;
    this.publisher = publisher;
    this.settings = publisher.settings;
    this.room = new Semaphore(settings.maxQueuedMessages());
    this.lookahead = Math.max(64, 4 * settings.maxBatchMessages());
    this.publishUri = Wire.resolve(internalUrl, Wire.PUBLISH_PATH);
  }

  void internalUrl(URI internalUrl) {
    this.publishUri = Wire.resolve(internalUrl, Wire.PUBLISH_PATH);
  }

  URI publishUri() {
    return publishUri;
  }

  /**
   * Takes room for one fragment in the queue, waiting up to maxBlock when {@code mayBlock}; false
   * when there was none (the caller fails the fragment with backlog_full). Room is taken before a
   * message is registered in the {@link RecipientOrder}, so a caller never waits for room while
   * holding a place that queued fragments wait behind.
   */
  boolean reserve(boolean mayBlock) {
    long blockNanos = mayBlock ? settings.maxBlock().toNanos() : 0;
    if (blockNanos == 0) {
      return room.tryAcquire();
    }
    try {
      return room.tryAcquire(blockNanos, TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /**
   * Queues {@code fragment}, for which {@link #reserve} took room, in registration order ({@link
   * Fragment#seq}): usually at the back; a fragment that holds older places (a re-route, a later
   * channel phase, a relay held while the pending map was fetched) goes before the younger ones. So
   * no queued fragment ever stands ahead of one it waits for, and the bounded look-ahead of {@link
   * #takeBatch} always reaches a fragment that can go: a fragment queued at the back behind more
   * than {@code lookahead} fragments waiting for it would otherwise never be looked at (no wake-up
   * comes: nothing ahead of it can settle) and expire unsent.
   */
  void enqueue(Fragment fragment) {
    synchronized (this) {
      Fragment last = queue.peekLast();
      if (last == null || last.seq <= fragment.seq) {
        queue.addLast(fragment);
      } else if (queue.peekFirst().seq > fragment.seq) {
        queue.addFirst(fragment);
      } else {
        ArrayDeque<Fragment> younger = new ArrayDeque<>();
        while (queue.peekLast().seq > fragment.seq) {
          younger.addFirst(queue.pollLast());
        }
        queue.addLast(fragment);
        queue.addAll(younger);
      }
    }
  }

  /** Sends sendable queued fragments while the window has room. */
  void pump() {
    while (true) {
      List<Fragment> batch;
      synchronized (this) {
        if (inFlight >= settings.maxInFlightRequests() || queue.isEmpty()) {
          return;
        }
        batch = takeBatch();
        if (batch.isEmpty()) {
          return; // everything queued waits for an earlier message to the same recipient
        }
        inFlight++;
      }
      room.release(batch.size());
      new PublishRequest(publisher, this, batch, this::requestDone).start();
    }
  }

  /**
   * Up to maxBatchMessages sendable fragments in queue order, looking at most {@code lookahead}
   * fragments deep (so a recipient with a long backlog costs bounded work per request).
   */
  private List<Fragment> takeBatch() {
    Object token = new Object();
    List<Fragment> batch = new ArrayList<>();
    int users = 0;
    long bytes = 0;
    int looked = 0;
    for (Iterator<Fragment> it = queue.iterator();
        it.hasNext() && batch.size() < settings.maxBatchMessages() && looked < lookahead;
        looked++) {
      Fragment next = it.next();
      if (!batch.isEmpty()
          && (users + next.userCount() > settings.maxUsersPerRequest()
              || bytes + next.dataJson.length() > settings.maxRequestBytes())) {
        break;
      }
      if (publisher.order.tryTake(next, token)) {
        it.remove();
        batch.add(next);
        users += next.userCount();
        bytes += next.dataJson.length();
      }
    }
    return batch;
  }

  private void requestDone() {
    synchronized (this) {
      inFlight--;
    }
    pump();
  }

  /** Fragments queued here, not yet sent (for tests and diagnostics). */
  synchronized int queued() {
    return queue.size();
  }

  /** Removes the queued fragments whose deadline has passed; the caller fails them. */
  List<Fragment> expire(long nowNanos) {
    List<Fragment> expired = new ArrayList<>();
    synchronized (this) {
      for (Iterator<Fragment> it = queue.iterator(); it.hasNext(); ) {
        Fragment f = it.next();
        if (nowNanos - f.deadlineNanos >= 0) {
          it.remove();
          expired.add(f);
        }
      }
    }
    room.release(expired.size());
    return expired;
  }

  /** Removes every queued fragment (on close); the caller fails them. */
  List<Fragment> drain() {
    List<Fragment> drained;
    synchronized (this) {
      drained = new ArrayList<>(queue);
      queue.clear();
    }
    room.release(drained.size());
    return drained;
  }

  @Override
  public String toString() {
    return "NodeLane{" + nodeId + " " + publishUri + "}";
  }
}
