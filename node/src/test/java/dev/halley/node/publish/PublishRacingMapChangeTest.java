package dev.halley.node.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.TestNodes;
import dev.halley.node.auth.TokenVerifier;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.StreamingReplay;
import dev.halley.node.stream.UserStreamTest;
import dev.halley.node.wire.Control;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A publish racing the map switch that moves its user away (bounded stress): every message the node
 * reports delivered or buffered is queued on the user's connection before its {@code moved} event,
 * and no stream is left behind for a user the node no longer owns. Without the map lock around
 * {@link FanOut#publish} a message found owned could be appended after the switch had moved the
 * connection and dropped the stream: reported {@code buffered} on a new stream that no client
 * reads, or queued after {@code moved}.
 */
class PublishRacingMapChangeTest {
  private static final int ROUNDS = 300;
  private static final int ITEMS_PER_REQUEST = 8;

  private final NodeContext node = new NodeContext(TestNodes.config().build());
  private final ExecutorService io = Executors.newSingleThreadExecutor(); // the connection's IO

  @AfterEach
  void close() throws Exception {
    node.ops.close();
    io.shutdownNow();
    io.awaitTermination(10, TimeUnit.SECONDS);
  }

  @Test
  void everyMessageReportedStoredIsQueuedBeforeMovedAndNoStreamIsLeft() throws Exception {
    FanOut publisher = new FanOut(node);
    String user = TestNodes.localUser("racing-publish");
    List<NodeInfo> both = node.map().nodes();
    List<NodeInfo> onlyB = both.stream().filter(n -> n.id().equals("b")).toList();
    int version = node.map().version();
    for (int round = 0; round < ROUNDS; round++) {
      UserStreamTest.Recorder conn = connect(user);
      AtomicInteger published = new AtomicInteger();
      List<String> stored = new ArrayList<>();
      List<String> answers = new ArrayList<>();
      int r = round;
      Thread sender =
          new Thread(
              () -> {
                for (int req = 0; ; req++) {
                  List<FanOut.Item> items = new ArrayList<>();
                  for (int k = 0; k < ITEMS_PER_REQUEST; k++) {
                    String data = r + "-" + req + "-" + k;
                    items.add(
                        new FanOut.Item(
                            data,
                            List.of(user),
                            null,
                            ("\"" + data + "\"").getBytes(StandardCharsets.UTF_8),
                            null));
                  }
                  ObjectNode reply = publisher.publish(items);
                  boolean misdirected = false;
                  for (JsonNode result : reply.get("results")) {
                    if (result.get("delivered").size() + result.get("buffered").size() > 0) {
                      stored.add(result.get("id").asText());
                    } else {
                      misdirected |= result.get("misdirected").size() > 0;
                    }
                    answers.add(result.toString());
                  }
                  published.incrementAndGet();
                  if (misdirected) {
                    return; // the map moved the user away
                  }
                }
              },
              "publisher");
      sender.start();
      // Let a few requests through, so the switch meets the publisher mid-stream.
      int before = round % 4;
      // A spin, not a poll: the switch must meet the publisher within its next few requests,
      // which a poll interval would let pass.
      while (published.get() < before && sender.isAlive()) {
        Thread.onSpinWait();
      }
      node.ops.applyMap(ClusterMap.of(++version, onlyB));
      sender.join(TimeUnit.SECONDS.toMillis(30));
      assertTrue(!sender.isAlive(), "the publisher never saw the user misdirected");
      io.submit(() -> {}).get(10, TimeUnit.SECONDS); // the connection wrote what it was given

      List<String> got = conn.got;
      int moved = got.indexOf("moved");
      assertTrue(moved >= 0, "round " + round + ": the connection was not moved: " + got);
      List<String> beforeMoved = new ArrayList<>();
      for (String e : got.subList(0, moved)) {
        int colon = e.indexOf(':');
        if (colon > 0 && e.endsWith("\"}")) {
          // "seq:"data","key":"data"}": the data is the message's key (its id)
          beforeMoved.add(e.substring(colon + 2, e.indexOf('"', colon + 2)));
        }
      }
      List<String> missing = new ArrayList<>(stored);
      missing.removeAll(beforeMoved);
      assertEquals(
          List.of(),
          missing,
          "round " + round + ": reported stored but not queued before moved; connection: " + got);
      assertNull(
          node.streams.get(user), "round " + round + ": a stream left for a user owned elsewhere");
      node.ops.applyMap(ClusterMap.of(++version, both)); // the user comes back for the next round
    }
  }

  private UserStreamTest.Recorder connect(String user) {
    TokenVerifier.Principal principal =
        new TokenVerifier.Principal(user, Set.of(), Long.MAX_VALUE, Long.MAX_VALUE);
    return node.openStream(
            principal,
            null,
            stream ->
                new StreamingReplay<>(
                    new UserStreamTest.Recorder(stream, 1_000_000, io),
                    null,
                    p -> new Control("hello", null, "{}".getBytes(StandardCharsets.UTF_8))))
        .connection();
  }
}
