package dev.halley.node.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.TestNodes;
import dev.halley.node.WsRecorder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node as a real process ({@code HalleyNode.main}): SIGTERM drains it, so a connected client is
 * told to reconnect within the drain period, and the process exits on its own.
 */
@EnabledOnOs({OS.LINUX, OS.MAC})
class SigtermDrainTest {
  private static final long DRAIN_PERIOD_MS = 2_000;
  private static final Pattern PORTS = Pattern.compile("public port (\\d+), internal port (\\d+)");

  @TempDir Path dir;

  /** Waits for the start line in the node's log; returns its public port. */
  private static int publicPort(Process node, Path log) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      Matcher m = PORTS.matcher(read(log));
      if (m.find()) {
        return Integer.parseInt(m.group(1));
      }
      if (!node.isAlive()) {
        throw new AssertionError("node exited " + node.exitValue() + ": " + read(log));
      }
      Thread.sleep(50);
    }
    throw new AssertionError("node did not start: " + read(log));
  }

  private static String read(Path log) {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (java.io.IOException e) {
      return "(no log: " + e + ")";
    }
  }

  @Test
  void sigtermTellsAWebSocketClientToReconnectWithinTheDrainPeriodAndExits() throws Exception {
    Path config = dir.resolve("node.yaml");
    Files.writeString(
        config,
        String.join(
            "\n",
            "nodeId: a",
            "map: " + TestNodes.MAP.toJson(),
            "publicHost: 127.0.0.1",
            "publicPort: 0",
            "internalHost: 127.0.0.1",
            "internalPort: 0",
            "apiKeys: [" + TestNodes.API_KEY + "]",
            "tokenHmacSecret: " + TestNodes.SECRET,
            "ioThreads: 2",
            "drainPeriodMs: " + DRAIN_PERIOD_MS,
            ""));
    // To a file, not a pipe: Process.destroy() closes the pipes, and the drain logs come after it.
    Path log = dir.resolve("node.log");
    Process node =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx128m",
                "-cp",
                System.getProperty("java.class.path"),
                "dev.halley.node.HalleyNode",
                "--config",
                config.toString())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    try {
      int port = publicPort(node, log);
      try (WsRecorder ws =
          WsRecorder.connect(port, TestNodes.token(TestNodes.userOwnedBy("a", "t", 0), null))) {
        // connect() returned after hello

        long signalled = System.nanoTime();
        node.destroy(); // SIGTERM

        JsonNode reconnect = ws.assertEvent("reconnect");
        long delayMs = reconnect.get("delayMs").asLong();
        assertTrue(delayMs >= 0 && delayMs < DRAIN_PERIOD_MS, "delayMs " + delayMs);
        ws.assertClosed(4010);
        assertTrue(
            node.waitFor(DRAIN_PERIOD_MS + 20_000, TimeUnit.MILLISECONDS),
            () -> "still running after SIGTERM: " + read(log));
        // The JVM reports death by SIGTERM (128 + 15) even when its shutdown hook drained cleanly.
        assertEquals(143, node.exitValue(), () -> read(log));
        assertTrue(
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - signalled)
                < DRAIN_PERIOD_MS + 20_000);
        String output = read(log);
        assertTrue(output.contains("event=drain_started node=a connections=1"), output);
        assertTrue(output.contains("event=drain_finished node=a told=1 allClosed=true"), output);
      }
    } finally {
      node.destroyForcibly();
    }
  }
}
