package dev.halley.router.internal;

import java.net.URI;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * The send queue of one node: at most maxInFlightRequests publish requests in flight; while the
 * window is full, fragments wait (at most maxQueuedMessages) and the next request takes up to
 * maxBatchMessages of them. One lane per node, so a slow node only fills its own queue.
 */
final class NodeLane {
  final String nodeId;
  private final HttpPublisher publisher;
  private final Settings settings;
  private final Semaphore room;
  private final ArrayDeque<Fragment> queue = new ArrayDeque<>();
  private volatile URI publishUri;
  private int inFlight; // guarded by this

  NodeLane(String nodeId, URI internalUrl, HttpPublisher publisher) {
    this.nodeId = nodeId;
    this.publisher = publisher;
    this.settings = publisher.settings;
    this.room = new Semaphore(settings.maxQueuedMessages());
    this.publishUri = Wire.resolve(internalUrl, Wire.PUBLISH_PATH);
  }

  void internalUrl(URI internalUrl) {
    this.publishUri = Wire.resolve(internalUrl, Wire.PUBLISH_PATH);
  }

  URI publishUri() {
    return publishUri;
  }

  /**
   * Queues {@code fragment}, waiting up to maxBlock for room; false when there was none (the caller
   * fails the fragment with backlog_full).
   */
  boolean offer(Fragment fragment, boolean mayBlock) {
    boolean admitted;
    long blockNanos = mayBlock ? settings.maxBlock().toNanos() : 0;
    if (blockNanos == 0) {
      admitted = room.tryAcquire();
    } else {
      try {
        admitted = room.tryAcquire(blockNanos, TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        admitted = false;
      }
    }
    if (!admitted) {
      return false;
    }
    synchronized (this) {
      queue.addLast(fragment);
    }
    pump();
    return true;
  }

  /** Sends queued fragments while the window has room. */
  void pump() {
    while (true) {
      List<Fragment> batch;
      synchronized (this) {
        if (inFlight >= settings.maxInFlightRequests() || queue.isEmpty()) {
          return;
        }
        batch = takeBatch();
        inFlight++;
      }
      room.release(batch.size());
      new PublishCall(publisher, this, batch, this::requestDone).start();
    }
  }

  private List<Fragment> takeBatch() {
    List<Fragment> batch = new ArrayList<>(Math.min(queue.size(), settings.maxBatchMessages()));
    int users = 0;
    long bytes = 0;
    while (!queue.isEmpty() && batch.size() < settings.maxBatchMessages()) {
      Fragment next = queue.peekFirst();
      if (!batch.isEmpty()
          && (users + next.userCount() > settings.maxUsersPerRequest()
              || bytes + next.dataJson.length() > settings.maxRequestBytes())) {
        break;
      }
      queue.pollFirst();
      batch.add(next);
      users += next.userCount();
      bytes += next.dataJson.length();
    }
    return batch;
  }

  private void requestDone() {
    synchronized (this) {
      inFlight--;
    }
    pump();
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
