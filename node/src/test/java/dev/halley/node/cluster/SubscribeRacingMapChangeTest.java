package dev.halley.node.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
 * waits until it has finished or is held by the map lock, as in {@link ConnectRacingMapChangeTest}.
 */
class SubscribeRacingMapChangeTest {
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
              Thread t =
                  new Thread(
                      () -> node.ops.applyMap(ConnectRacingMapChangeTest.ONLY_B), "map-change");
              mapChange.set(t);
              t.start();
              ConnectRacingMapChangeTest.awaitDoneOrParked(t);
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
}
