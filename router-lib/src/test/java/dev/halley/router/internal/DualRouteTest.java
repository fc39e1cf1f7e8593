package dev.halley.router.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.internal.DualRoute.OldOutcome;
import dev.halley.router.internal.DualRoute.Second;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DualRouteTest {
  static NodeInfo node(String id, int weight) {
    return new NodeInfo(
        id, URI.create("http://" + id + ".pub"), URI.create("http://" + id + ".int"), weight);
  }

  static final ClusterMap THREE =
      ClusterMap.of(3, List.of(node("a", 1), node("b", 1), node("c", 1)));
  static final ClusterMap FOUR =
      ClusterMap.of(4, List.of(node("a", 1), node("b", 1), node("c", 1), node("d", 1)));

  @Test
  void aUserMovesExactlyWhenTheTwoMapsDisagreeOnItsOwner() {
    DualRoute dual = DualRoute.of(THREE, FOUR);
    int moving = 0;
    for (int i = 0; i < 10_000; i++) {
      String user = "user-" + i;
      DualRoute.UserRoute r = dual.user(user);
      assertEquals(THREE.owner(user), r.oldOwner());
      assertEquals(FOUR.owner(user), r.newOwner());
      assertEquals(!THREE.owner(user).id().equals(FOUR.owner(user).id()), r.moving());
      if (r.moving()) {
        moving++;
        assertEquals("d", r.newOwner().id());
      }
    }
    assertTrue(moving > 2000 && moving < 3000, "moving " + moving);
  }

  @Test
  void theOldOwnersAnswerDecidesTheSecondSend() {
    assertEquals(Second.relay("e:17"), DualRoute.afterOld(OldOutcome.ACCEPTED, "e:17"));
    assertTrue(DualRoute.afterOld(OldOutcome.ACCEPTED, "e:17").relay());
    // accepted without a position: the old owner does not hold the pending map
    assertEquals(Second.NONE, DualRoute.afterOld(OldOutcome.ACCEPTED, null));
    assertFalse(Second.NONE.send());
    assertEquals(Second.NONE, DualRoute.afterOld(OldOutcome.DROPPED, null));
    assertEquals(Second.PLAIN, DualRoute.afterOld(OldOutcome.MISDIRECTED, null));
    assertFalse(Second.PLAIN.relay());
    for (OldOutcome unsure : List.of(OldOutcome.FAILED, OldOutcome.UNKNOWN)) {
      Second s = DualRoute.afterOld(unsure, null);
      assertTrue(s.send() && s.relay(), unsure.name());
      assertNull(s.position(), unsure.name());
    }
  }

  @Test
  void theAppHearsTheOldOwnerWhenItAcceptedElseTheNewOwner() {
    assertTrue(DualRoute.reportsOld(OldOutcome.ACCEPTED));
    assertTrue(DualRoute.reportsOld(OldOutcome.DROPPED));
    assertFalse(DualRoute.reportsOld(OldOutcome.MISDIRECTED));
    assertFalse(DualRoute.reportsOld(OldOutcome.FAILED));
    assertFalse(DualRoute.reportsOld(OldOutcome.UNKNOWN));
  }

  @Test
  void channelPhasesGoLosersThenUnchangedThenGainers() {
    assertEquals(List.of(List.of("a", "b", "c"), List.of("d")), ids(DualRoute.of(THREE, FOUR)));
    assertEquals(List.of(List.of("d"), List.of("a", "b", "c")), ids(DualRoute.of(FOUR, THREE)));
    ClusterMap before = ClusterMap.of(1, List.of(node("a", 2), node("b", 1), node("c", 1)));
    ClusterMap after = ClusterMap.of(2, List.of(node("a", 1), node("b", 1), node("c", 2)));
    assertEquals(
        List.of(List.of("a"), List.of("b"), List.of("c")), ids(DualRoute.of(before, after)));
  }

  @Test
  void aChannelRelayListsOnlyTheUsersTheTargetNodeGains() {
    DualRoute dual = DualRoute.of(THREE, FOUR);
    String toD = null;
    String stays = null;
    for (int i = 0; toD == null || stays == null; i++) {
      DualRoute.UserRoute r = dual.user("u" + i);
      if (r.moving()) {
        toD = r.user();
      } else {
        stays = r.user();
      }
    }
    Map<String, String> positions = new LinkedHashMap<>();
    positions.put(toD, "e:3");
    positions.put(stays, "e:4");
    assertEquals(Map.of(toD, "e:3"), dual.channelRelay("d", positions));
    assertEquals(Map.of(), dual.channelRelay("a", positions));
  }

  private static List<List<String>> ids(DualRoute dual) {
    List<List<String>> phases = new ArrayList<>();
    for (List<NodeInfo> phase : dual.channelPhases()) {
      List<String> ids = new ArrayList<>();
      phase.forEach(n -> ids.add(n.id()));
      phases.add(ids);
    }
    return phases;
  }
}
