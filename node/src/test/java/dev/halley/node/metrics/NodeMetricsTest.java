package dev.halley.node.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class NodeMetricsTest {
  @Test
  void countsByTransportAndMapsUnknownTransportsToOther() {
    MeterRegistry registry = new SimpleMeterRegistry();
    try (NodeMetrics metrics = new NodeMetrics(registry)) {
      metrics.connectionOpened(NodeMetrics.WEBSOCKET);
      metrics.connectionOpened("ws");
      metrics.connectionOpened(NodeMetrics.SSE);
      metrics.connectionClosed(NodeMetrics.SSE);
      metrics.connectionOpened("/v1/some/raw/path");
      metrics.delivered(NodeMetrics.LONGPOLL, 3);
      metrics.slowConsumerDisconnected(NodeMetrics.WEBSOCKET);
      metrics.dropped("made-up", 2);

      assertEquals(2, metrics.connections(NodeMetrics.WEBSOCKET));
      assertEquals(0, metrics.connections(NodeMetrics.SSE));
      assertEquals(1, metrics.connections(NodeMetrics.OTHER));
      assertEquals(
          2.0, registry.get("halley.connections").tag("transport", "websocket").gauge().value());
      assertEquals(
          3.0,
          registry.get("halley.events.delivered").tag("transport", "longpoll").counter().count());
      assertEquals(
          1.0,
          registry
              .get("halley.slow_consumer.disconnects")
              .tag("transport", "websocket")
              .counter()
              .count());
      assertEquals(
          2.0, registry.get("halley.events.dropped").tag("reason", "other").counter().count());
      // No tag value outside the fixed sets, whatever the callers passed.
      for (Meter m : registry.getMeters()) {
        String t = m.getId().getTag("transport");
        assertTrue(
            t == null || NodeMetrics.TRANSPORTS.contains(t) || t.equals("other"),
            m.getId().toString());
      }
    }
  }

  @Test
  void prometheusTextHasTheHalleyAndJvmMetersWithTheirValues() {
    try (NodeMetrics metrics = NodeMetrics.prometheus()) {
      metrics.connectionOpened(NodeMetrics.WEBSOCKET);
      metrics.published(5);
      metrics.buffered(2);
      metrics.misdirected(1);
      metrics.reset("gap");
      metrics.clientMoved(NodeMetrics.SSE);
      metrics.clientDrained(NodeMetrics.POLL);
      metrics.connectionRejected(NodeMetrics.REJECT_RATE_LIMITED);
      metrics.mapReload(7, true);
      metrics.publishLatency(Duration.ofMillis(3).toNanos());
      metrics.publishLatency(Duration.ofMillis(30).toNanos());

      String text = metrics.scrape().orElseThrow();
      assertContains(text, "halley_connections{transport=\"websocket\"} 1");
      assertContains(text, "halley_events_published_total 5");
      assertContains(text, "halley_events_buffered_total 2");
      assertContains(text, "halley_publish_misdirected_total 1");
      assertContains(text, "halley_resets_total{reason=\"gap\"} 1");
      assertContains(text, "halley_clients_moved_total{transport=\"sse\"} 1");
      assertContains(text, "halley_clients_drained_total{transport=\"poll\"} 1");
      assertContains(text, "halley_connections_rejected_total{reason=\"rate_limited\"} 1");
      assertContains(text, "halley_map_version 7");
      assertContains(text, "halley_publish_latency_seconds_count 2");
      assertContains(text, "halley_publish_latency_seconds_bucket{le=\"0.005\"} 1");
      assertContains(text, "halley_publish_latency_seconds_bucket{le=\"0.05\"} 2");
      assertContains(text, "halley_publish_latency_seconds_bucket{le=\"+Inf\"} 2");
      assertContains(text, "jvm_memory_used_bytes");
      assertContains(text, "jvm_threads_live_threads");
      assertContains(text, "jvm_gc_");
    }
  }

  @Test
  void aFailingRegistryNeverFailsTheCaller() {
    MeterRegistry broken =
        new SimpleMeterRegistry() {
          @Override
          protected Counter newCounter(Meter.Id id) {
            return new Counter() {
              @Override
              public void increment(double amount) {
                throw new IllegalStateException("registry is broken");
              }

              @Override
              public double count() {
                return 0;
              }

              @Override
              public Meter.Id getId() {
                return id;
              }
            };
          }
        };
    try (NodeMetrics metrics = new NodeMetrics(broken)) {
      metrics.published(1);
      metrics.delivered(NodeMetrics.SSE, 1);
      metrics.connectionOpened(NodeMetrics.SSE);
      assertEquals(3, metrics.recordingFailures());
      assertEquals(metrics.scrape().isPresent(), false);
    }
  }

  private static void assertContains(String text, String expected) {
    assertTrue(text.contains(expected), "missing <" + expected + "> in:\n" + text);
  }
}
