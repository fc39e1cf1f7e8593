package dev.halley.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.internal.DualRoute;
import java.net.URI;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The order keeper's lists of second sends (dual mode). */
class RecipientOrderSecondsTest {
  private final RecipientOrder order = new RecipientOrder();
  private final PublishTracker tracker = new PublishTracker("k", null);

  private Fragment user(String node, String user) {
    return new Fragment("k", node, List.of(user), null, "1", null, tracker, 0, Long.MAX_VALUE);
  }

  private static DualRoute route() {
    NodeInfo a = new NodeInfo("a", URI.create("http://a"), URI.create("http://a"), 1);
    NodeInfo d = new NodeInfo("d", URI.create("http://d"), URI.create("http://d"), 1);
    return DualRoute.of(ClusterMap.of(1, List.of(a)), ClusterMap.of(2, List.of(a, d)));
  }

  @Test
  void aFirstSendDoesNotWaitForThePreviousSecondSendButAPlainSendDoes() {
    DualRoute route = route();
    Fragment first1 = user("a", "u");
    first1.route = route;
    order.register(List.of(first1));
    assertTrue(order.tryTake(first1, new Object()));
    Fragment second1 = user("d", "u");
    second1.second = true;
    order.register(List.of(second1));
    order.release(first1, null);
    Fragment first2 = user("a", "u");
    first2.route = route;
    order.register(List.of(first2));
    assertTrue(order.tryTake(first2, new Object()), "the next first send goes at once");
    Fragment second2 = user("d", "u");
    second2.second = true;
    order.register(List.of(second2));
    assertTrue(order.tryTake(second1, new Object()));
    assertFalse(order.tryTake(second2, new Object()), "second sends keep publish order");
    order.release(first2, null);
    Fragment plain = user("d", "u"); // dual mode over: straight to the new owner
    order.register(List.of(plain));
    assertFalse(order.tryTake(plain, new Object()), "waits for the second sends in flight");
    order.release(second1, null);
    assertTrue(order.tryTake(second2, new Object()));
    assertFalse(order.tryTake(plain, new Object()));
    order.release(second2, null);
    assertTrue(order.tryTake(plain, new Object()));
    order.release(plain, null);
    assertEquals(0, order.size(), "nothing left behind");
  }

  @Test
  void withoutSecondSendsAPlainSendHasNoExtraPlace() {
    Fragment plain = user("a", "u");
    order.register(List.of(plain));
    assertEquals(null, plain.extra);
    order.release(plain, null);
    assertEquals(0, order.size());
  }
}
