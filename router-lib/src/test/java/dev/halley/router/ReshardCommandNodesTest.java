package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.cluster.cli.HalleyCli;
import dev.halley.router.PublishResult.Status;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code halley reshard} against real nodes in-process (port 0) with a real Publisher publishing
 * all along: the publisher learns the pending map from the nodes' replies, the command waits until
 * the nodes report it publishing with both maps, activates, and waits until it uses the new map
 * alone.
 */
class ReshardCommandNodesTest {
  @TempDir Path dir;

  private static int run(StringWriter out, StringWriter err, String... args) {
    CommandLine cli = new CommandLine(new HalleyCli());
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  @Test
  void scaleOutFromThreeToFourNodesWithAPublisherPublishingThroughout() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b", "c", "d")) {
      List<NodeInfo> infos = cluster.infos("a", "b", "c", "d");
      ClusterMap three = cluster.load(ClusterMap.of(3, infos.subList(0, 3)));
      ClusterMap four = ClusterMap.of(4, infos);
      Files.writeString(dir.resolve("four.json"), four.toJson());
      Files.writeString(dir.resolve("key"), API_KEY);
      String moving = null;
      for (int i = 0; moving == null; i++) {
        if (four.owner("user-" + i).id().equals("d")) {
          moving = "user-" + i;
        }
      }
      AtomicBoolean stop = new AtomicBoolean();
      AtomicInteger published = new AtomicInteger();
      List<String> problems = new java.util.concurrent.CopyOnWriteArrayList<>();
      try (Publisher p =
          Publisher.builder()
              .mapSource(MapSource.of(() -> three))
              .apiKey(API_KEY)
              .publisherId("app-1")
              .dualGrace(Duration.ofMillis(300))
              .build()) {
        String user = moving;
        Thread traffic =
            new Thread(
                () -> {
                  for (int i = 0; !stop.get() && i < 100_000; i++) {
                    try {
                      PublishResult r =
                          p.publish(List.of(user, "user-" + (i % 50)), i).get(30, TimeUnit.SECONDS);
                      if (!r.failed().isEmpty() || !r.unknown().isEmpty()) {
                        problems.add(r.toString());
                      }
                      published.incrementAndGet();
                      Thread.sleep(5); // the traffic's pace, not a wait for a condition
                    } catch (Exception e) {
                      problems.add(e.toString());
                      return;
                    }
                  }
                },
                "traffic");
        traffic.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> published.get() > 20);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> args = new ArrayList<>();
        args.addAll(
            List.of(
                "reshard",
                "--map",
                dir.resolve("four.json").toString(),
                "--api-key-file",
                dir.resolve("key").toString(),
                "--step-timeout",
                "20s",
                "--grace",
                "1s",
                "--poll",
                "100ms",
                "--publishers",
                "1"));
        int code = run(out, err, args.toArray(new String[0]));
        stop.set(true);
        traffic.join(30_000);
        assertEquals(0, code, out + "\n" + err);
        for (int step = 1; step <= 6; step++) {
          assertTrue(out.toString().contains("step " + step + "/6"), out.toString());
        }
        assertTrue(out.toString().contains("publishers with maps [3, 4]: [app-1]"), out.toString());
        assertTrue(out.toString().contains("publishers with maps [4]: [app-1]"), out.toString());
        assertEquals(List.of(4), p.mapVersions());
        for (String id : List.of("a", "b", "c", "d")) {
          assertEquals(4, cluster.node(id).map().version(), id);
        }
        PublishResult after = p.publish(moving, "after").get(10, TimeUnit.SECONDS);
        assertEquals("d", after.outcome(moving).node(), after.toString());
        assertTrue(
            after.outcome(moving).status() == Status.BUFFERED
                || after.outcome(moving).status() == Status.DELIVERED,
            after.toString());
        assertEquals(List.of(), problems, "every publish during the reshard was stored");
      }
    }
  }
}
