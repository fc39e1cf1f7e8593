package dev.halley.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.MapChange.Phase;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MapChangeTest {
  static NodeInfo node(String id, int weight) {
    return new NodeInfo(
        id, URI.create("http://" + id + ".pub"), URI.create("http://" + id + ".int"), weight);
  }

  @Test
  void addingANodeMakesItTheOnlyGainerAndEveryMoveGoesToIt() {
    ClusterMap three = ClusterMap.of(1, List.of(node("a", 1), node("b", 1), node("c", 1)));
    ClusterMap four =
        ClusterMap.of(2, List.of(node("a", 1), node("b", 1), node("c", 1), node("d", 1)));
    MapChange change = MapChange.of(three, four);
    assertEquals(Phase.UNCHANGED, change.phase("a"));
    assertEquals(Phase.GAINER, change.phase("d"));
    assertEquals(List.of(), change.nodes(Phase.LOSER));
    assertEquals(List.of("d", "a", "b", "c"), ids(change.activationOrder()));
    int moved = 0;
    for (int i = 0; i < 20_000; i++) {
      String user = "u" + i;
      String from = three.owner(user).id();
      String to = four.owner(user).id();
      if (!from.equals(to)) {
        moved++;
        assertEquals("d", to, user);
        assertTrue(change.lossless(from, to), user);
      }
    }
    assertTrue(moved > 20_000 / 4 * 0.9 && moved < 20_000 / 4 * 1.1, "moved " + moved);
  }

  @Test
  void removingANodeMakesItTheOnlyLoserAndItsNodeInfoIsKept() {
    ClusterMap four =
        ClusterMap.of(1, List.of(node("a", 1), node("b", 1), node("c", 1), node("d", 1)));
    ClusterMap three = ClusterMap.of(2, List.of(node("a", 1), node("b", 1), node("c", 1)));
    MapChange change = MapChange.of(four, three);
    assertEquals(Phase.LOSER, change.phase("d"));
    assertEquals(List.of("d"), ids(change.nodes(Phase.LOSER)));
    assertEquals(List.of("a", "b", "c", "d"), ids(change.activationOrder()));
    assertEquals(List.of("a", "b", "c", "d"), ids(change.nodes()));
    for (int i = 0; i < 20_000; i++) {
      String user = "u" + i;
      String from = four.owner(user).id();
      String to = three.owner(user).id();
      if (!from.equals(to)) {
        assertEquals("d", from, user);
        assertTrue(change.lossless(from, to), user);
      }
    }
  }

  @Test
  void weightsUpAndDownMakeGainersAndLosersAndSameClassMovesAreNotLossless() {
    ClusterMap before = ClusterMap.of(1, List.of(node("a", 2), node("b", 2), node("c", 1)));
    ClusterMap after = ClusterMap.of(2, List.of(node("a", 1), node("b", 3), node("c", 1)));
    MapChange change = MapChange.of(before, after);
    assertEquals(Phase.LOSER, change.phase("a"));
    assertEquals(Phase.GAINER, change.phase("b"));
    assertEquals(Phase.UNCHANGED, change.phase("c"));
    assertTrue(change.lossless("a", "b"));
    assertFalse(change.lossless("b", "a"));
    assertFalse(change.lossless("a", "a"));
    assertFalse(change.movesNobody());
    assertTrue(MapChange.of(before, before.withVersion(5)).movesNobody());
    assertThrows(IllegalArgumentException.class, () -> change.phase("zz"));
  }

  @Test
  void thePendingMapsUrlsWinForANodeInBoth() {
    ClusterMap before = ClusterMap.of(1, List.of(node("a", 1)));
    NodeInfo moved = new NodeInfo("a", URI.create("http://new.pub"), URI.create("http://new"), 1);
    ClusterMap after = ClusterMap.of(2, List.of(moved, node("b", 1)));
    assertEquals(moved, MapChange.of(before, after).nodes().get(0));
  }

  private static List<String> ids(List<NodeInfo> nodes) {
    List<String> ids = new ArrayList<>();
    nodes.forEach(n -> ids.add(n.id()));
    return ids;
  }
}
