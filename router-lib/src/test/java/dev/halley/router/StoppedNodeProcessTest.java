package dev.halley.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.PublishResult.Outcome;
import dev.halley.router.PublishResult.Status;
import dev.halley.testing.NodeProcess;
import dev.halley.testing.SseTestClient;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 9 item 11 against a real node process stopped with SIGSTOP: every message gets its outcome
 * within the documented bound (sent ones UNKNOWN, never-sent ones FAILED), after SIGCONT the node
 * delivers what it had read, and an app retry of the UNKNOWN ones with their keys delivers each
 * exactly once.
 */
@EnabledOnOs({OS.LINUX, OS.MAC})
class StoppedNodeProcessTest {
  @TempDir Path dir;

  @Test
  void aStoppedNodeGivesUnknownWithinTheBoundAndAnAppRetryDeliversOnce() throws Exception {
    ClusterMap provisional =
        ClusterMap.of(
            1,
            List.of(
                new NodeInfo(
                    "a", URI.create("http://127.0.0.1:1"), URI.create("http://127.0.0.1:1"))));
    try (NodeProcess node =
        NodeProcess.start(
            dir,
            "128m",
            List.of(
                "nodeId: a",
                "map: " + provisional.toJson(),
                "publicHost: 127.0.0.1",
                "publicPort: 0",
                "internalHost: 127.0.0.1",
                "internalPort: 0",
                "apiKeys: [" + TestCluster.API_KEY + "]",
                "tokenHmacSecret: " + TestCluster.SECRET))) {
      URI pub = URI.create("http://127.0.0.1:" + node.publicPort);
      URI internal = URI.create("http://127.0.0.1:" + node.internalPort);
      ClusterMap map = ClusterMap.of(1, List.of(new NodeInfo("a", pub, internal)));
      Duration timeout = Duration.ofMillis(500);
      long boundMs = timeout.toMillis() * 2 + 50;
      try (Publisher p =
              Publisher.builder()
                  .mapSource(MapSource.of(() -> map))
                  .apiKey(TestCluster.API_KEY)
                  .requestTimeout(timeout)
                  .maxAttempts(2)
                  .retryBackoff(Duration.ofMillis(50), Duration.ofMillis(100))
                  .build();
          SseTestClient client = open(p, "alice")) {
        // The freshly started node's first answers may outlast the short timeout on a loaded
        // machine (class loading, JIT): the warm-up message is retried with its key until the
        // node reports it delivered, so the client gets it once.
        Message warmUp = Message.toUsers("alice").data(-1).idempotencyKey("warm-up");
        Status warm = null;
        int tries = 0;
        while (tries < 20 && warm != Status.DELIVERED) {
          tries++;
          warm = p.publish(warmUp).get(30, TimeUnit.SECONDS).outcome("alice").status();
        }
        assertEquals(Status.DELIVERED, warm, "the warm-up message within 20 tries");
        System.out.println("stopped node: warm-up delivered at try " + tries);
        assertEquals(-1, client.awaitData().asInt());

        // kill(2) only queues SIGSTOP; each thread stops when it next handles signals. Until all
        // of them have, the node may still read and deliver what is published here.
        Duration stop = node.stop();
        System.out.println(
            "stopped node: every thread in state T after " + stop.toMillis() + " ms");
        List<CompletableFuture<PublishResult>> futures = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < 20; i++) {
          futures.add(p.publish("alice", i));
        }
        List<PublishResult> results = new ArrayList<>();
        for (CompletableFuture<PublishResult> f : futures) {
          results.add(f.get(30, TimeUnit.SECONDS));
        }
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        Set<Integer> unknown = new HashSet<>();
        for (int i = 0; i < results.size(); i++) {
          Outcome o = results.get(i).outcome("alice");
          assertEquals("timeout", o.reason(), o.toString());
          assertTrue(o.status() == Status.UNKNOWN || o.status() == Status.FAILED, o.toString());
          if (o.status() == Status.UNKNOWN) {
            unknown.add(i);
          }
        }
        System.out.println(
            "stopped node: "
                + unknown.size()
                + " unknown of 20, all outcomes in "
                + tookMs
                + " ms");
        assertTrue(!unknown.isEmpty(), "the messages sent are UNKNOWN");
        // The bound plus slack for a loaded machine (the node is frozen, not the test).
        assertTrue(tookMs < boundMs + 2_000, "outcomes took " + tookMs + " ms, bound " + boundMs);

        node.signal("CONT");
        // The app retries its UNKNOWN messages with their keys; then a marker closes the stream.
        for (int i : unknown) {
          PublishResult retry =
              p.publish(Message.toUsers("alice").data(i).idempotencyKey(results.get(i).id()))
                  .get(30, TimeUnit.SECONDS);
          assertTrue(retry.succeeded(), retry.toString());
        }
        p.publish("alice", "end").get(30, TimeUnit.SECONDS);
        List<Integer> got = new ArrayList<>();
        while (true) {
          JsonNode data = client.awaitData();
          if (data.isTextual()) {
            break; // the marker
          }
          got.add(data.asInt());
        }
        assertEquals(unknown, new HashSet<>(got), "every UNKNOWN message arrives, no FAILED one");
        assertEquals(got.size(), new HashSet<>(got).size(), "each exactly once: " + got);
      }
    }
  }

  private static SseTestClient open(Publisher p, String user) throws Exception {
    ConnectInfo ci =
        p.connectInfo(user, TokenMinter.hs256(TestCluster.SECRET), Duration.ofMinutes(5));
    return SseTestClient.open(URI.create(ci.url()), ci.token());
  }
}
