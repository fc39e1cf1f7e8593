package dev.halley.node.presence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.RecordingPresenceListener;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The offline report waits {@code offlineDelayMs}; a reconnect within it reports nothing. */
class PresenceDebounceTest {
  private final RecordingPresenceListener recorder = new RecordingPresenceListener();
  private final List<String> transitions = recorder.transitions;
  private final List<Runnable> timers = new ArrayList<>();
  private final List<Boolean> cancelled = new ArrayList<>();
  private final Presence presence =
      new Presence(
          recorder,
          5_000,
          (task, delayMs) -> {
            assertEquals(5_000, delayMs);
            int i = timers.size();
            timers.add(task);
            cancelled.add(false);
            return () -> cancelled.set(i, true);
          });

  @Test
  void aReconnectWithinTheDelayKeepsTheUserOnlineWithoutReports() {
    assertTrue(presence.tryConnect("alice", 10));
    presence.disconnected("alice"); // a long-poll between two requests
    assertEquals(0, presence.connections("alice"));
    assertTrue(presence.tryConnect("alice", 10));
    assertEquals(List.of("online:alice"), transitions);
    assertTrue(cancelled.get(0));
    timers.get(0).run(); // a timer that fires anyway changes nothing
    assertEquals(List.of("online:alice"), transitions);
    assertEquals(1, presence.connections("alice"));
  }

  @Test
  void reportsOfflineWhenTheDelayPassesWithoutAReconnect() {
    presence.tryConnect("alice", 10);
    presence.tryConnect("alice", 10);
    presence.disconnected("alice");
    presence.disconnected("alice");
    assertEquals(1, timers.size());
    assertEquals(List.of("online:alice"), transitions);
    timers.get(0).run();
    assertEquals(List.of("online:alice", "offline:alice"), transitions);
    presence.tryConnect("alice", 10);
    assertEquals(List.of("online:alice", "offline:alice", "online:alice"), transitions);
    assertFalse(cancelled.get(0));
  }

  @Test
  void flushReportsPendingOfflinesAtOnce() {
    presence.tryConnect("alice", 10);
    presence.tryConnect("bob", 10);
    presence.disconnected("alice");
    assertEquals(1, presence.flushPendingOffline());
    assertEquals(List.of("online:alice", "online:bob", "offline:alice"), transitions);
    assertEquals(1, presence.onlineUsers());
  }
}
