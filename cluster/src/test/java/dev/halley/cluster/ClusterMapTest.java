package dev.halley.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ClusterMapTest {
  private static final String TWO_NODES =
      """
      {"version": 7, "nodes": [
        {"id": "b", "publicUrl": "https://b.example.com/halley/", "internalUrl": "http://10.0.0.2:9090", "weight": 2},
        {"id": "a", "publicUrl": "http://127.0.0.1:8081", "internalUrl": "http://127.0.0.1:9081"}
      ]}
      """;

  @Test
  void parsesNodesInDocumentOrderWithDefaultWeightOne() {
    ClusterMap map = ClusterMap.parse(TWO_NODES);
    assertEquals(7, map.version());
    assertEquals(List.of("b", "a"), map.nodes().stream().map(NodeInfo::id).toList());
    NodeInfo b = map.nodes().get(0);
    assertEquals(URI.create("https://b.example.com/halley/"), b.publicUrl());
    assertEquals(URI.create("http://10.0.0.2:9090"), b.internalUrl());
    assertEquals(2, b.weight());
    assertEquals(1, map.node("a").orElseThrow().weight());
    assertTrue(map.node("c").isEmpty());
  }

  @Test
  void toJsonRoundTrips() {
    ClusterMap map = ClusterMap.parse(TWO_NODES);
    assertEquals(map, ClusterMap.parse(map.toJson()));
    assertEquals(
        "{\"version\":7,\"nodes\":[{\"id\":\"b\",\"publicUrl\":\"https://b.example.com/halley/\","
            + "\"internalUrl\":\"http://10.0.0.2:9090\",\"weight\":2},{\"id\":\"a\","
            + "\"publicUrl\":\"http://127.0.0.1:8081\",\"internalUrl\":\"http://127.0.0.1:9081\","
            + "\"weight\":1}]}",
        map.toJson());
  }

  @Test
  void publicViewHasNoInternalUrls() {
    String view = ClusterMap.parse(TWO_NODES).publicViewJson();
    assertEquals(
        "{\"version\":7,\"nodes\":[{\"id\":\"b\",\"publicUrl\":\"https://b.example.com/halley/\","
            + "\"weight\":2},{\"id\":\"a\",\"publicUrl\":\"http://127.0.0.1:8081\",\"weight\":1}]}",
        view);
    assertFalse(view.contains("internal"));
    assertFalse(view.contains("10.0.0.2"));
  }

  @Test
  void withVersionKeepsNodesAndOwners() {
    ClusterMap map = ClusterMap.parse(TWO_NODES);
    ClusterMap v8 = map.withVersion(8);
    assertEquals(8, v8.version());
    assertEquals(map.nodes(), v8.nodes());
    assertSame(Owner.of(map), Owner.of(v8));
    assertThrows(ClusterMapException.class, () -> map.withVersion(-1));
  }

  @Test
  void ofCopiesTheListAndChecksIt() {
    NodeInfo a = node("a");
    List<NodeInfo> nodes = new java.util.ArrayList<>(List.of(a));
    ClusterMap map = ClusterMap.of(0, nodes);
    nodes.add(node("b"));
    assertEquals(1, map.nodes().size());
    assertThrows(UnsupportedOperationException.class, () -> map.nodes().add(a));
    assertThrows(ClusterMapException.class, () -> ClusterMap.of(0, List.of()));
    ClusterMapException dup =
        assertThrows(ClusterMapException.class, () -> ClusterMap.of(0, List.of(a, node("a"))));
    assertTrue(dup.getMessage().contains("\"a\""), dup.getMessage());
  }

  @Test
  void nodeInfoValidatesInItsConstructor() {
    URI ok = URI.create("http://127.0.0.1:1");
    assertThrows(ClusterMapException.class, () -> new NodeInfo("", ok, ok, 1));
    assertThrows(ClusterMapException.class, () -> new NodeInfo("a b", ok, ok, 1));
    assertThrows(ClusterMapException.class, () -> new NodeInfo("x".repeat(65), ok, ok, 1));
    assertThrows(ClusterMapException.class, () -> new NodeInfo(null, ok, ok, 1));
    assertThrows(ClusterMapException.class, () -> new NodeInfo("a", null, ok, 1));
    assertThrows(ClusterMapException.class, () -> new NodeInfo("a", URI.create("/rel"), ok, 1));
    assertThrows(ClusterMapException.class, () -> new NodeInfo("a", ok, ok, 0));
    assertThrows(ClusterMapException.class, () -> new NodeInfo("a", ok, ok, 101));
    assertEquals(100, new NodeInfo("x".repeat(64), ok, ok, 100).weight());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
          not JSON                 | {"version": 1,                                          | not valid JSON
          not an object            | [1, 2]                                                  | must be a JSON object
          trailing garbage         | {"version": 1, "nodes": [@N]} {}                        | not valid JSON
          duplicate key            | {"version": 1, "version": 2, "nodes": [@N]}             | Duplicate field 'version'
          missing version          | {"nodes": [@N]}                                         | version is missing
          fractional version       | {"version": 1.5, "nodes": [@N]}                         | version must be an integer in 0..2147483647: 1.5
          version as string        | {"version": "1", "nodes": [@N]}                         | version must be an integer in 0..2147483647: "1"
          negative version         | {"version": -1, "nodes": [@N]}                          | version must be an integer in 0..2147483647: -1
          huge version             | {"version": 2147483648, "nodes": [@N]}                  | version must be an integer in 0..2147483647: 2147483648
          missing nodes            | {"version": 1}                                          | nodes is missing
          nodes not an array       | {"version": 1, "nodes": {}}                             | nodes must be an array
          empty nodes              | {"version": 1, "nodes": []}                             | nodes must not be empty
          unknown top field        | {"version": 1, "nodes": [@N], "extra": true}            | unknown field "extra"
          unknown node field       | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http://h", "internalUrl": "http://h", "wieght": 2}]} | unknown field "nodes[0].wieght"
          node not an object       | {"version": 1, "nodes": ["a"]}                          | nodes[0] must be an object: "a"
          missing id               | {"version": 1, "nodes": [{"publicUrl": "http://h", "internalUrl": "http://h"}]} | nodes[0].id is missing
          bad id                   | {"version": 1, "nodes": [{"id": "a/b", "publicUrl": "http://h", "internalUrl": "http://h"}]} | "a/b"
          numeric id               | {"version": 1, "nodes": [{"id": 1, "publicUrl": "http://h", "internalUrl": "http://h"}]} | nodes[0].id must be a string: 1
          duplicate ids            | {"version": 1, "nodes": [@N, @N]}                       | duplicate node id "a" (nodes[1])
          relative url             | {"version": 1, "nodes": [{"id": "a", "publicUrl": "/x", "internalUrl": "http://h"}]} | nodes[0].publicUrl must be an absolute http or https URL: "/x"
          ws url                   | {"version": 1, "nodes": [{"id": "a", "publicUrl": "ws://h", "internalUrl": "http://h"}]} | nodes[0].publicUrl must be an absolute http or https URL: "ws://h"
          unparsable url           | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http://h", "internalUrl": "http://h x"}]} | nodes[0].internalUrl is not a valid URL
          url without host         | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http:///x", "internalUrl": "http://h"}]} | nodes[0].publicUrl must have a host
          url with query           | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http://h/?a=1", "internalUrl": "http://h"}]} | must not have a query or fragment
          url with empty query     | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http://h/?", "internalUrl": "http://h"}]} | must not have a query or fragment
          url with fragment        | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http://h/#x", "internalUrl": "http://h"}]} | must not have a query or fragment
          url with user info       | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http://u:p@h/", "internalUrl": "http://h"}]} | must not contain user info
          missing internalUrl      | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http://h"}]} | nodes[0].internalUrl is missing
          zero weight              | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http://h", "internalUrl": "http://h", "weight": 0}]} | nodes[0].weight must be an integer in 1..100: 0
          too large weight         | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http://h", "internalUrl": "http://h", "weight": 101}]} | nodes[0].weight must be an integer in 1..100: 101
          fractional weight        | {"version": 1, "nodes": [{"id": "a", "publicUrl": "http://h", "internalUrl": "http://h", "weight": 1.5}]} | nodes[0].weight must be an integer in 1..100: 1.5
          """)
  void rejectsBadMapsNamingTheBadValue(String name, String json, String expected) {
    String doc =
        json.replace(
            "@N", "{\"id\": \"a\", \"publicUrl\": \"http://h\", \"internalUrl\": \"http://h\"}");
    ClusterMapException e = assertThrows(ClusterMapException.class, () -> ClusterMap.parse(doc));
    assertTrue(
        e.getMessage().contains(expected),
        () -> "expected message containing <" + expected + "> but was <" + e.getMessage() + ">");
  }

  @Test
  void rejectsMoreThanMaxNodes() {
    StringBuilder sb = new StringBuilder("{\"version\":1,\"nodes\":[");
    for (int i = 0; i <= ClusterMap.MAX_NODES; i++) {
      sb.append(i == 0 ? "" : ",").append("{\"id\":\"n").append(i);
      sb.append("\",\"publicUrl\":\"http://h\",\"internalUrl\":\"http://h\"}");
    }
    String json = sb.append("]}").toString();
    ClusterMapException e = assertThrows(ClusterMapException.class, () -> ClusterMap.parse(json));
    assertTrue(e.getMessage().contains("at most 10000"), e.getMessage());
  }

  @Test
  void rejectsATotalWeightOverTheBoundSoEveryLookupStaysCheap() {
    // Issue 11 item 7: 10,000 nodes of weight 100 cost ~1.1 ms per owner lookup.
    StringBuilder sb = new StringBuilder("{\"version\":1,\"nodes\":[");
    for (int i = 0; i < 101; i++) {
      sb.append(i == 0 ? "" : ",").append("{\"id\":\"n").append(i);
      sb.append("\",\"publicUrl\":\"http://h\",\"internalUrl\":\"http://h\",\"weight\":100}");
    }
    String json = sb.append("]}").toString();
    ClusterMapException e = assertThrows(ClusterMapException.class, () -> ClusterMap.parse(json));
    assertEquals("the nodes' weights must add up to at most 10000: 10100", e.getMessage());
    List<NodeInfo> atTheBound = new java.util.ArrayList<>();
    URI u = URI.create("http://h");
    for (int i = 0; i < 100; i++) {
      atTheBound.add(new NodeInfo("n" + i, u, u, 100));
    }
    assertEquals(100, ClusterMap.of(1, atTheBound).nodes().size());
  }

  @Test
  void loadsAFileAndNamesItInErrors(@TempDir Path dir) throws IOException {
    Path good = dir.resolve("good.json");
    Files.writeString(good, TWO_NODES);
    assertEquals(ClusterMap.parse(TWO_NODES), ClusterMap.load(good));
    Path bad = dir.resolve("bad.json");
    Files.writeString(bad, "{\"version\": 1, \"nodes\": []}");
    ClusterMapException e = assertThrows(ClusterMapException.class, () -> ClusterMap.load(bad));
    assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
    assertThrows(NoSuchFileException.class, () -> ClusterMap.load(dir.resolve("missing.json")));
  }

  @Test
  void loadsTheSampleMapInDocs() throws IOException {
    ClusterMap map = ClusterMap.load(Path.of("../docs/examples/cluster-3.json"));
    assertEquals(3, map.nodes().size());
  }

  private static NodeInfo node(String id) {
    return new NodeInfo(
        id, URI.create("http://127.0.0.1:8081"), URI.create("http://127.0.0.1:9081"));
  }
}
