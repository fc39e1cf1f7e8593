package dev.halley.node.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.halley.cluster.ClusterMap;
import dev.halley.node.HalleyNode;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import dev.halley.node.WsRecorder;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.EventTypes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node started with {@code mapFile} applies a changed file by itself, as SIGHUP would: an edit in
 * place, and Kubernetes' atomic swap of a ConfigMap volume (the {@code ..data} symlink points to a
 * new directory; {@code cluster.json} itself never changes). Users who moved get {@code moved}; an
 * invalid file is rejected (counted, the map kept) and the next valid one applies.
 */
class MapFileWatchTest {
  private static final ClusterMap V4 =
      ClusterMap.parse(
          "{\"version\": 4, \"nodes\": ["
              + "{\"id\": \"a\", \"publicUrl\": \"http://127.0.0.1:1\", \"internalUrl\": \"http://127.0.0.1:2\"},"
              + "{\"id\": \"b\", \"publicUrl\": \""
              + TestNodes.OTHER_URL
              + "\", \"internalUrl\": \"http://127.0.0.1:3\"},"
              + "{\"id\": \"c\", \"publicUrl\": \"http://c.example.test:8080\","
              + " \"internalUrl\": \"http://127.0.0.1:4\"}]}");

  private static void await(BooleanSupplier condition, String what) {
    Awaitility.await(what)
        .atMost(java.time.Duration.ofSeconds(20))
        .pollInterval(java.time.Duration.ofMillis(10))
        .until(condition::getAsBoolean);
  }

  /** A user node a owns under map 3 and c owns under map 4. */
  private static String movingUser() {
    for (int i = 0; ; i++) {
      String u = TestNodes.userOwnedBy("a", "mv", i);
      if (V4.owner(u).id().equals("c")) {
        return u;
      }
    }
  }

  private static double reloads(HalleyNode node, String outcome) {
    return Scrape.sample(
        Scrape.get(node.internalPort(), "/metrics").body(),
        "halley_map_reloads_total{outcome=\"" + outcome + "\"}");
  }

  @Test
  void aKubernetesConfigMapSwapIsAppliedAndMovedUsersAreTold(@TempDir Path dir) throws Exception {
    Path v3 = Files.createDirectory(dir.resolve("..2026_12_01_18_00_00.000000001"));
    Files.writeString(v3.resolve("cluster.json"), TestNodes.MAP.toJson());
    Files.writeString(v3.resolve("node.yaml"), "mapFile: cluster.json\n");
    Files.createSymbolicLink(dir.resolve("..data"), v3.getFileName());
    Path file = dir.resolve("cluster.json");
    Files.createSymbolicLink(file, Path.of("..data/cluster.json"));
    Files.createSymbolicLink(dir.resolve("node.yaml"), Path.of("..data/node.yaml"));
    try (HalleyNode node = HalleyNode.start(TestNodes.config().mapFile(file).build());
        WsRecorder ws =
            WsRecorder.connect(node.publicPort(), TestNodes.token(movingUser(), List.of()))) {
      assertEquals(3, node.map().version());

      // The kubelet's update: new directory, ..data_tmp -> it, rename over ..data, drop the old.
      Path v4 = Files.createDirectory(dir.resolve("..2026_12_01_18_01_00.000000002"));
      Files.writeString(v4.resolve("cluster.json"), V4.toJson());
      Files.writeString(v4.resolve("node.yaml"), "mapFile: cluster.json\n");
      Path tmp = Files.createSymbolicLink(dir.resolve("..data_tmp"), v4.getFileName());
      Files.move(tmp, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);
      Files.delete(v3.resolve("cluster.json"));
      Files.delete(v3.resolve("node.yaml"));
      Files.delete(v3);

      await(() -> node.map().version() == 4, "map 4 applied from the swapped volume");
      assertEquals(V4, node.map());
      assertEquals("c", ws.assertEvent(EventTypes.MOVED).path("node").asText());
      ws.assertClosed(CloseCodes.MOVED);
      assertEquals(1.0, reloads(node, "applied"));
    }
  }

  @Test
  void anInvalidFileIsRejectedAndTheNextValidOneApplies(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("cluster.json");
    Files.writeString(file, TestNodes.MAP.toJson());
    try (HalleyNode node = HalleyNode.start(TestNodes.config().mapFile(file).build())) {
      Files.writeString(file, "{\"version\": 4, \"nodes\": [{\"id\": \"a\", \"wieght\": 1}]}");
      await(() -> reloads(node, "rejected") == 1.0, "the invalid map counted as rejected");
      assertEquals(TestNodes.MAP, node.map(), "the current map is kept");

      Files.writeString(file, ClusterMap.of(2, TestNodes.MAP.nodes()).toJson());
      await(() -> reloads(node, "rejected") == 2.0, "an older version is rejected too");
      assertEquals(3, node.map().version());

      Files.writeString(file, V4.toJson());
      await(() -> node.map().version() == 4, "the valid map applied");
      assertEquals(1.0, reloads(node, "applied"));
    }
  }
}
