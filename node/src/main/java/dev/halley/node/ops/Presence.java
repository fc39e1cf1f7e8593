package dev.halley.node.ops;

import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Counts each user's live connections on this node, answers {@code GET /v1/users/{user}/presence},
 * and reports a user's first connection and last disconnection to a {@link Listener} (the {@link
 * PresenceWebhook}).
 *
 * <pre>{@code
 * Presence presence = new Presence(Presence.Listener.of(webhook));
 * if (presence.tryConnect("alice", 10)) { ...; presence.disconnected("alice"); }
 * presence.connections("alice"); // 0
 * }</pre>
 *
 * <p>Thread-safe. The listener is called while the user's entry is locked, so one user's {@code
 * online}/{@code offline} calls are never reordered; it must not block (the webhook only queues).
 * Memory: one entry per connected user, removed at its last disconnection.
 */
public final class Presence {
  /** Receives presence transitions; called on the connecting or disconnecting thread. */
  public interface Listener {
    void online(String user);

    void offline(String user);

    /** No-op listener (no webhook configured). */
    Listener NONE =
        new Listener() {
          @Override
          public void online(String user) {}

          @Override
          public void offline(String user) {}
        };

    /** Forwards transitions to the webhook. */
    static Listener of(PresenceWebhook webhook) {
      return new Listener() {
        @Override
        public void online(String user) {
          webhook.online(user);
        }

        @Override
        public void offline(String user) {
          webhook.offline(user);
        }
      };
    }
  }

  private final ConcurrentHashMap<String, Integer> counts = new ConcurrentHashMap<>();
  private final Listener listener;

  public Presence(Listener listener) {
    this.listener = Objects.requireNonNull(listener, "listener");
  }

  /**
   * Counts one more connection of {@code user} unless it already has {@code maxPerUser}; returns
   * whether it was counted. The first one calls {@link Listener#online}.
   */
  public boolean tryConnect(String user, int maxPerUser) {
    boolean[] ok = {false};
    counts.compute(
        user,
        (u, n) -> {
          int c = n == null ? 0 : n;
          if (c >= maxPerUser) {
            return n;
          }
          ok[0] = true;
          if (c == 0) {
            safely(() -> listener.online(u));
          }
          return c + 1;
        });
    return ok[0];
  }

  /** Counts one connection of {@code user} less; the last one calls {@link Listener#offline}. */
  public void disconnected(String user) {
    counts.computeIfPresent(
        user,
        (u, n) -> {
          if (n <= 1) {
            safely(() -> listener.offline(u));
            return null;
          }
          return n - 1;
        });
  }

  /** Live connections of {@code user} on this node. */
  public int connections(String user) {
    return counts.getOrDefault(user, 0);
  }

  /** Users with at least one live connection. */
  public int onlineUsers() {
    return counts.size();
  }

  @Override
  public String toString() {
    return "Presence{onlineUsers=" + counts.size() + "}";
  }

  private static void safely(Runnable r) {
    try {
      r.run();
    } catch (RuntimeException e) {
      org.slf4j.LoggerFactory.getLogger(Presence.class)
          .warn("event=presence_listener_failed message=\"ignored\"", e);
    }
  }
}
