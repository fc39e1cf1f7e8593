package dev.halley.router;

import dev.halley.router.PublishResult.Status;
import dev.halley.router.internal.NodeClient;
import java.time.Duration;

/** Calls the application's listener, swallowing what it throws: metrics never fail a publish. */
final class SafeListener implements PublisherListener, NodeClient.Events {
  private final PublisherListener delegate;

  SafeListener(PublisherListener delegate) {
    this.delegate = delegate;
  }

  @Override
  public void requestCompleted(
      String node, String kind, int messages, int status, Duration latency) {
    try {
      delegate.requestCompleted(node, kind, messages, status, latency);
    } catch (RuntimeException ignored) {
      // A listener failure must not fail a publish.
    }
  }

  @Override
  public void requestFailed(
      String node, String kind, int messages, String reason, Duration latency) {
    try {
      delegate.requestFailed(node, kind, messages, reason, latency);
    } catch (RuntimeException ignored) {
      // A listener failure must not fail a publish.
    }
  }

  @Override
  public void retryScheduled(String node, int attempt, Duration delay) {
    try {
      delegate.retryScheduled(node, attempt, delay);
    } catch (RuntimeException ignored) {
      // A listener failure must not fail a publish.
    }
  }

  @Override
  public void recipientsFailed(String node, String reason, int count) {
    try {
      delegate.recipientsFailed(node, reason, count);
    } catch (RuntimeException ignored) {
      // A listener failure must not fail a publish.
    }
  }

  /** {@code count} recipients got {@code status} FAILED or UNKNOWN for {@code reason}. */
  void recipients(String node, Status status, String reason, int count) {
    if (status == Status.UNKNOWN) {
      recipientsUnknown(node, reason, count);
    } else {
      recipientsFailed(node, reason, count);
    }
  }

  /**
   * {@code count} recipients of {@code f} on {@code node} got FAILED or UNKNOWN for {@code reason};
   * when {@code f} is a second send whose outcome the app does not hear (the old owner's stands),
   * its lost relays are reported too.
   */
  void recipients(Fragment f, String node, Status status, String reason, int count) {
    recipients(node, status, reason, count);
    if (f.second && f.silent && f.users != null) {
      relaysLost(node, reason, count);
    }
  }

  @Override
  public void relaysLost(String node, String reason, int count) {
    try {
      delegate.relaysLost(node, reason, count);
    } catch (RuntimeException ignored) {
      // A listener failure must not fail a publish.
    }
  }

  @Override
  public void recipientsUnknown(String node, String reason, int count) {
    try {
      delegate.recipientsUnknown(node, reason, count);
    } catch (RuntimeException ignored) {
      // A listener failure must not fail a publish.
    }
  }

  @Override
  public void rerouted(String fromNode, int count) {
    try {
      delegate.rerouted(fromNode, count);
    } catch (RuntimeException ignored) {
      // A listener failure must not fail a publish.
    }
  }

  @Override
  public void mapChanged(long version, int nodes) {
    try {
      delegate.mapChanged(version, nodes);
    } catch (RuntimeException ignored) {
      // A listener failure must not fail a publish.
    }
  }

  @Override
  public void mapLoadFailed(Throwable error) {
    try {
      delegate.mapLoadFailed(error);
    } catch (RuntimeException ignored) {
      // A listener failure must not fail a publish.
    }
  }
}
