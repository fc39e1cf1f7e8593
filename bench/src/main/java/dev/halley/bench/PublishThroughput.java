package dev.halley.bench;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.HalleyNode;
import dev.halley.node.config.NodeConfig;
import dev.halley.router.MapSource;
import dev.halley.router.Publisher;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Unicast publish throughput through router-lib to one local node, end to end: every message goes
 * to a distinct user, and a message counts once its future completed with a stored outcome
 * (DELIVERED or BUFFERED). The node runs in this JVM on 127.0.0.1, port 0.
 *
 * <p>Usage: {@code PublishThroughput [messages=200000] [outstanding=20000] [maxBatchMessages=256]
 * [maxInFlightRequests=8]}. Prints messages per second for a warm-up run and a measured run.
 */
public final class PublishThroughput {
  private static final String API_KEY = "bench-api-key-0123456789";

  private PublishThroughput() {}

  public static void main(String[] args) throws Exception {
    int messages = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
    int outstanding = args.length > 1 ? Integer.parseInt(args[1]) : 20_000;
    int batch = args.length > 2 ? Integer.parseInt(args[2]) : 256;
    int inFlight = args.length > 3 ? Integer.parseInt(args[3]) : 8;

    URI placeholder = URI.create("http://127.0.0.1:1");
    ClusterMap provisional = ClusterMap.of(1, List.of(new NodeInfo("a", placeholder, placeholder)));
    HalleyNode node =
        HalleyNode.start(
            NodeConfig.builder()
                .nodeId("a")
                .map(provisional)
                .publicHost("127.0.0.1")
                .publicPort(0)
                .internalHost("127.0.0.1")
                .internalPort(0)
                .apiKeys(List.of(API_KEY))
                .tokenHmacSecret("bench-secret-0123456789-0123456789-abcdef")
                .maxUserStreams(Math.max(1_000_000, 3 * messages))
                .build());
    try {
      ClusterMap map =
          ClusterMap.of(
              2,
              List.of(
                  new NodeInfo(
                      "a",
                      URI.create("http://127.0.0.1:" + node.publicPort()),
                      URI.create("http://127.0.0.1:" + node.internalPort()))));
      node.updateMap(map);
      try (Publisher publisher =
          Publisher.builder()
              .mapSource(MapSource.of(() -> map))
              .apiKey(API_KEY)
              .requestTimeout(Duration.ofSeconds(30))
              .maxBatchMessages(batch)
              .maxInFlightRequests(inFlight)
              .maxQueuedMessages(outstanding + 1)
              .build()) {
        System.out.printf(
            "unicast publish, 1 local node, %d messages, %d outstanding, batch <= %d,"
                + " %d requests in flight%n",
            messages, outstanding, batch, inFlight);
        run(publisher, "warm-up", "w", messages / 2, outstanding);
        run(publisher, "measured", "m", messages, outstanding);
        run(publisher, "measured", "n", messages, outstanding);
      }
    } finally {
      node.close();
    }
  }

  private static void run(
      Publisher publisher, String label, String prefix, int messages, int outstanding)
      throws InterruptedException {
    Semaphore window = new Semaphore(outstanding);
    AtomicLong stored = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    Map<String, Integer> data = Map.of("n", 1);
    long start = System.nanoTime();
    for (int i = 0; i < messages; i++) {
      window.acquire();
      String user = prefix + "-user-" + i;
      publisher
          .publish(user, data)
          .whenComplete(
              (r, e) -> {
                if (e == null && !r.outcome(user).failed()) {
                  stored.incrementAndGet();
                } else {
                  failed.incrementAndGet();
                }
                window.release();
              });
    }
    if (!window.tryAcquire(outstanding, 5, TimeUnit.MINUTES)) {
      throw new IllegalStateException("publishes did not complete within 5 minutes");
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    System.out.printf(
        "%-9s %,d messages in %.2f s: %,.0f msg/s (%d failed)%n",
        label, stored.get(), seconds, stored.get() / seconds, failed.get());
  }
}
