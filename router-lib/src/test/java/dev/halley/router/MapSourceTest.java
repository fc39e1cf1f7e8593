package dev.halley.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Map sources and the publisher's refresh schedule (no node needed: nothing is published). */
class MapSourceTest {
  private static ClusterMap map(int version, String... ids) {
    return ClusterMap.of(
        version,
        java.util.Arrays.stream(ids)
            .map(
                id ->
                    new NodeInfo(
                        id,
                        URI.create("https://" + id + ".example.com"),
                        URI.create("http://" + id + ".internal:9080")))
            .toList());
  }

  @Test
  void fileSourceIsReloadedOnTheRefreshSchedule(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("cluster.json");
    Files.writeString(file, map(1, "a").toJson());
    CountDownLatch sawVersion2 = new CountDownLatch(1);
    PublisherListener listener =
        new PublisherListener() {
          @Override
          public void mapChanged(long version, int nodes) {
            if (version == 2) {
              sawVersion2.countDown();
            }
          }
        };
    try (Publisher p =
        Publisher.builder()
            .mapSource(MapSource.file(file))
            .apiKey("k")
            .mapRefreshInterval(Duration.ofMillis(20))
            .listener(listener)
            .build()) {
      assertEquals(1, p.map().version());

      Files.writeString(file, map(2, "a", "b").toJson());

      assertTrue(sawVersion2.await(30, TimeUnit.SECONDS), "reloaded on schedule");
      assertEquals(map(2, "a", "b"), p.map());
    }
  }

  @Test
  void fileSourceIsWatchedSoAChangeIsLoadedWithoutWaitingForTheSchedule(@TempDir Path dir)
      throws Exception {
    // Kubernetes' ConfigMap volume: cluster.json -> ..data/cluster.json, ..data -> a directory
    // that an update replaces by an atomic rename of a new symlink over ..data.
    Path v1 = Files.createDirectory(dir.resolve("..2026_12_01_10_00_00.000000001"));
    Files.writeString(v1.resolve("cluster.json"), map(1, "a").toJson());
    Files.createSymbolicLink(dir.resolve("..data"), v1.getFileName());
    Path file = dir.resolve("cluster.json");
    Files.createSymbolicLink(file, Path.of("..data/cluster.json"));
    CountDownLatch sawVersion2 = new CountDownLatch(1);
    CountDownLatch failed = new CountDownLatch(1);
    PublisherListener listener =
        new PublisherListener() {
          @Override
          public void mapChanged(long version, int nodes) {
            if (version == 2) {
              sawVersion2.countDown();
            }
          }

          @Override
          public void mapLoadFailed(Throwable error) {
            failed.countDown();
          }
        };
    try (Publisher p =
        Publisher.builder()
            .mapSource(MapSource.file(file))
            .apiKey("k")
            .mapRefreshInterval(Duration.ZERO) // no schedule: only the watch can reload
            .listener(listener)
            .build()) {
      swap(dir, "..2026_12_01_10_01_00.000000002", "{\"version\": 2"); // broken
      assertTrue(failed.await(30, TimeUnit.SECONDS), "a broken file is a failed load");
      assertEquals(map(1, "a"), p.map(), "and keeps the current map");

      swap(dir, "..2026_12_01_10_02_00.000000003", map(2, "a", "b").toJson());

      assertTrue(sawVersion2.await(30, TimeUnit.SECONDS), "the swapped map was loaded");
      assertEquals(map(2, "a", "b"), p.map());
    }
  }

  /** What the kubelet does to update a ConfigMap volume in {@code dir}. */
  private static void swap(Path dir, String version, String content) throws Exception {
    Path v = Files.createDirectory(dir.resolve(version));
    Files.writeString(v.resolve("cluster.json"), content);
    Path tmp = Files.createSymbolicLink(dir.resolve("..data_tmp"), v.getFileName());
    Files.move(tmp, dir.resolve("..data"), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }

  @Test
  void urlSourceFetchesTheMapAndABadOrOlderMapKeepsTheCurrentOne() throws Exception {
    AtomicReference<String> served = new AtomicReference<>(map(3, "a").toJson());
    HttpServer server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext(
        "/cluster.json",
        exchange -> {
          byte[] body = served.get().getBytes(StandardCharsets.UTF_8);
          exchange.sendResponseHeaders(200, body.length);
          try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
          }
        });
    server.start();
    try (Publisher p =
        Publisher.builder()
            .mapSource(
                MapSource.url(
                    URI.create(
                        "http://127.0.0.1:" + server.getAddress().getPort() + "/cluster.json")))
            .apiKey("k")
            .mapRefreshInterval(Duration.ZERO)
            .build()) {
      assertEquals(3, p.map().version());

      served.set("{\"version\": 4, \"nodes\": []}");
      assertThrows(Exception.class, () -> p.refreshMap().join());
      served.set(map(2, "a", "b").toJson());
      assertThrows(Exception.class, () -> p.refreshMap().join());
      assertEquals(map(3, "a"), p.map());

      served.set(map(4, "a", "b").toJson());
      assertEquals(map(4, "a", "b"), p.refreshMap().join());
    } finally {
      server.stop(0);
    }
  }

  @Test
  void buildFailsWhenTheFirstMapCannotBeLoaded(@TempDir Path dir) {
    Publisher.Builder b =
        Publisher.builder().mapSource(MapSource.file(dir.resolve("missing.json"))).apiKey("k");
    UncheckedIOException e = assertThrows(UncheckedIOException.class, b::build);
    assertTrue(e.getMessage().contains("missing.json"), e.getMessage());
  }

  @Test
  void connectInfoNamesTheOwnerAndCarriesOnlyThePublicMap() {
    ClusterMap m = map(7, "a", "b", "c");
    try (Publisher p = Publisher.builder().mapSource(MapSource.of(() -> m)).apiKey("k").build()) {
      for (String user : List.of("alice", "bob", "carol", "dave")) {
        ConnectInfo ci =
            p.connectInfo(user, TokenMinter.hs256(TestCluster.SECRET), Duration.ofMinutes(1));
        NodeInfo owner = m.owner(user);
        assertEquals(owner.id(), ci.node());
        assertEquals(owner.publicUrl().toString(), ci.url());
        assertEquals(7, ci.mapVersion());
        assertEquals(m.publicViewJson(), ci.mapJson());
        assertTrue(!ci.mapJson().contains(".internal"), ci.mapJson());
      }
    }
  }
}
