package dev.halley.cluster.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RouteCommandTest {
  private static final Path SAMPLE = Path.of("../docs/examples/cluster-3.json");

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return HalleyCli.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
  }

  @Test
  void printsEachUsersOwnerAsUserNodeAndUrl() throws IOException {
    ClusterMap map = ClusterMap.load(SAMPLE);
    assertEquals(0, run("route", "--map", SAMPLE.toString(), "alice", "\u65e5\u672c\u8a9e"));
    String alice = map.owner("alice").id();
    String cjk = map.owner("\u65e5\u672c\u8a9e").id();
    assertEquals(
        "alice\t"
            + alice
            + "\t"
            + map.node(alice).orElseThrow().publicUrl()
            + "\n\u65e5\u672c\u8a9e\t"
            + cjk
            + "\t"
            + map.node(cjk).orElseThrow().publicUrl()
            + "\n",
        out.toString().replace(System.lineSeparator(), "\n"));
  }

  @Test
  void routeIsTheDefaultSubcommand() {
    assertEquals(0, run("--map", SAMPLE.toString(), "alice"));
    assertTrue(out.toString().startsWith("alice\t"), out.toString());
  }

  @Test
  void compareCountsMovedUsersAndWhere(@TempDir Path dir) throws IOException {
    ClusterMap three = ClusterMap.load(SAMPLE);
    String four =
        three
            .toJson()
            .replace(
                "]}",
                ",{\"id\":\"node-4\",\"publicUrl\":\"http://127.0.0.1:8084\","
                    + "\"internalUrl\":\"http://127.0.0.1:9084\"}]}");
    Path b = dir.resolve("four.json");
    Files.writeString(b, four);
    assertEquals(
        0,
        run("route", "--map", SAMPLE.toString(), "--compare", b.toString(), "--sample", "20000"));
    String text = out.toString();
    assertTrue(text.contains("least any change of these weights moves: 25.00%"), text);
    // every move goes to the new node, and about a quarter of the users move
    assertTrue(text.contains("node-1 -> node-4: "), text);
    assertTrue(!text.matches("(?s).*node-\\d -> node-[123].*"), text);
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("moved (\\d+) of 20000").matcher(text);
    assertTrue(m.find(), text);
    int moved = Integer.parseInt(m.group(1));
    assertTrue(moved > 4500 && moved < 5500, text);
  }

  @Test
  void badMapIsReportedWithExitCode1(@TempDir Path dir) throws IOException {
    Path bad = dir.resolve("bad.json");
    Files.writeString(bad, "{\"version\": 1, \"nodes\": []}");
    assertEquals(1, run("route", "--map", bad.toString(), "alice"));
    assertTrue(err.toString().contains("nodes must not be empty"), err.toString());
    assertEquals(1, run("route", "--map", dir.resolve("missing.json").toString(), "alice"));
    assertTrue(err.toString().contains("missing.json"), err.toString());
  }

  @Test
  void missingMapOptionIsAUsageError() {
    assertEquals(2, run("route", "alice"));
    assertTrue(err.toString().contains("--map"), err.toString());
  }
}
