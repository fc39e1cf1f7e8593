package dev.halley.router.internal;

import dev.halley.router.PublishResult;
import dev.halley.router.PublishResult.NodeResult;
import dev.halley.router.PublishResult.Outcome;
import dev.halley.router.PublishResult.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Collects the outcomes of one message's fragments and completes its future when the last one is
 * in. {@link #hold()} keeps it open across a re-route (count first, release after dispatching).
 */
final class PublishTracker {
  final String id;
  final String channel;
  final CompletableFuture<PublishResult> future = new CompletableFuture<>();
  private final Map<String, Outcome> outcomes = new ConcurrentHashMap<>();
  private final List<NodeResult> nodes = new ArrayList<>();
  private final AtomicInteger pending = new AtomicInteger();

  PublishTracker(String id, String channel) {
    this.id = id;
    this.channel = channel;
  }

  void hold() {
    pending.incrementAndGet();
  }

  void release() {
    if (pending.decrementAndGet() == 0) {
      List<NodeResult> nodesCopy;
      synchronized (nodes) {
        nodesCopy = List.copyOf(nodes);
      }
      future.complete(new PublishResult(id, channel, outcomes, nodesCopy));
    }
  }

  void user(String user, Status status, String node, String reason) {
    outcomes.put(user, new Outcome(status, node, reason));
  }

  void node(NodeResult result) {
    synchronized (nodes) {
      nodes.add(result);
    }
  }

  /** Fails every recipient of {@code fragment} and releases it. */
  void fail(Fragment fragment, String reason) {
    if (fragment.users != null) {
      for (String user : fragment.users) {
        user(user, Status.FAILED, fragment.nodeId, reason);
      }
    } else {
      node(new NodeResult(fragment.nodeId, 0, 0, reason));
    }
    release();
  }
}
