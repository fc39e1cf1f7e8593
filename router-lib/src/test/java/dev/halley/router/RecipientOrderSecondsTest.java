package dev.halley.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.internal.DualRoute;
import java.net.URI;
import java.util.List;
import java.util.Set;
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

  /** A moving user under {@link #route()}. */
  private static String mover(DualRoute route) {
    for (int i = 0; ; i++) {
      if (route.user("u" + i).moving()) {
        return "u" + i;
      }
    }
  }

  private Fragment first(DualRoute route, String user) {
    Fragment f = user("a", user);
    f.route = route;
    return f;
  }

  private Fragment secondOf(Fragment first) {
    Fragment s = user("d", first.users.get(0));
    s.second = true;
    assertTrue(order.takeSeconds(first, new int[] {0}, s), "takes the place reserved for it");
    return s;
  }

  @Test
  void secondSendsKeepPublishOrderWhenTheOldOwnersAnswersComeInReverse() {
    DualRoute route = route();
    String u = mover(route);
    Fragment first1 = first(route, u);
    Fragment first2 = first(route, u);
    Fragment first3 = first(route, u);
    order.register(List.of(first1));
    order.register(List.of(first2));
    order.register(List.of(first3));
    Object toA = new Object();
    assertTrue(order.tryTake(first1, toA));
    assertTrue(order.tryTake(first2, toA));
    assertTrue(order.tryTake(first3, toA), "first sends do not wait for second sends");
    // The answers come back last first (several requests in flight to the old owner).
    Fragment second3 = secondOf(first3);
    order.release(first3, null);
    assertFalse(order.tryTake(second3, new Object()), "waits for the places before it");
    Fragment second2 = secondOf(first2);
    order.release(first2, null);
    assertFalse(order.tryTake(second2, new Object()));
    // Dual mode over: a message straight to the new owner waits for every second send.
    Fragment plain = user("d", u);
    order.register(List.of(plain));
    assertFalse(order.tryTake(plain, new Object()));
    // m1's old owner answered "no second send" (accepted without a position): place given up.
    Set<String> wake = order.release(first1, null);
    assertTrue(wake.contains("d"), "the node of the next second send is woken: " + wake);
    Object toD = new Object();
    assertTrue(order.tryTake(second2, toD));
    assertTrue(order.tryTake(second3, toD), "in the same batch, after second2");
    assertTrue(plain.extra != null && plain.extra[0] != null, "plain waits in the second list");
    assertTrue(order.tryTake(plain, toD), "in the same batch, after the second sends");
    order.release(second2, null);
    order.release(second3, null);
    order.release(plain, null);
    assertEquals(0, order.size(), "nothing left behind");
    assertTrue(second2.seq < second3.seq && second3.seq < plain.seq, "registration order kept");
  }
}
