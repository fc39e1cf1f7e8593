package dev.halley.cluster.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code halley reshard} against real HTTP servers that answer the admin endpoints as the
 * resharding contract describes ({@code state}, {@code pending}, {@code activate}, {@code readyz},
 * {@code /v1/map}), each listing one publisher that follows the maps the way router-lib does (it
 * declares both versions once the pending map is installed, the new one alone once activated),
 * unless a test holds it back.
 */
class ReshardCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> LOG = new CopyOnWriteArrayList<>();

  @TempDir Path dir;
  private final Map<String, StandIn> nodes = new LinkedHashMap<>();
  private ClusterMap three;
  private ClusterMap four;

  /** A node's admin endpoints per the contract, with one publisher that follows the maps. */
  static final class StandIn implements AutoCloseable {
    final String id;
    final HttpServer server;
    volatile ClusterMap active;
    volatile ClusterMap pending;
    volatile boolean publisherLags; // the publisher keeps its old versions
    volatile boolean refuseInstall;
    volatile int finishing;

    StandIn(String id) throws IOException {
      this.id = id;
      server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
      server.createContext("/", this::handle);
      server.start();
    }

    URI url() {
      return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    private void handle(HttpExchange ex) throws IOException {
      String what = ex.getRequestMethod() + " " + ex.getRequestURI().getPath();
      if (!what.startsWith("GET /v1/admin/map/state")) {
        LOG.add(id + " " + what);
      }
      if (what.equals("GET /v1/map")) {
        reply(ex, 200, active.publicViewJson());
        return;
      }
      if (what.equals("GET /readyz")) {
        reply(ex, 200, "{\"status\":\"ready\"}");
        return;
      }
      if (!"Bearer key-1".equals(ex.getRequestHeaders().getFirst("Authorization"))) {
        reply(ex, 401, "{\"error\":\"api_key_invalid\",\"message\":\"no\"}");
        return;
      }
      switch (what) {
        case "GET /v1/admin/map/state" -> {
          List<Integer> versions = new ArrayList<>();
          if (publisherLags || pending == null) {
            versions.add(active.version());
          } else {
            versions.add(active.version());
            versions.add(pending.version());
          }
          Map<String, Object> state = new LinkedHashMap<>();
          state.put("node", id);
          state.put("active", active.version());
          state.put("pending", pending == null ? null : pending.version());
          state.put(
              "publishers",
              List.of(
                  Map.of(
                      "id",
                      "pub-" + id,
                      "versions",
                      versions,
                      "lastSeenMs",
                      System.currentTimeMillis())));
          state.put("handoffs", Map.of("finishing", finishing, "served", 3, "reset", 0));
          if (finishing > 0) {
            finishing--;
          }
          reply(ex, 200, JSON.writeValueAsString(state));
        }
        case "POST /v1/admin/map/pending" -> {
          if (refuseInstall) {
            reply(ex, 409, "{\"error\":\"map_version_conflict\",\"message\":\"test\"}");
            return;
          }
          pending = ClusterMap.parse(new String(ex.getRequestBody().readAllBytes()));
          reply(
              ex,
              200,
              "{\"active\":" + active.version() + ",\"pending\":" + pending.version() + "}");
        }
        case "DELETE /v1/admin/map/pending" -> {
          pending = null;
          reply(ex, 200, "{\"active\":" + active.version() + "}");
        }
        case "POST /v1/admin/map/activate" -> {
          JsonNode body = JSON.readTree(ex.getRequestBody());
          if (pending == null || pending.version() != body.path("version").asInt()) {
            reply(ex, 409, "{\"error\":\"map_version_conflict\",\"message\":\"none\"}");
            return;
          }
          active = pending;
          pending = null;
          reply(ex, 200, "{\"active\":" + active.version() + "}");
        }
        default -> reply(ex, 404, "{\"error\":\"not_found\",\"message\":\"" + what + "\"}");
      }
    }

    private static void reply(HttpExchange ex, int status, String body) throws IOException {
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(status, bytes.length);
      ex.getResponseBody().write(bytes);
      ex.close();
    }

    @Override
    public void close() {
      server.stop(0);
    }
  }

  @BeforeEach
  void start() throws Exception {
    LOG.clear();
    List<NodeInfo> infos = new ArrayList<>();
    for (String id : List.of("a", "b", "c", "d")) {
      StandIn n = new StandIn(id);
      nodes.put(id, n);
      infos.add(new NodeInfo(id, n.url(), n.url(), 1));
    }
    three = ClusterMap.of(3, infos.subList(0, 3));
    four = ClusterMap.of(4, infos);
    Files.writeString(dir.resolve("key"), "key-1\n");
  }

  @AfterEach
  void stop() {
    nodes.values().forEach(StandIn::close);
  }

  private record Run(int code, String out, String err) {}

  private Run reshard(ClusterMap next, String... extra) throws IOException {
    Path file = dir.resolve("next.json");
    Files.writeString(file, next.toJson());
    List<String> args =
        new ArrayList<>(
            List.of(
                "reshard",
                "--map",
                file.toString(),
                "--api-key-file",
                dir.resolve("key").toString(),
                "--step-timeout",
                "3s",
                "--grace",
                "0s",
                "--poll",
                "20ms"));
    for (StandIn n : nodes.values()) {
      args.add("--node");
      args.add(n.url().toString());
    }
    args.addAll(List.of(extra));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code =
        HalleyCli.execute(
            new PrintWriter(out, true), new PrintWriter(err, true), args.toArray(new String[0]));
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void scaleOutRunsEveryStepAndActivatesTheGainerFirst() throws Exception {
    nodes.values().forEach(n -> n.active = three);
    nodes.get("a").finishing = 3;
    Run r = reshard(four);
    assertEquals(0, r.code(), r.toString());
    for (int step = 1; step <= 6; step++) {
      assertTrue(r.out().contains("step " + step + "/6"), r.out());
    }
    assertTrue(r.out().contains("users moving: about 2"), r.out()); // about 25%
    assertTrue(r.out().contains("-> d"), r.out());
    assertTrue(r.out().contains("done: map 3 -> 4 on 4 nodes"), r.out());
    List<String> activations = new ArrayList<>();
    for (String line : LOG) {
      if (line.endsWith("POST /v1/admin/map/activate")) {
        activations.add(line.substring(0, 1));
      }
    }
    assertEquals(List.of("d", "a", "b", "c"), activations, "gainer first");
    List<String> installs = new ArrayList<>();
    for (String line : LOG) {
      if (line.endsWith("POST /v1/admin/map/pending")) {
        installs.add(line.substring(0, 1));
      }
    }
    // The new owner holds the pending map before any old owner reports a position to relay.
    assertEquals(List.of("d", "a", "b", "c"), installs, "installed on the gainer first");
    int lastInstall = -1;
    int firstActivate = Integer.MAX_VALUE;
    for (int i = 0; i < LOG.size(); i++) {
      if (LOG.get(i).endsWith("POST /v1/admin/map/pending")) {
        lastInstall = i;
      } else if (LOG.get(i).endsWith("POST /v1/admin/map/activate")) {
        firstActivate = Math.min(firstActivate, i);
      }
    }
    assertTrue(lastInstall < firstActivate, "installed everywhere before any activation: " + LOG);
    nodes.values().forEach(n -> assertEquals(4, n.active.version(), n.id));
  }

  @Test
  void scaleInActivatesTheLoserLast() throws Exception {
    ClusterMap five = three.withVersion(5);
    nodes.values().forEach(n -> n.active = four);
    Run r = reshard(five);
    assertEquals(0, r.code(), r.toString());
    List<String> activations = new ArrayList<>();
    for (String line : LOG) {
      if (line.endsWith("POST /v1/admin/map/activate")) {
        activations.add(line.substring(0, 1));
      }
    }
    assertEquals(List.of("a", "b", "c", "d"), activations, "loser last");
  }

  @Test
  void aNodeRefusingThePendingMapStopsTheCommandAndRollsBack() throws Exception {
    nodes.values().forEach(n -> n.active = three);
    nodes.get("c").refuseInstall = true;
    Run r = reshard(four);
    assertEquals(1, r.code(), r.toString());
    assertTrue(r.err().contains("FAILED at node c"), r.err());
    assertTrue(r.err().contains("map_version_conflict"), r.err());
    assertTrue(r.err().contains("rolling back"), r.err());
    for (StandIn n : nodes.values()) {
      assertEquals(null, n.pending, n.id + " rolled back");
      assertTrue(LOG.contains(n.id + " DELETE /v1/admin/map/pending"), n.id + ": " + LOG);
      assertEquals(3, n.active.version());
    }
    assertTrue(LOG.stream().noneMatch(l -> l.endsWith("activate")), LOG.toString());
  }

  @Test
  void aPublisherThatStaysOnTheOldMapTimesOutTheWaitAndRollsBack() throws Exception {
    nodes.values().forEach(n -> n.active = three);
    nodes.get("b").publisherLags = true;
    Run r = reshard(four);
    assertEquals(1, r.code(), r.toString());
    assertTrue(
        r.err().contains("FAILED at node b: publisher pub-b publishes with maps [3]"), r.err());
    assertTrue(r.out().contains("step 3/6"), r.out());
    assertTrue(!r.out().contains("step 4/6"), r.out());
    for (StandIn n : nodes.values()) {
      assertEquals(null, n.pending, n.id + " rolled back");
      assertEquals(3, n.active.version());
    }
  }

  @Test
  void finishingStreamsThatDoNotDrainFailAfterActivationWithoutRollback() throws Exception {
    nodes.values().forEach(n -> n.active = three);
    nodes.get("b").finishing = Integer.MAX_VALUE;
    Run r = reshard(four, "--retention", "0s");
    assertEquals(1, r.code(), r.toString());
    assertTrue(r.err().contains("FAILED at node b"), r.err());
    assertTrue(r.err().contains("finishing streams"), r.err());
    assertTrue(r.err().contains("not rolled back"), r.err());
    nodes.values().forEach(n -> assertEquals(4, n.active.version(), n.id));
  }

  @Test
  void tooFewPublishersTimeOutTheWait() throws Exception {
    nodes.values().forEach(n -> n.active = three);
    Run r = reshard(four, "--publishers", "5");
    assertEquals(1, r.code(), r.toString());
    assertTrue(r.err().contains("4 publishers seen, --publishers 5 expected"), r.err());
  }

  @Test
  void aNewMapThatIsNotNewerIsRefusedBeforeAnythingChanges() throws Exception {
    nodes.values().forEach(n -> n.active = four);
    Run r = reshard(three);
    assertEquals(1, r.code(), r.toString());
    assertTrue(r.err().contains("not above the active 4"), r.err());
    assertTrue(LOG.stream().noneMatch(l -> l.contains("POST")), LOG.toString());
  }

  @Test
  void missingOptionsAreUsageErrors() throws Exception {
    StringWriter err = new StringWriter();
    int code =
        HalleyCli.execute(
            new PrintWriter(new StringWriter()),
            new PrintWriter(err, true),
            "reshard",
            "--node",
            "http://127.0.0.1:1");
    assertEquals(2, code);
    assertTrue(err.toString().contains("--map"), err.toString());
  }
}
