package dev.halley.node.admission;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.MutableClock;
import dev.halley.node.RecordingPresenceListener;
import dev.halley.node.config.OperationsConfig;
import dev.halley.node.metrics.NodeMetrics;
import dev.halley.node.presence.Presence;
import dev.halley.node.wire.HttpError;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ConnectionLimitsTest {
  private final MutableClock clock = new MutableClock(1_000_000);
  private final Readiness readiness = new Readiness();
  private final RecordingPresenceListener recorder = new RecordingPresenceListener();
  private final List<String> transitions = recorder.transitions;
  private final Presence presence = new Presence(recorder);
  private final NodeMetrics metrics = new NodeMetrics(new SimpleMeterRegistry());

  @AfterEach
  void close() {
    metrics.close();
  }

  private ConnectionLimits limits(ConnectionLimits.Options options) {
    readiness.mapLoaded();
    return new ConnectionLimits(options, clock, readiness, presence, metrics);
  }

  @Test
  void refusesConnectionsOverTheTotalWith503UntilOneCloses() {
    ConnectionLimits limits = limits(new ConnectionLimits.Options(2, 10, 100, 100, 10));
    ConnectionLimits.Lease a = limits.acquire("alice");
    limits.acquire("bob");
    HttpError e = assertThrows(HttpError.class, () -> limits.checkNew("10.0.0.1"));
    assertEquals(503, e.status());
    assertEquals("too_many_connections", e.code());
    e = assertThrows(HttpError.class, () -> limits.acquire("carol"));
    assertEquals(503, e.status());
    a.close();
    a.close(); // idempotent
    assertEquals(1, limits.connections());
    limits.checkNew("10.0.0.1");
    limits.acquire("carol");
    assertEquals(2, limits.connections());
    assertEquals(2.0, rejected("too_many_connections"));
  }

  @Test
  void refusesAUsersConnectionOverThePerUserLimit() {
    ConnectionLimits limits = limits(new ConnectionLimits.Options(100, 2, 100, 100, 10));
    limits.acquire("alice");
    ConnectionLimits.Lease second = limits.acquire("alice");
    HttpError e = assertThrows(HttpError.class, () -> limits.acquire("alice"));
    assertEquals(503, e.status());
    assertTrue(e.getMessage().contains("maxConnectionsPerUser"), e.getMessage());
    assertEquals(2, limits.connections(), "the refused one is not counted");
    limits.acquire("bob");
    second.close();
    limits.acquire("alice");
    assertEquals(2, presence.connections("alice"));
  }

  @Test
  void rateLimitsNewConnectionsPerAddressAndRefillsWithTime() {
    // 2 per second, bursts of 3.
    ConnectionLimits limits = limits(new ConnectionLimits.Options(100, 10, 2, 3, 10));
    for (int i = 0; i < 3; i++) {
      limits.checkNew("10.0.0.1");
    }
    HttpError e = assertThrows(HttpError.class, () -> limits.checkNew("10.0.0.1"));
    assertEquals(429, e.status());
    assertEquals("rate_limited", e.code());
    limits.checkNew("10.0.0.2"); // another address has its own bucket
    clock.advanceMillis(499);
    assertThrows(HttpError.class, () -> limits.checkNew("10.0.0.1"));
    clock.advanceMillis(1);
    limits.checkNew("10.0.0.1"); // 500 ms at 2/s = one token
    assertThrows(HttpError.class, () -> limits.checkNew("10.0.0.1"));
    clock.advanceMillis(60_000);
    for (int i = 0; i < 3; i++) {
      limits.checkNew("10.0.0.1"); // refilled to the burst, not beyond
    }
    assertThrows(HttpError.class, () -> limits.checkNew("10.0.0.1"));
    assertEquals(4.0, rejected("rate_limited"));
  }

  @Test
  void keepsAtMostMaxTrackedAddresses() {
    ConnectionLimits limits = limits(new ConnectionLimits.Options(100, 10, 1, 1, 100));
    for (int i = 0; i < 10_000; i++) {
      limits.checkNew("10.0." + (i / 256) + "." + (i % 256));
    }
    assertEquals(100, limits.trackedAddresses());
  }

  @Test
  void refusesEverythingWhileNotReadyOrDraining() {
    ConnectionLimits limits =
        new ConnectionLimits(
            ConnectionLimits.Options.of(OperationsConfig.defaults()),
            clock,
            readiness,
            presence,
            metrics);
    HttpError e = assertThrows(HttpError.class, () -> limits.checkNew("10.0.0.1"));
    assertEquals(503, e.status());
    assertEquals("not_ready", e.code());
    readiness.mapLoaded();
    limits.checkNew("10.0.0.1");
    readiness.startDraining();
    e = assertThrows(HttpError.class, () -> limits.checkNew("10.0.0.1"));
    assertEquals(503, e.status());
    assertEquals("draining", e.code());
  }

  @Test
  void leasesDrivePresenceTransitions() {
    ConnectionLimits limits = limits(ConnectionLimits.Options.of(OperationsConfig.defaults()));
    ConnectionLimits.Lease a1 = limits.acquire("alice");
    ConnectionLimits.Lease a2 = limits.acquire("alice");
    a1.close();
    a2.close();
    a2.close();
    assertEquals(List.of("online:alice", "offline:alice"), transitions);
    assertEquals(0, presence.connections("alice"));
    assertEquals(0, presence.onlineUsers());
  }

  @Test
  void optionsNameTheBadField() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> new ConnectionLimits.Options(0, 1, 1, 1, 1));
    assertTrue(e.getMessage().startsWith("maxConnections must be > 0"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> new ConnectionLimits.Options(1, 1, 0, 1, 1));
    assertTrue(e.getMessage().startsWith("newConnectionsPerSecondPerAddress"), e.getMessage());
  }

  private double rejected(String reason) {
    return metrics
        .registry()
        .get("halley.connections.rejected")
        .tag("reason", reason)
        .counter()
        .count();
  }
}
