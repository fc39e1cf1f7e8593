package dev.halley.bench.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The load generator against the peers it can drive besides nchan (CometD's Bayeux sessions,
 * Pushpin's GRIP origin and publish API), at a tiny load: every message accounted for (received or
 * lost, never twice). The peers are not part of the build: they are installed by {@code
 * shared/peers/install.sh} (Pushpin) and built by its {@code cometd/start.sh} (CometD, in {@code
 * /tmp/peers/cometd/build}); where one is absent the case is skipped, saying why. Not a speed test.
 */
class PeersSmokeTest {
  private static final Map<String, Servers.Server> servers = new LinkedHashMap<>();
  @TempDir static Path dir;

  @AfterAll
  static void stop() {
    servers.values().forEach(Servers.Server::close);
  }

  private static Servers.Server server(String target) throws Exception {
    Path peers = Matrix.peersDir();
    Path cometdBuild = Path.of("/tmp/peers/cometd/build");
    String missing = Matrix.missing(target, peers, cometdBuild, false);
    assumeTrue(missing == null, () -> "skipped, " + target + " is not available here: " + missing);
    Servers.Server s = servers.get(target);
    if (s == null) {
      String cpus = "0-" + (Runtime.getRuntime().availableProcessors() - 1);
      Path d = Files.createDirectories(dir.resolve(target));
      s =
          target.equals("cometd")
              ? Servers.cometd(cometdBuild, cpus, List.of("-Xmx256m"), d)
              : Servers.pushpin(peers.resolve("pushpin"), cpus, d);
      servers.put(target, s);
    }
    return s;
  }

  @ParameterizedTest(name = "{0} {1}")
  @CsvSource({"cometd, ws", "cometd, longpoll", "pushpin, ws", "pushpin, sse", "pushpin, longpoll"})
  void everyMessageIsReceivedOnceOrCountedLost(String target, String transport) throws Exception {
    Servers.Server s = server(target);
    ObjectNode r =
        LoadGen.run(
            LoadOptions.parse(
                "target=" + target,
                "transport=" + transport,
                "port=" + s.subscribePort(),
                "publishPort=" + s.publishPort(),
                "userPrefix=" + transport + "-",
                "users=40",
                "roomSize=20",
                "burstRooms=2",
                "rate=200",
                "warmup=0.5",
                "measure=1.5",
                "drain=30",
                "serverPids=" + s.pids()));
    String all = r.toString();
    assertEquals(40, r.get("connected").asInt(), all);
    assertEquals(0, r.get("publishErrors").asLong(), all);
    assertTrue(r.get("expected").asLong() > 0, all);
    assertEquals(0, r.get("duplicates").asLong(), all);
    assertEquals(0, r.get("misrouted").asLong(), all);
    assertEquals(
        r.get("expected").asLong(), r.get("received").asLong() + r.get("lost").asLong(), all);
    if (!(target.equals("pushpin") && transport.equals("longpoll"))) {
      // Only Pushpin's long-poll may lose: it keeps no history between two requests.
      assertEquals(0, r.get("lost").asLong(), all);
    }
    assertTrue(r.get("received").asLong() > 0, all);
    assertTrue(r.get("serverRssConnectedKb").asLong() > 0, all);
  }
}
