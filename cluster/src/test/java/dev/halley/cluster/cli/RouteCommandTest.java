package dev.halley.cluster.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.Owner;
import dev.halley.cluster.internal.BuildVersion;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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

  @Test
  void unknownOptionIsReportedBeforeTheMissingMap() {
    assertEquals(2, run("route", "--bogus"));
    assertTrue(err.toString().contains("Unknown option: '--bogus'"), err.toString());
    assertTrue(!err.toString().contains("--map"), err.toString());
    assertTrue(err.toString().contains("Try 'halley route --help'"), err.toString());
  }

  @Test
  void sampleOrSeedWithoutCompareIsAUsageError() {
    assertEquals(2, run("route", "--map", SAMPLE.toString(), "--sample", "5", "alice"));
    assertTrue(err.toString().contains("--sample needs --compare"), err.toString());
    assertEquals(2, run("route", "--map", SAMPLE.toString(), "--seed", "5", "alice"));
    assertTrue(err.toString().contains("--seed needs --compare"), err.toString());
    assertEquals("", out.toString());
  }

  @Test
  void emptyAndOverlongUserIdsHaveNoOwner() {
    String tooLong = "x".repeat(257);
    assertEquals(1, run("route", "--map", SAMPLE.toString(), "", "alice", tooLong));
    assertTrue(out.toString().startsWith("alice\t"), out.toString());
    assertEquals(1, out.toString().lines().count(), out.toString());
    assertTrue(err.toString().contains("argument 1: empty user ID, no owner"), err.toString());
    assertTrue(
        err.toString().contains("argument 3: user ID is 257 UTF-8 bytes, more than 256"),
        err.toString());
  }

  @Test
  void invalidUtf8OnStandardInputHasNoOwner() throws IOException {
    Owner owner = Owner.of(ClusterMap.load(SAMPLE));
    byte[] input = {
      'a',
      'l',
      'i',
      'c',
      'e',
      '\n',
      (byte) 0xff,
      (byte) 0xfe,
      '\n',
      '\n',
      (byte) 0xed,
      (byte) 0xa0,
      (byte) 0x80,
      '\n',
      'b',
      'o',
      'b',
      '\r',
      '\n'
    };
    PrintWriter o = new PrintWriter(out, true);
    PrintWriter e = new PrintWriter(err, true);
    boolean all = RouteCommand.routeLines(new ByteArrayInputStream(input), owner, o, e);
    o.flush();
    assertTrue(!all);
    assertEquals(
        List.of("alice", "bob"),
        out.toString().lines().map(l -> l.substring(0, l.indexOf('\t'))).toList());
    assertTrue(err.toString().contains("line 2: not valid UTF-8, no owner"), err.toString());
    assertTrue(err.toString().contains("line 3: empty user ID, no owner"), err.toString());
    assertTrue(err.toString().contains("line 4: not valid UTF-8, no owner"), err.toString());
    assertTrue(!out.toString().contains("\ufffd"), out.toString());
  }

  @Test
  void aLongLineOnStandardInputIsRejectedWithoutBeingHeld() throws IOException {
    Owner owner = Owner.of(ClusterMap.load(SAMPLE));
    byte[] input = ("y".repeat(5_000_000) + "\nalice\n").getBytes(StandardCharsets.UTF_8);
    boolean all =
        RouteCommand.routeLines(
            new ByteArrayInputStream(input),
            owner,
            new PrintWriter(out, true),
            new PrintWriter(err, true));
    assertTrue(!all);
    assertTrue(out.toString().startsWith("alice\t"), out.toString());
    assertTrue(err.toString().contains("line 1: user ID is more than 256 bytes"), err.toString());
  }

  @Test
  void thePublicViewOfAMapIsAccepted(@TempDir Path dir) throws IOException {
    ClusterMap full = ClusterMap.load(SAMPLE);
    Path view = dir.resolve("view.json");
    Files.writeString(view, full.publicViewJson());
    assertEquals(0, run("route", "--map", view.toString(), "alice", "bob"));
    String expected =
        "alice\t"
            + full.owner("alice").id()
            + "\t"
            + full.owner("alice").publicUrl()
            + "\nbob\t"
            + full.owner("bob").id()
            + "\t"
            + full.owner("bob").publicUrl()
            + "\n";
    assertEquals(expected, out.toString().replace(System.lineSeparator(), "\n"));
  }

  @Test
  void aMissingMapFileSaysSo(@TempDir Path dir) {
    assertEquals(1, run("route", "--map", dir.resolve("nope.json").toString(), "alice"));
    assertTrue(err.toString().contains("nope.json: no such file"), err.toString());
  }

  @Test
  void versionIsTheBuildVersion() {
    assertEquals(0, run("--version"));
    assertEquals("halley " + BuildVersion.get(), out.toString().strip());
    assertTrue(BuildVersion.get().matches("\\d+\\.\\d+\\.\\d+.*"), BuildVersion.get());
  }

  @Test
  void helpListsTheExitCodes() {
    assertEquals(0, run("route", "--help"));
    assertTrue(out.toString().contains("Exit codes:"), out.toString());
    assertTrue(out.toString().contains("--sample without --compare"), out.toString());
  }
}
