package dev.halley.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.cluster.ClusterMap;
import dev.halley.node.HalleyNode;
import dev.halley.node.config.NodeConfig;
import dev.halley.node.config.OperationsConfig;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The other deploy/ files against the node they describe: the Grafana dashboard only queries
 * metrics a real node exports, the systemd unit treats the drain's exit status as clean and waits
 * longer than the drain, the Dockerfile's defaults match the node's listeners. (The container image
 * and the nginx configuration are run for real by the *IT tests.)
 */
class DeployFilesTest {
  private static final Path DEPLOY = Path.of(System.getProperty("halley.deployDir", "../deploy"));
  private static final Pattern METRIC =
      Pattern.compile("\\b((?:halley|jvm|process|system)_[a-z_0-9]+)");

  @Test
  void grafanaDashboardQueriesOnlyMetricsTheNodeExports() throws Exception {
    JsonNode dash = new ObjectMapper().readTree(DEPLOY.resolve("grafana/halley.json").toFile());
    Set<String> queried = new TreeSet<>();
    for (JsonNode panel : dash.path("panels")) {
      assertFalse(panel.path("targets").isEmpty(), panel.path("title") + " has no query");
      for (JsonNode t : panel.path("targets")) {
        Matcher m = METRIC.matcher(t.path("expr").asText());
        while (m.find()) {
          queried.add(m.group(1));
        }
      }
    }
    for (String required :
        List.of(
            "halley_connections",
            "halley_events_delivered_total",
            "halley_publish_latency_seconds_bucket",
            "halley_slow_consumer_disconnects_total",
            "halley_resets_total",
            "halley_clients_moved_total",
            "halley_map_version",
            "jvm_memory_used_bytes",
            "jvm_gc_pause_seconds_sum")) {
      assertTrue(queried.contains(required), "the dashboard shows " + required);
    }

    Set<String> exported = new TreeSet<>();
    ClusterMap map =
        ClusterMap.parse(
            "{\"version\": 1, \"nodes\": [{\"id\": \"a\", \"publicUrl\": \"http://127.0.0.1:1\","
                + " \"internalUrl\": \"http://127.0.0.1:2\"}]}");
    try (HalleyNode node =
        HalleyNode.start(
            NodeConfig.builder()
                .nodeId("a")
                .map(map)
                .publicHost("127.0.0.1")
                .publicPort(0)
                .internalHost("127.0.0.1")
                .internalPort(0)
                .apiKeys(List.of("test-api-key-0123456789"))
                .tokenHmacSecret("test-secret-0123456789abcdef-0123456789")
                .build())) {
      System.gc(); // the GC pause meter appears with the first pause
      HttpResponse<String> r =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(
                          URI.create("http://127.0.0.1:" + node.internalPort() + "/metrics"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode());
      for (String line : r.body().split("\n")) {
        if (!line.startsWith("#") && !line.isBlank()) {
          exported.add(line.split("[{ ]", 2)[0]);
        }
      }
    }
    Set<String> missing = new TreeSet<>(queried);
    missing.removeAll(exported);
    assertEquals(Set.of(), missing, "queried by deploy/grafana/halley.json but not exported");
  }

  @Test
  void systemdUnitTreatsTheDrainExitAsCleanAndOutwaitsTheDrain() throws IOException {
    String unit = Files.readString(DEPLOY.resolve("systemd/halley-node.service"));
    assertTrue(
        unit.contains("\nSuccessExitStatus=143\n"), "143 = stopped by SIGTERM after the drain");
    assertTrue(unit.contains("\nKillSignal=SIGTERM\n"));
    assertTrue(
        unit.contains("\nExecReload=/bin/kill -HUP $MAINPID\n"),
        "reload = SIGHUP = re-read mapFile");
    Matcher stop = Pattern.compile("\nTimeoutStopSec=(\\d+)\n").matcher(unit);
    assertTrue(stop.find(), "TimeoutStopSec");
    long drainMs = OperationsConfig.builder().build().drainPeriodMs();
    assertTrue(
        Long.parseLong(stop.group(1)) * 1000 > drainMs + 10_000,
        "systemd waits longer than drainPeriodMs + the 10 s close wait");
  }

  @Test
  void dockerfileTakesItsBaseAsAnArgumentAndRunsTheNodeAsNonRoot() throws IOException {
    String df = Files.readString(DEPLOY.resolve("container/Dockerfile"));
    assertTrue(
        df.contains("\nARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"), "base image is a build argument");
    Matcher user = Pattern.compile("(?m)^USER (\\d+):(\\d+)$").matcher(df);
    assertTrue(user.find() && Long.parseLong(user.group(1)) > 0, "a numeric non-root USER");
    assertTrue(df.contains("HALLEY_PUBLIC_PORT=8080") && df.contains("HALLEY_INTERNAL_PORT=9080"));
    assertTrue(df.contains("\nEXPOSE 8080 9080\n"), "exposes both listeners");
    assertTrue(df.contains("-XX:MaxRAMPercentage="), "memory default");
  }

  /**
   * The recommended JVM flags (docs/operations.md, "JVM flags") are what every way of starting a
   * node uses: the launcher's {@code node} command, the image, the StatefulSet, the systemd unit.
   */
  @Test
  void everyWayOfStartingANodeUsesTheRecommendedJvmFlags() throws IOException {
    String launcher = Files.readString(DEPLOY.resolve("../halley"));
    Matcher node = Pattern.compile("(?m)^\\s*node\\) flags=\\(([^)]*)\\) ;;$").matcher(launcher);
    assertTrue(node.find(), "the launcher's node flags");
    List<String> flags = List.of(node.group(1).trim().split("\\s+"));
    assertTrue(flags.contains("-XX:+UseSerialGC") && flags.contains("-Xmn32m"), flags.toString());
    String ops = Files.readString(DEPLOY.resolve("../docs/operations.md"));
    for (String file :
        List.of(
            "container/Dockerfile", "kubernetes/statefulset.yaml", "systemd/halley-node.service")) {
      String text = Files.readString(DEPLOY.resolve(file));
      for (String flag : flags) {
        if (flag.startsWith("-XX:MaxRAMPercentage") && file.startsWith("systemd")) {
          continue; // the unit fixes the heap (-Xms/-Xmx) instead
        }
        assertTrue(text.contains(flag), file + " lacks " + flag);
      }
    }
    for (String flag : flags) {
      assertTrue(ops.contains(flag), "docs/operations.md does not document " + flag);
    }
  }
}
