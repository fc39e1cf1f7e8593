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

/**
 * What the configuration reader accepts and refuses, value by value: written against the
 * hand-written reader and kept green by the Jackson binding that replaced it.
 */
class ConfigBindingTest {
  @TempDir Path dir;

  private static final String MINIMAL =
      "nodeId: a\nmapFile: map.json\napiKeys: [\""
          + TestNodes.API_KEY
          + "\"]\ntokenHmacSecret: \""
          + TestNodes.SECRET
          + "\"\n";

  private NodeConfig load(String yaml, Map<String, String> env) throws IOException {
    Files.writeString(dir.resolve("map.json"), TestNodes.MAP.toJson());
    Path f = dir.resolve("node.yaml");
    Files.writeString(f, yaml);
    return NodeConfig.load(f, env);
  }

  private String failure(String yaml, Map<String, String> env) {
    return assertThrows(IllegalArgumentException.class, () -> load(yaml, env)).getMessage();
  }

  @Test
  void valuesOfTheWrongTypeAreRefusedNamingTheOptionAndTheValue() {
    String m = failure(MINIMAL + "heartbeatMs: \"5000\"\n", Map.of());
    assertTrue(m.startsWith("heartbeatMs must be an integer") && m.contains("5000"), m);
    m = failure(MINIMAL + "bufferMaxEvents: 1.5\n", Map.of());
    assertTrue(m.startsWith("bufferMaxEvents") && m.contains("1.5"), m);
    m = failure(MINIMAL + "heartbeatMs:\n", Map.of());
    assertTrue(m.startsWith("heartbeatMs"), m);
    m = failure(MINIMAL + "publicPort: 99999999999\n", Map.of());
    assertTrue(m.startsWith("publicPort") && m.contains("99999999999"), m);
    m = failure(MINIMAL + "rateLimitLoopback: \"yes\"\n", Map.of());
    assertTrue(m.startsWith("rateLimitLoopback must be true or false"), m);
    m = failure(MINIMAL + "newConnectionsPerSecondPerAddress: fast\n", Map.of());
    assertTrue(m.startsWith("newConnectionsPerSecondPerAddress must be a number"), m);
    m = failure(MINIMAL + "allowedOrigins: https://app.example\n", Map.of());
    assertTrue(m.startsWith("allowedOrigins must be a list of strings"), m);
    m = failure(MINIMAL + "map: [1]\n", Map.of());
    assertTrue(m.startsWith("map must be an object"), m);
    m = failure(MINIMAL + "maxHeaderBytes: 100\n", Map.of());
    assertTrue(m.startsWith("maxHeaderBytes must be") && m.endsWith(": 100"), m);
    m = failure(MINIMAL + "maxPublicSockets: -1\n", Map.of());
    assertEquals("maxPublicSockets must be >= 0: -1", m);
  }

  @Test
  void settingsThatAreNotFileOptionsAreUnknownOptions() {
    assertTrue(
        failure(MINIMAL + "clock: utc\n", Map.of()).startsWith("clock is not a configuration"));
    assertTrue(
        failure(MINIMAL + "operations: {}\n", Map.of())
            .startsWith("operations is not a configuration"));
  }

  @Test
  void environmentValuesAreTypedByTheirOption() throws IOException {
    NodeConfig c =
        load(
            MINIMAL,
            Map.of(
                "HALLEY_RATE_LIMIT_LOOPBACK", "TRUE",
                "HALLEY_NEW_CONNECTIONS_PER_SECOND_PER_ADDRESS", " 2.5 ",
                "HALLEY_LATEST_VALUE_CHANNELS", "prices:*, ,news",
                "HALLEY_CONNECTION_QUEUE_MAX_BYTES", "2097152",
                "HALLEY_PRESENCE_WEBHOOK_URL", "http://127.0.0.1:1/p",
                "HALLEY_PRESENCE_WEBHOOK_MAX_ATTEMPTS", "3",
                "HALLEY_MAP", "ignored: the inline map has no environment form"));
    assertTrue(c.operations().rateLimitLoopback());
    assertEquals(2.5, c.operations().newConnectionsPerSecondPerAddress());
    assertEquals(List.of("prices:*", "news"), c.latestValueChannels());
    assertEquals(2_097_152, c.connectionQueueMaxBytes());
    assertEquals(3, c.operations().presenceWebhookMaxAttempts());
    String m = failure(MINIMAL, Map.of("HALLEY_RATE_LIMIT_LOOPBACK", "yes"));
    assertEquals("rateLimitLoopback must be true or false: \"yes\"", m);
    m = failure(MINIMAL, Map.of("HALLEY_DRAIN_PERIOD_MS", "soon"));
    assertEquals("drainPeriodMs must be an integer: \"soon\"", m);
  }

  @Test
  void relativeFilesAreResolvedAgainstTheConfigurationsDirectory() throws IOException {
    Files.writeString(dir.resolve("key.pem"), "-----BEGIN PUBLIC KEY-----\nx\n");
    NodeConfig c =
        load(
            MINIMAL.replaceAll("tokenHmacSecret: .*\n", "")
                + "tokenPublicKeyFile: key.pem\naccessFile: access.json\n",
            Map.of());
    assertEquals("-----BEGIN PUBLIC KEY-----\nx\n", c.tokenPublicKeyPem());
    assertEquals(dir.resolve("access.json").toAbsolutePath(), c.accessFile().toAbsolutePath());
    assertEquals(dir.resolve("map.json").toAbsolutePath(), c.mapFile().toAbsolutePath());
    assertTrue(
        failure(MINIMAL + "tokenPublicKeyFile: missing.pem\n", Map.of())
            .startsWith("tokenPublicKeyFile: cannot read"));
  }

  @Test
  void theBuilderKeepsEveryOtherValueWhenOneIsChanged() {
    NodeConfig c = TestNodes.config().heartbeatMs(7_000).build();
    NodeConfig d = c.toBuilder().sseRetryMs(3_000).build();
    assertEquals(7_000, d.heartbeatMs());
    assertEquals(3_000, d.sseRetryMs());
    assertEquals(c.map(), d.map());
    assertEquals(c.operations(), d.operations());
  }
}
