package dev.halley.node.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.halley.cluster.ClusterMap;
import dev.halley.node.TestNodes;
import dev.halley.node.wire.HttpError;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * An API subscription ({@code PUT /v1/users/{user}/channels/{channel}}) found owned and applied
 * while a map change takes its user away must not leave a stream on this node: the map change is
 * started between the ownership check and the subscription (from inside the change) and the test
 * waits until it has finished or is held by the map lock.
 */
class SubscribeRacingMapChangeTest {
  private static final ClusterMap ONLY_B =
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
  void aSubscriptionRacingAMapChangeLeavesNoStreamForAUserTheNodeNoLongerOwns() throws Exception {
    String user = TestNodes.localUser("sub-race");
    AtomicReference<Thread> mapChange = new AtomicReference<>();
    Set<String> channels =
        node.whileOwner(
            user,
            () -> {
              Thread t = new Thread(() -> node.ops.applyMap(ONLY_B), "map-change");
              mapChange.set(t);
              t.start();
              awaitDoneOrParked(t);
              return node.streams.subscribe(user, "room:1");
            });
    mapChange.get().join();
    assertEquals(Set.of("room:1"), channels);
    assertEquals(0, node.streams.size(), "a stream left on a node that does not own its user");
    HttpError after =
        assertThrows(
            HttpError.class, () -> node.whileOwner(user, () -> node.streams.subscribe(user, "x")));
    assertEquals(421, after.status());
    assertEquals(0, node.streams.size());
  }

  /** Waits until {@code t} has finished or is parked (on the map lock), 20 s at most. */
  private static void awaitDoneOrParked(Thread t) {
    long deadline = System.nanoTime() + 20_000_000_000L;
    while (System.nanoTime() < deadline) {
      Thread.State s = t.getState();
      if (s == Thread.State.TERMINATED || s == Thread.State.WAITING) {
        return;
      }
      Thread.onSpinWait();
    }
    throw new AssertionError("map change neither finished nor waited: " + t.getState());
  }
}
