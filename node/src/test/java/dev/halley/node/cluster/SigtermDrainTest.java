package dev.halley.node.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.TestNodes;
import dev.halley.node.WsRecorder;
import dev.halley.testing.NodeProcess;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node as a real process ({@code NodeCommand.main}): SIGTERM drains it, so a connected client
 * is told to reconnect within the drain period, and the process exits on its own.
 */
@EnabledOnOs({OS.LINUX, OS.MAC})
class SigtermDrainTest {
  private static final long DRAIN_PERIOD_MS = 2_000;
  @TempDir Path dir;

  @Test
  void sigtermTellsAWebSocketClientToReconnectWithinTheDrainPeriodAndExits() throws Exception {
    try (NodeProcess node = TestNodes.process(dir, "128m", "drainPeriodMs: " + DRAIN_PERIOD_MS)) {
      int port = node.publicPort;
      try (WsRecorder ws =
          WsRecorder.connect(port, TestNodes.token(TestNodes.userOwnedBy("a", "t", 0), null))) {
        // connect() returned after hello

        long signalled = System.nanoTime();
        node.process().destroy(); // SIGTERM

        JsonNode reconnect = ws.assertEvent("reconnect");
        long delayMs = reconnect.get("delayMs").asLong();
        assertTrue(delayMs >= 0 && delayMs < DRAIN_PERIOD_MS, "delayMs " + delayMs);
        ws.assertClosed(4010);
        assertTrue(
            node.process().waitFor(DRAIN_PERIOD_MS + 20_000, TimeUnit.MILLISECONDS),
            () -> "still running after SIGTERM: " + node.log());
        // The JVM reports death by SIGTERM (128 + 15) even when its shutdown hook drained cleanly.
        assertEquals(143, node.process().exitValue(), node::log);
        assertTrue(
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - signalled)
                < DRAIN_PERIOD_MS + 20_000);
        String output = node.log();
        assertTrue(output.contains("event=drain_started node=a connections=1"), output);
        assertTrue(output.contains("event=drain_finished node=a told=1 allClosed=true"), output);
      }
    }
  }
}
