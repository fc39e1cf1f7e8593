package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The node's public surface is {@link HalleyNode}, its config and a small control surface (map,
 * drain, stats): no Undertow, Micrometer or internal type appears in it.
 */
class PublicApiTest {
  private static final Set<String> API_PACKAGES =
      Set.of("dev.halley.node", "dev.halley.node.config", "dev.halley.cluster");

  @Test
  void halleyNodeExposesOnlyJdkClusterAndApiTypes() {
    List<String> leaks = new ArrayList<>();
    for (Method m : HalleyNode.class.getDeclaredMethods()) {
      if (!Modifier.isPublic(m.getModifiers())) {
        continue;
      }
      List<Type> types = new ArrayList<>(List.of(m.getGenericParameterTypes()));
      types.add(m.getGenericReturnType());
      types.addAll(List.of(m.getGenericExceptionTypes()));
      for (Type t : types) {
        check(m, t, leaks);
      }
    }
    assertEquals(List.of(), leaks);
  }

  private static void check(Method m, Type t, List<String> leaks) {
    if (t instanceof ParameterizedType p) {
      check(m, p.getRawType(), leaks);
      for (Type a : p.getActualTypeArguments()) {
        check(m, a, leaks);
      }
      return;
    }
    if (!(t instanceof Class<?> c)) {
      return;
    }
    while (c.isArray()) {
      c = c.getComponentType();
    }
    if (c.isPrimitive() || c.getPackageName().startsWith("java.")) {
      return;
    }
    if (!API_PACKAGES.contains(c.getPackageName())) {
      leaks.add(m.getName() + " exposes " + c.getName());
    }
  }

  @Test
  void statsMapAndDrainAreControlledWithoutInternals() throws Exception {
    try (HalleyNode node = HalleyNode.start(TestNodes.config().build())) {
      NodeStats s = node.stats();
      assertEquals(0, s.connections());
      assertTrue(s.ready());
      assertFalse(s.draining());
      int version = s.mapVersion();

      List<NodeInfo> nodes = node.map().nodes();
      ClusterMap next = ClusterMap.of(version + 1, nodes);
      MapChange change = node.updateMap(next);
      assertEquals(new MapChange(version, version + 1, true, 0, 0), change);
      assertEquals(version + 1, node.stats().mapVersion());

      IllegalArgumentException refused =
          assertThrows(
              IllegalArgumentException.class,
              () -> node.updateMap(ClusterMap.of(version, nodes.subList(0, 1))));
      assertTrue(refused.getMessage().contains(String.valueOf(version + 1)), refused.getMessage());

      assertEquals(0, node.startDrain(Duration.ofMillis(10)));
      assertTrue(node.stats().draining());
      assertFalse(node.stats().ready());
      assertEquals(0, node.startDrain(Duration.ofMillis(10)));
    }
  }
}
