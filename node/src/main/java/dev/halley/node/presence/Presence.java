package dev.halley.node.presence;

import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Counts each user's live connections on this node, answers {@code GET /v1/users/{user}/presence},
 * and reports a user's first connection and last disconnection to a {@link Listener} (the {@link
 * PresenceWebhook}).
 *
 * <pre>{@code
 * Presence presence = new Presence(Presence.Listener.of(webhook), 5_000, scheduler);
 * if (presence.tryConnect("alice", 10)) { ...; presence.disconnected("alice"); }
 * presence.connections("alice"); // 0; "offline" is reported 5 s later unless alice reconnects
 * }</pre>
 *
 * <p>Offline is debounced: the last disconnection reports {@code offline} only if the user has not
 * reconnected within {@code offlineDelayMs} (a long-poll client between two requests, a WebSocket
 * reconnecting after {@code reconnect} or {@code slow_consumer}, stays online); 0 reports at once.
 *
 * <p>Thread-safe. The listener is called while the user's entry is locked, so one user's {@code
 * online}/{@code offline} calls alternate and are never reordered; it must not block (the webhook
 * only queues). Memory: one entry per connected user, plus users whose offline is pending.
 */
public final class Presence {
  /** Receives presence transitions; called on the connecting, disconnecting or timer thread. */
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

  /** Runs a task after a delay; returns the action that cancels it. */
  public interface Scheduler {
    Runnable schedule(Runnable task, long delayMs);
  }

  private static final class Entry {
    volatile int count;
    Runnable cancelOffline; // guarded by the map's lock on this user's entry
  }

  private final ConcurrentHashMap<String, Entry> entries = new ConcurrentHashMap<>();
  private final Listener listener;
  private final long offlineDelayMs;
  private final Scheduler scheduler;

  /** Reports offline at once. */
  public Presence(Listener listener) {
    this(listener, 0, null);
  }

  /**
   * @param offlineDelayMs how long a user must stay without connections before {@code offline} is
   *     reported, milliseconds; 0 for at once
   * @param scheduler runs the delayed offline reports (required when {@code offlineDelayMs > 0})
   */
  public Presence(Listener listener, long offlineDelayMs, Scheduler scheduler) {
    this.listener = Objects.requireNonNull(listener, "listener");
    if (offlineDelayMs < 0) {
      throw new IllegalArgumentException("presenceOfflineDelayMs must be >= 0: " + offlineDelayMs);
    }
    if (offlineDelayMs > 0) {
      Objects.requireNonNull(scheduler, "scheduler");
    }
    this.offlineDelayMs = offlineDelayMs;
    this.scheduler = scheduler;
  }

  /**
   * Counts one more connection of {@code user} unless it already has {@code maxPerUser}; returns
   * whether it was counted. The first one calls {@link Listener#online} (unless an offline report
   * was pending: then that is cancelled and the user simply stays online).
   */
  public boolean tryConnect(String user, int maxPerUser) {
    boolean[] ok = {false};
    entries.compute(
        user,
        (u, e) -> {
          Entry entry = e == null ? new Entry() : e;
          if (entry.count >= maxPerUser) {
            return e;
          }
          ok[0] = true;
          if (entry.count == 0) {
            if (entry.cancelOffline != null) {
              entry.cancelOffline.run();
              entry.cancelOffline = null;
            } else {
              safely(() -> listener.online(u));
            }
          }
          entry.count++;
          return entry;
        });
    return ok[0];
  }

  /** Counts one connection of {@code user} less; the last one reports {@code offline}. */
  public void disconnected(String user) {
    entries.computeIfPresent(
        user,
        (u, e) -> {
          if (e.count > 1) {
            e.count--;
            return e;
          }
          if (e.count == 0) {
            return e; // already pending
          }
          e.count = 0;
          if (offlineDelayMs == 0) {
            safely(() -> listener.offline(u));
            return null;
          }
          e.cancelOffline = scheduler.schedule(() -> offlineIfStillGone(u, e), offlineDelayMs);
          return e;
        });
  }

  private void offlineIfStillGone(String user, Entry pending) {
    entries.computeIfPresent(
        user,
        (u, e) -> {
          if (e != pending || e.count > 0 || e.cancelOffline == null) {
            return e; // reconnected meanwhile
          }
          safely(() -> listener.offline(u));
          return null;
        });
  }

  /** Reports every pending {@code offline} now (the node is stopping); returns how many. */
  public int flushPendingOffline() {
    int[] n = {0};
    for (String user : entries.keySet()) {
      entries.computeIfPresent(
          user,
          (u, e) -> {
            if (e.count > 0 || e.cancelOffline == null) {
              return e;
            }
            e.cancelOffline.run();
            n[0]++;
            safely(() -> listener.offline(u));
            return null;
          });
    }
    return n[0];
  }

  /** Live connections of {@code user} on this node. */
  public int connections(String user) {
    Entry e = entries.get(user);
    return e == null ? 0 : e.count;
  }

  /** Users with at least one live connection. */
  public int onlineUsers() {
    int n = 0;
    for (Entry e : entries.values()) {
      if (e.count > 0) {
        n++;
      }
    }
    return n;
  }

  @Override
  public String toString() {
    return "Presence{onlineUsers=" + onlineUsers() + ", offlineDelayMs=" + offlineDelayMs + "}";
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
