package dev.halley.node.cluster;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.node.TestNodes;
import dev.halley.node.auth.TokenVerifier;
import dev.halley.node.stream.StreamingReplay;
import dev.halley.node.stream.UserStreamTest;
import dev.halley.node.wire.Control;
import dev.halley.node.wire.HttpError;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 9 item 2: a connection admitted under one map and registered after a map change took its
 * user away must not be stranded. The map change is started in the window between admission and
 * registration (from inside the stream opening) and the test waits until it has either finished or
 * is held by the map lock; either way the connection must end up told {@code moved}.
 */
class ConnectRacingMapChangeTest {
  /** A map without this node: every user moves to {@code b}. */
  static final ClusterMap ONLY_B =
      ClusterMap.parse(
          "{\"version\": 4, \"nodes\": [{\"id\": \"b\", \"publicUrl\": \""
              + TestNodes.OTHER_URL
              + "\", \"internalUrl\": \"http://127.0.0.1:3\"}]}");

  private final NodeContext node = new NodeContext(TestNodes.config().build());

  @AfterEach
  void close() {
    node.ops.close();
  }

  @Test
  void aConnectionRegisteringWhileTheMapChangesIsMovedOrRefused() throws Exception {
    String user = TestNodes.localUser("race");
    TokenVerifier.Principal principal =
        new TokenVerifier.Principal(user, Set.of(), Long.MAX_VALUE, Long.MAX_VALUE);
    node.requireOwner(user); // admission, as ConnectRequest.read does it
    AtomicReference<Thread> mapChange = new AtomicReference<>();
    AtomicReference<UserStreamTest.Recorder> conn = new AtomicReference<>();
    HttpError refused = null;
    try {
      node.openStream(
          principal,
          null,
          stream -> {
            if (mapChange.get() == null) {
              Thread t = new Thread(() -> node.ops.applyMap(ONLY_B), "map-change");
              mapChange.set(t);
              t.start();
              awaitDoneOrParked(t);
            }
            UserStreamTest.Recorder c = new UserStreamTest.Recorder(stream, 10);
            conn.set(c);
            return new StreamingReplay<>(
                c, null, p -> new Control("hello", null, "{}".getBytes(StandardCharsets.UTF_8)));
          });
    } catch (HttpError e) {
      refused = e;
    }
    mapChange.get().join();
    if (refused != null) {
      assertEquals(421, refused.status());
    } else {
      assertTrue(conn.get().got.contains("moved"), "stranded: " + conn.get().got);
      assertTrue(conn.get().isClosed() || conn.get().queued() == 0);
    }
    assertEquals(0, node.streams.size(), "a stream left on a node that does not own its user");
  }

  /** Waits until {@code t} has finished or is parked (on the map lock), 20 s at most. */
  static void awaitDoneOrParked(Thread t) {
    await()
        .alias("the map change finished or waits")
        .atMost(Duration.ofSeconds(20))
        .pollDelay(Duration.ZERO)
        .pollInterval(Duration.ofMillis(1))
        .until(t::getState, s -> s == Thread.State.TERMINATED || s == Thread.State.WAITING);
  }
}
