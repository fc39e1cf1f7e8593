package dev.halley.bench.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.HalleyNode;
import dev.halley.node.config.NodeConfig;
import dev.halley.node.config.OperationsConfig;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * CI's smoke run of the load generator: a tiny load (a few seconds, tens of connections) against a
 * real node on 127.0.0.1, every transport. It checks the generator's accounting (every message
 * received once, none lost, latency recorded, CPU and RSS sampled), never a speed.
 */
class LoadGenSmokeTest {
  private static final String KEY = "bench-api-key-0123456789";
  private static final String SECRET = "bench-secret-0123456789-0123456789-abcdef";
  private static HalleyNode node;
  private static final List<ObjectNode> results = new ArrayList<>();

  @BeforeAll
  static void start() {
    URI placeholder = URI.create("http://127.0.0.1:1");
    node =
        HalleyNode.start(
            NodeConfig.builder()
                .nodeId("a")
                .map(ClusterMap.of(1, List.of(new NodeInfo("a", placeholder, placeholder))))
                .publicHost("127.0.0.1")
                .publicPort(0)
                .internalHost("127.0.0.1")
                .internalPort(0)
                .apiKeys(List.of(KEY))
                .tokenHmacSecret(SECRET)
                .build());
    node.updateMap(
        ClusterMap.of(
            2,
            List.of(
                new NodeInfo(
                    "a",
                    URI.create("http://127.0.0.1:" + node.publicPort()),
                    URI.create("http://127.0.0.1:" + node.internalPort())))));
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.close();
    }
  }

  private static LoadOptions options(String... extra) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "target=halley",
                "port=" + node.publicPort(),
                "publishPort=" + node.internalPort(),
                "apiKey=" + KEY,
                "secret=" + SECRET,
                "warmup=0.5",
                "measure=1.5",
                "drain=30",
                "serverPids=" + ProcessHandle.current().pid()));
    args.addAll(List.of(extra));
    return LoadOptions.parse(args.toArray(new String[0]));
  }

  @ParameterizedTest
  @ValueSource(strings = {"ws", "sse", "longpoll"})
  void everyMessageOfARoomReachesEverySubscriberOnce(String transport) throws Exception {
    ObjectNode r =
        LoadGen.run(
            options(
                "transport=" + transport,
                "userPrefix=" + transport + "-",
                "users=60",
                "roomSize=20",
                "burstRooms=2",
                "rate=600"));
    assertAccounted(r, 60);
  }

  @Test
  void unicastMessagesReachTheirUser() throws Exception {
    ObjectNode r =
        LoadGen.run(
            options("transport=ws", "shape=unicast", "userPrefix=uni-", "users=50", "rate=200"));
    assertAccounted(r, 50);
  }

  @Test
  void twoSlicesSplitTheRoomsAndMergeIntoOneResult() throws Exception {
    List<ObjectNode> parts = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      parts.add(
          LoadGen.run(
              options(
                  "transport=sse",
                  "userPrefix=sl-",
                  "users=80",
                  "roomSize=20",
                  "burstRooms=2",
                  "rate=400",
                  "slice=" + i,
                  "slices=2")));
    }
    assertEquals(40, parts.get(0).get("subscribers").asInt());
    ObjectNode m = Matrix.merge(parts);
    Matrix.derive(m);
    assertEquals(80, m.get("subscribers").asInt());
    assertEquals(
        parts.get(0).get("received").asLong() + parts.get(1).get("received").asLong(),
        m.get("received").asLong());
    assertTrue(m.has("cpuUsPerDelivery"), m::toString);
  }

  @Test
  void reportWritesTablesAndPlots(@TempDir Path dir) throws Exception {
    if (results.isEmpty()) {
      results.add(
          LoadGen.run(options("transport=ws", "userPrefix=rp-", "users=20", "roomSize=20")));
    }
    List<ObjectNode> rows = new ArrayList<>();
    for (String target : List.of("halley", "nchan")) {
      ObjectNode r = results.get(0).deepCopy();
      r.put("target", target);
      r.put("row", "ws-50k");
      r.put("group", "main");
      r.put("label", "50k deliveries/s, WebSocket");
      r.put("rowUsers", 20);
      Matrix.derive(r);
      rows.add(r);
    }
    Report.write(dir, Report.machine(List.of("-Xmx64m")), rows);
    String md = Files.readString(dir.resolve("benchmarks.md"));
    assertTrue(md.contains("| 50k deliveries/s, WebSocket (20 users) |"), md);
    assertTrue(md.contains("| 1.00 | 1.00 |"), md); // the same figures on both sides: ratio 1
    for (String png :
        List.of(
            "latency-vs-load", "cpu-per-delivery", "memory-per-connection", "cpu-vs-connections")) {
      assertTrue(Files.size(dir.resolve("bench/" + png + ".png")) > 1000, png);
    }
  }

  /** A subscriber the server refused expects nothing: it counts as a connect failure, not loss. */
  @Test
  void aSubscriberThatNeverConnectedIsNotCountedLost() throws Exception {
    URI placeholder = URI.create("http://127.0.0.1:1");
    HalleyNode small =
        HalleyNode.start(
            NodeConfig.builder()
                .nodeId("a")
                .map(ClusterMap.of(1, List.of(new NodeInfo("a", placeholder, placeholder))))
                .publicHost("127.0.0.1")
                .publicPort(0)
                .internalHost("127.0.0.1")
                .internalPort(0)
                .apiKeys(List.of(KEY))
                .tokenHmacSecret(SECRET)
                .operations(OperationsConfig.builder().maxConnections(30).build())
                .build());
    try {
      small.updateMap(
          ClusterMap.of(
              2,
              List.of(
                  new NodeInfo(
                      "a",
                      URI.create("http://127.0.0.1:" + small.publicPort()),
                      URI.create("http://127.0.0.1:" + small.internalPort())))));
      ObjectNode r =
          LoadGen.run(
              LoadOptions.parse(
                  "target=halley",
                  "transport=ws",
                  "port=" + small.publicPort(),
                  "publishPort=" + small.internalPort(),
                  "apiKey=" + KEY,
                  "secret=" + SECRET,
                  "userPrefix=cap-",
                  "users=40",
                  "roomSize=20",
                  "burstRooms=2",
                  "rate=200",
                  "warmup=0.5",
                  "measure=1.5",
                  "drain=30"));
      String all = r.toString();
      assertEquals(30, r.get("connected").asInt(), all);
      assertEquals(10, r.get("connectFailures").asLong(), all);
      assertEquals(0, r.get("lost").asLong(), all);
      assertEquals(r.get("expected").asLong(), r.get("received").asLong(), all);
    } finally {
      small.close();
    }
  }

  private static void assertAccounted(ObjectNode r, int users) {
    String all = r.toString();
    synchronized (results) {
      results.add(r);
    }
    assertEquals(users, r.get("connected").asInt(), all);
    assertEquals(0, r.get("connectFailures").asLong(), all);
    assertTrue(r.get("messagesCreated").asLong() > 0, all);
    assertEquals(0, r.get("publishErrors").asLong(), all);
    assertTrue(r.get("expected").asLong() > 0, all);
    assertEquals(r.get("expected").asLong(), r.get("received").asLong(), all);
    assertEquals(0, r.get("lost").asLong(), all);
    assertEquals(0, r.get("duplicates").asLong(), all);
    assertEquals(0, r.get("misrouted").asLong(), all);
    assertTrue(r.get("latencySamples").asLong() > 0, all);
    assertTrue(r.get("serverRssConnectedKb").asLong() > 0, all);
    Histogram h = Matrix.decode(r.get("histogram").asText());
    assertEquals(r.get("latencySamples").asLong(), h.getTotalCount(), all);
  }
}
