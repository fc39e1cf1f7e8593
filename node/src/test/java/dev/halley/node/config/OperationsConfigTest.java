package dev.halley.node.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.TestNodes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OperationsConfigTest {
  @TempDir Path dir;

  @Test
  void defaultsAreTheDocumentedOnes() {
    OperationsConfig c = OperationsConfig.defaults();
    assertEquals(100_000, c.maxConnections());
    assertEquals(10, c.maxConnectionsPerUser());
    assertEquals(20.0, c.newConnectionsPerSecondPerAddress());
    assertEquals(40, c.newConnectionBurstPerAddress());
    assertEquals(100_000, c.maxTrackedAddresses());
    assertEquals(false, c.rateLimitLoopback());
    assertEquals(1_048_576, TestNodes.config().build().connectionQueueMaxBytes());
    assertEquals(10_000, c.requestParseTimeoutMs());
    assertEquals(30_000, c.noRequestTimeoutMs());
    assertEquals(120_000, c.idleTimeoutMs());
    assertEquals(30_000, c.drainPeriodMs());
    assertFalse(c.presenceWebhookEnabled());
    assertEquals(5_000, c.presenceOfflineDelayMs());
  }

  @Test
  void readsOperationsOptionsFromTheFileAndTheEnvironment() throws IOException {
    Path file = dir.resolve("node.yaml");
    Files.writeString(
        file,
        String.join(
            "\n",
            "nodeId: a",
            "mapFile: map.json",
            "apiKeys: [\"" + TestNodes.API_KEY + "\"]",
            "tokenHmacSecret: \"" + TestNodes.SECRET + "\"",
            "maxConnections: 5000",
            "newConnectionsPerSecondPerAddress: 2.5",
            "presenceWebhookUrl: http://127.0.0.1:1/presence",
            "presenceWebhookMaxAttempts: 3",
            ""));
    Files.writeString(dir.resolve("map.json"), TestNodes.MAP.toJson());
    NodeConfig c = NodeConfig.load(file, Map.of("HALLEY_DRAIN_PERIOD_MS", "1234"));
    assertEquals(5000, c.operations().maxConnections());
    assertEquals(2.5, c.operations().newConnectionsPerSecondPerAddress());
    assertEquals(1234, c.operations().drainPeriodMs());
    assertEquals("http://127.0.0.1:1/presence", c.operations().presenceWebhookUrl());
  }

  @Test
  void badValuesNameTheOption() throws IOException {
    Path file = dir.resolve("bad.yaml");
    Files.writeString(
        file,
        "nodeId: a\nmapFile: map.json\napiKeys: [\""
            + TestNodes.API_KEY
            + "\"]\ntokenHmacSecret: \""
            + TestNodes.SECRET
            + "\"\nmaxConnectionsPerUser: 0\n");
    Files.writeString(dir.resolve("map.json"), TestNodes.MAP.toJson());
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> NodeConfig.load(file, Map.of()));
    assertTrue(e.getMessage().startsWith("maxConnectionsPerUser must be > 0"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                TestNodes.config()
                    .operations(OperationsConfig.builder().idleTimeoutMs(1_000).build())
                    .build());
    assertTrue(e.getMessage().startsWith("idleTimeoutMs must be >"), e.getMessage());
  }
}
