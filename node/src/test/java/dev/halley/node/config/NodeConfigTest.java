package dev.halley.node.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.TestNodes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading, defaults, environment overrides and validation messages of NodeConfig. */
class NodeConfigTest {
  private static final String MAP =
      "{\"version\": 1, \"nodes\": [{\"id\": \"n1\", \"publicUrl\": \"http://127.0.0.1:8081\","
          + " \"internalUrl\": \"http://127.0.0.1:9081\"}]}";

  private static Path write(Path dir, String yaml) throws IOException {
    Files.writeString(dir.resolve("cluster.json"), MAP);
    Path f = dir.resolve("node.yaml");
    Files.writeString(f, yaml);
    return f;
  }

  private static final String MINIMAL =
      "nodeId: n1\nmapFile: cluster.json\napiKeys: [key-0123456789abcdef]\n"
          + "tokenHmacSecret: secret-0123456789abcdef0123456789abcdef\n";

  @Test
  void loadsYamlWithDefaults(@TempDir Path dir) throws IOException {
    NodeConfig c = NodeConfig.load(write(dir, MINIMAL), Map.of());
    assertEquals("n1", c.nodeId());
    assertEquals(1, c.map().version());
    assertEquals(8080, c.publicPort());
    assertEquals(9080, c.internalPort());
    assertEquals("127.0.0.1", c.internalHost());
    assertEquals(25_000, c.heartbeatMs());
    assertEquals(25_000, c.longPollTimeoutMs());
    assertEquals(1_000, c.bufferMaxEvents());
    assertEquals(300_000, c.bufferMaxAgeMs());
    assertEquals(List.of(), c.allowedOrigins());
  }

  @Test
  void loadsJsonToo(@TempDir Path dir) throws IOException {
    Files.writeString(dir.resolve("cluster.json"), MAP);
    Path f = dir.resolve("node.json");
    Files.writeString(
        f,
        "{\"nodeId\": \"n1\", \"map\": "
            + MAP
            + ", \"apiKeys\": [\"key-0123456789abcdef\"],"
            + " \"tokenHmacSecret\": \"secret-0123456789abcdef0123456789abcdef\", \"publicPort\": 0}");
    NodeConfig c = NodeConfig.load(f, Map.of());
    assertEquals(0, c.publicPort());
    assertEquals("n1", c.map().nodes().get(0).id());
  }

  @Test
  void environmentOverridesTheFile(@TempDir Path dir) throws IOException {
    NodeConfig c =
        NodeConfig.load(
            write(dir, MINIMAL + "heartbeatMs: 1000\n"),
            Map.of(
                "HALLEY_HEARTBEAT_MS", "5000",
                "HALLEY_API_KEYS", "key-aaaaaaaaaaaaaaaa, key-bbbbbbbbbbbbbbbb",
                "HALLEY_ALLOWED_ORIGINS", "https://app.example",
                "HALLEY_UNRELATED", "ignored"));
    assertEquals(5_000, c.heartbeatMs());
    assertEquals(List.of("key-aaaaaaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbb"), c.apiKeys());
    assertEquals(List.of("https://app.example"), c.allowedOrigins());
  }

  private static String failure(Path dir, String yaml, Map<String, String> env) throws IOException {
    Path f = write(dir, yaml);
    return assertThrows(IllegalArgumentException.class, () -> NodeConfig.load(f, env)).getMessage();
  }

  @Test
  void invalidValuesFailNamingTheField(@TempDir Path dir) throws IOException {
    assertTrue(failure(dir, MINIMAL + "heartbeatMs: -1\n", Map.of()).startsWith("heartbeatMs"));
    assertTrue(failure(dir, MINIMAL + "heartbeatMs: soon\n", Map.of()).startsWith("heartbeatMs"));
    assertTrue(failure(dir, MINIMAL + "publicPort: 70000\n", Map.of()).startsWith("publicPort"));
    assertTrue(failure(dir, MINIMAL + "hearbeatMs: 5\n", Map.of()).startsWith("hearbeatMs is not"));
    assertTrue(
        failure(dir, MINIMAL, Map.of("HALLEY_BUFFER_MAX_EVENTS", "x"))
            .startsWith("bufferMaxEvents"));
    // A node ID that is not in the map loads, as POST /v1/admin/map accepts such a map: the node
    // warns at start that it owns no user (StartupChecksTest).
    assertEquals(
        "zz", NodeConfig.load(write(dir, MINIMAL), Map.of("HALLEY_NODE_ID", "zz")).nodeId());
    assertTrue(
        failure(dir, MINIMAL + "allowedOrigins: [\"app.example\"]\n", Map.of())
            .startsWith("allowedOrigins[0]"));
    assertTrue(
        failure(dir, MINIMAL.replace("secret-0123456789abcdef0123456789abcdef", "short"), Map.of())
            .startsWith("tokenHmacSecret"));
    assertTrue(
        failure(dir, MINIMAL.replace("key-0123456789abcdef", "k"), Map.of())
            .startsWith("apiKeys[0]"));
    assertTrue(
        failure(dir, MINIMAL.replace("mapFile: cluster.json", "mapFile: nope.json"), Map.of())
            .startsWith("mapFile"));
    assertTrue(
        failure(dir, MINIMAL + "tokenPublicKeyPem: x\n", Map.of())
            .startsWith("tokenHmacSecret or tokenPublicKeyPem"));
  }

  @Test
  void tokenLeewayIsOptionalAndBounded(@TempDir Path dir) throws IOException {
    assertEquals(0, NodeConfig.load(write(dir, MINIMAL), Map.of()).tokenLeewayMs());
    assertEquals(
        5_000,
        NodeConfig.load(write(dir, MINIMAL + "tokenLeewayMs: 5000\n"), Map.of()).tokenLeewayMs());
    assertEquals(
        2_000,
        NodeConfig.load(write(dir, MINIMAL), Map.of("HALLEY_TOKEN_LEEWAY_MS", "2000"))
            .tokenLeewayMs());
    assertTrue(failure(dir, MINIMAL + "tokenLeewayMs: -1\n", Map.of()).startsWith("tokenLeewayMs"));
    assertTrue(
        failure(dir, MINIMAL + "tokenLeewayMs: 300001\n", Map.of()).startsWith("tokenLeewayMs"));
  }

  @Test
  void tokenExpiredGraceIsAnOptionWithItsDefault(@TempDir Path dir) throws IOException {
    assertEquals(5_000, NodeConfig.load(write(dir, MINIMAL), Map.of()).tokenExpiredGraceMs());
    assertEquals(
        800,
        NodeConfig.load(write(dir, MINIMAL + "tokenExpiredGraceMs: 800\n"), Map.of())
            .tokenExpiredGraceMs());
    assertEquals(
        1_500,
        NodeConfig.load(write(dir, MINIMAL), Map.of("HALLEY_TOKEN_EXPIRED_GRACE_MS", "1500"))
            .tokenExpiredGraceMs());
    assertTrue(
        failure(dir, MINIMAL + "tokenExpiredGraceMs: 0\n", Map.of())
            .startsWith("tokenExpiredGraceMs"));
  }

  @Test
  void builderValidatesToo() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> TestNodes.config().bufferMaxEvents(5000).build());
    assertTrue(e.getMessage().startsWith("connectionQueueMaxEvents"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> TestNodes.config().nodeId(null).build());
  }

  @Test
  void theBufferBoundsAreCheckedTogether(@TempDir Path dir) throws IOException {
    NodeConfig c =
        NodeConfig.load(
            write(dir, MINIMAL + "bufferMaxBytes: 100000\nbufferBudgetBytes: 200000\n"), Map.of());
    assertEquals(100_000, c.bufferMaxBytes());
    assertEquals(200_000, c.bufferBudgetBytes());
    assertTrue(
        failure(dir, MINIMAL + "bufferMaxBytes: 100000\nbufferBudgetBytes: 99999\n", Map.of())
            .startsWith("bufferBudgetBytes must be >= bufferMaxBytes"));
    // docs/configuration.md: a largest message must fit in one user's buffer.
    assertTrue(
        failure(dir, MINIMAL + "maxMessageBytes: 65536\nbufferMaxBytes: 65535\n", Map.of())
            .startsWith("bufferMaxBytes must be >= maxMessageBytes"));
  }
}
