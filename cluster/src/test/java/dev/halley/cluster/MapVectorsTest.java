package dev.halley.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** docs/cluster-map-vectors.json, which js-client's parseMap reads too: both agree on each. */
class MapVectorsTest {
  private static JsonNode vectors() throws IOException {
    return new ObjectMapper().readTree(Path.of("../docs/cluster-map-vectors.json").toFile());
  }

  static Stream<Arguments> invalid() throws IOException {
    List<Arguments> list = new ArrayList<>();
    for (JsonNode v : vectors().get("invalid")) {
      list.add(
          Arguments.of(v.get("name").asText(), v.get("text").asText(), v.get("error").asText()));
    }
    return list.stream();
  }

  static Stream<Arguments> valid() throws IOException {
    List<Arguments> list = new ArrayList<>();
    for (JsonNode v : vectors().get("valid")) {
      List<Integer> weights = new ArrayList<>();
      v.get("weights").forEach(w -> weights.add(w.intValue()));
      list.add(
          Arguments.of(
              v.get("name").asText(),
              v.get("text").asText(),
              v.get("version").intValue(),
              weights));
    }
    return list.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalid")
  void rejectsEveryInvalidVector(String name, String text, String error) {
    ClusterMapException e = assertThrows(ClusterMapException.class, () -> ClusterMap.parse(text));
    assertTrue(e.getMessage().contains(error), name + ": " + e.getMessage());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("valid")
  void acceptsEveryValidVector(String name, String text, int version, List<Integer> weights) {
    ClusterMap map = ClusterMap.parse(text);
    assertEquals(version, map.version(), name);
    assertEquals(weights, map.nodes().stream().map(NodeInfo::weight).toList(), name);
  }
}
