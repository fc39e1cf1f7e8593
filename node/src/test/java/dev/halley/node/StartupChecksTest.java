package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.config.NodeConfig;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What a node that starts may still have wrong, and a port it cannot bind. */
class StartupChecksTest {
  private static ClusterMap map(String id, String publicUrl, String internalUrl) {
    return ClusterMap.of(
        1, List.of(new NodeInfo(id, URI.create(publicUrl), URI.create(internalUrl))));
  }

  private static NodeConfig config(ClusterMap map) {
    return TestNodes.config().map(map).build();
  }

  @Test
  void listenersOnTheMapsPortsGiveNoWarning() {
    NodeConfig c = config(map("a", "http://127.0.0.1:8081", "http://127.0.0.1:9081"));
    assertEquals(List.of(), StartupChecks.warnings(c, 8081, 9081));
    NodeConfig defaults = config(map("a", "https://a.example.com/halley/", "http://10.0.0.1"));
    assertEquals(List.of(), StartupChecks.warnings(defaults, 443, 80));
  }

  @Test
  void aListenerOnAnotherPortThanItsMapUrlIsNamed() {
    // configuration.md's minimal node.yaml (default ports 8080/9080) with cluster-3.json
    NodeConfig c = config(map("a", "http://127.0.0.1:8081", "http://127.0.0.1:9081"));
    List<String> warnings = StartupChecks.warnings(c, 8080, 9080);
    assertEquals(2, warnings.size(), warnings.toString());
    assertTrue(
        warnings
            .get(0)
            .startsWith(
                "event=listener_mismatch node=a listener=public port=8080"
                    + " publicUrl=http://127.0.0.1:8081 message="),
        warnings.get(0));
    assertTrue(
        warnings.get(1).startsWith("event=listener_mismatch node=a listener=internal port=9080"),
        warnings.get(1));
  }

  @Test
  void aMapWithoutThisNodeStartsAsAReloadAcceptsIt() {
    // start and POST /v1/admin/map agree: both take a map without this node (scaling in), and say
    // so
    NodeConfig c = config(map("other", "http://127.0.0.1:8081", "http://127.0.0.1:9081"));
    assertEquals(
        List.of(
            "event=map_without_this_node node=a version=1"
                + " message=\"this node is not in its cluster map: it owns no user\""),
        StartupChecks.warnings(c, 1, 2));
    try (HalleyNode node = HalleyNode.start(c)) {
      assertEquals(1, node.map().version());
      assertTrue(node.updateMap(TestNodes.MAP.withVersion(2)).changed());
      ClusterMap without = map("other", "http://127.0.0.1:8081", "http://127.0.0.1:9081");
      assertTrue(node.updateMap(without.withVersion(3)).changed());
    }
  }

  @Test
  void aPortInUseNamesTheListenerItsAddressAndTheReason() throws IOException {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress("127.0.0.1", 0));
      int port = taken.getLocalPort();
      IllegalStateException pub =
          assertThrows(
              IllegalStateException.class,
              () -> HalleyNode.start(TestNodes.config().publicPort(port).build()));
      assertTrue(pub.getCause() instanceof BindException, pub.toString());
      assertEquals(
          "cannot bind the public listener to 127.0.0.1:"
              + port
              + " (publicPort): "
              + pub.getCause().getMessage(),
          pub.getMessage());
      IllegalStateException internal =
          assertThrows(
              IllegalStateException.class,
              () -> HalleyNode.start(TestNodes.config().internalPort(port).build()));
      assertTrue(
          internal
              .getMessage()
              .startsWith(
                  "cannot bind the internal listener to 127.0.0.1:" + port + " (internalPort): "),
          internal.getMessage());
    }
  }

  @Test
  void theSampleConfigsWorkWithTheSampleMap() {
    for (int i = 1; i <= 3; i++) {
      NodeConfig c =
          NodeConfig.load(
              java.nio.file.Path.of("../docs/examples/node-" + i + ".yaml"), java.util.Map.of());
      assertEquals("node-" + i, c.nodeId());
      assertEquals(
          List.of(), StartupChecks.warnings(c, c.publicPort(), c.internalPort()), "node-" + i);
    }
  }
}
