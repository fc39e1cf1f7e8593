package dev.halley.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.PublishResult.Outcome;
import dev.halley.router.PublishResult.Status;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
  private static final Pattern PORTS = Pattern.compile("public port (\\d+), internal port (\\d+)");

  @TempDir Path dir;

  @Test
  void aStoppedNodeGivesUnknownWithinTheBoundAndAnAppRetryDeliversOnce() throws Exception {
    ClusterMap provisional =
        ClusterMap.of(
            1,
            List.of(
                new NodeInfo(
                    "a", URI.create("http://127.0.0.1:1"), URI.create("http://127.0.0.1:1"))));
    Path config = dir.resolve("node.yaml");
    Files.writeString(
        config,
        String.join(
            "\n",
            "nodeId: a",
            "map: " + provisional.toJson(),
            "publicHost: 127.0.0.1",
            "publicPort: 0",
            "internalHost: 127.0.0.1",
            "internalPort: 0",
            "apiKeys: [" + TestCluster.API_KEY + "]",
            "tokenHmacSecret: " + TestCluster.SECRET,
            ""));
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
    boolean stopped = false;
    try {
      int[] ports = ports(node, log);
      URI pub = URI.create("http://127.0.0.1:" + ports[0]);
      URI internal = URI.create("http://127.0.0.1:" + ports[1]);
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
          EventStream client = open(p, "alice")) {
        assertEquals(
            Status.DELIVERED,
            p.publish("alice", -1).get(30, TimeUnit.SECONDS).outcome("alice").status());
        assertEquals(-1, client.awaitMessage().asInt());

        signal("STOP", node);
        stopped = true;
        // kill(2) only queues SIGSTOP; each thread stops when it next handles signals. Until all
        // of them have, the node may still read and deliver what is published here.
        awaitStopped(node);
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

        signal("CONT", node);
        stopped = false;
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
          JsonNode data = client.awaitMessage();
          if (data.isTextual()) {
            break; // the marker
          }
          got.add(data.asInt());
        }
        assertEquals(unknown, new HashSet<>(got), "every UNKNOWN message arrives, no FAILED one");
        assertEquals(got.size(), new HashSet<>(got).size(), "each exactly once: " + got);
      }
    } finally {
      if (stopped) {
        signal("CONT", node);
      }
      node.destroyForcibly();
      node.waitFor(30, TimeUnit.SECONDS);
    }
  }

  private static EventStream open(Publisher p, String user) throws Exception {
    ConnectInfo ci =
        p.connectInfo(user, TokenMinter.hs256(TestCluster.SECRET), Duration.ofMinutes(5));
    return EventStream.open(URI.create(ci.url()), ci.token());
  }

  private static void signal(String signal, Process node) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(node.pid())).start();
    assertEquals(0, kill.waitFor(), "kill -" + signal);
  }

  /**
   * Waits until every thread of {@code node} is in the stopped state ({@code T} in {@code
   * /proc/<pid>/task/<tid>/stat} on Linux, {@code ps -o state=} elsewhere).
   */
  private static void awaitStopped(Process node) throws Exception {
    long start = System.nanoTime();
    long deadline = start + TimeUnit.SECONDS.toNanos(30);
    int polls = 0;
    while (!isStopped(node.pid())) {
      polls++;
      assertTrue(node.isAlive(), "node exited instead of stopping");
      assertTrue(System.nanoTime() < deadline, "node " + node.pid() + " did not stop within 30 s");
      Thread.sleep(5); // polling the process state
    }
    System.out.println(
        "stopped node: every thread in state T after "
            + TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - start)
            + " us, "
            + polls
            + " polls found a thread still running");
  }

  static boolean isStopped(long pid) throws Exception {
    Path tasks = Path.of("/proc", Long.toString(pid), "task");
    if (!Files.isDirectory(tasks)) {
      Process ps = new ProcessBuilder("ps", "-o", "state=", "-p", Long.toString(pid)).start();
      String state = new String(ps.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
      ps.waitFor();
      return state.trim().startsWith("T");
    }
    List<Path> threads;
    try (var list = Files.list(tasks)) {
      threads = list.toList();
    }
    for (Path t : threads) {
      String stat;
      try {
        stat = Files.readString(t.resolve("stat"), StandardCharsets.US_ASCII);
      } catch (java.io.IOException gone) {
        continue; // the thread ended meanwhile
      }
      // "tid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
      char state = stat.charAt(stat.lastIndexOf(')') + 2);
      if (state != 'T' && state != 't') {
        return false;
      }
    }
    return !threads.isEmpty();
  }

  private static int[] ports(Process node, Path log) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      Matcher m = PORTS.matcher(Files.readString(log, StandardCharsets.UTF_8));
      if (m.find()) {
        return new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
      }
      assertTrue(node.isAlive(), () -> "node exited: " + read(log));
      Thread.sleep(50); // polling the log for the start line
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
}
