package dev.halley.router;

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
 * in. Every fragment is held once ({@link #hold()}) and released once; a re-route or a partial
 * retry holds its new fragment before the old one is released.
 */
final class PublishTracker {
  final String id;
  final String channel;
  final CompletableFuture<PublishResult> future = new CompletableFuture<>();
  private final Map<String, Outcome> outcomes = new ConcurrentHashMap<>();
  private final List<NodeResult> nodes = new ArrayList<>(); // guarded by itself
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

  /** Gives every recipient of {@code f} {@code status} (FAILED or UNKNOWN) with {@code reason}. */
  void settleAll(Fragment f, Status status, String reason) {
    if (f.users != null) {
      if (f.silent) {
        return; // a second send: the old owner's outcome stands
      }
      for (String user : f.users) {
        user(user, status, f.nodeId, reason);
      }
    } else if (!f.silent) {
      node(new NodeResult(f.nodeId, status, 0, 0, reason));
    }
  }
}
