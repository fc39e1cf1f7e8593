package dev.halley.cluster;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.common.hash.Hashing;
import dev.halley.cluster.internal.OwnerHash;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Writes docs/hashing-vectors.json, the golden vectors of the owner function that the Java and JS
 * test suites read. Run it only on purpose, when the spec changes (which breaks every deployed
 * client); without {@code --write} it only reports whether the file is up to date.
 *
 * <pre>
 * ./mvnw -q -o -pl cluster test-compile exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=dev.halley.cluster.VectorsGenerator -Dexec.args="--write"
 * </pre>
 */
public final class VectorsGenerator {
  /** The vectors file, from the module directory (tests) or the repository root (exec:java). */
  static final Path FILE =
      Files.isDirectory(Path.of("docs"))
          ? Path.of("docs/hashing-vectors.json")
          : Path.of("../docs/hashing-vectors.json");

  /** User IDs every map is checked against. */
  static List<String> userIds() {
    List<String> ids = new ArrayList<>();
    // empty-ish and whitespace
    ids.addAll(List.of("", " ", "  ", "\t", "\n", "\u0000", "\u00a0"));
    // MurmurHash3 tail lengths 1..8
    ids.addAll(List.of("a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"));
    // ASCII
    ids.addAll(
        List.of(
            "alice",
            "Alice",
            "ALICE",
            "bob",
            "carol",
            "bob@example.com",
            "user:42",
            "user/42",
            "auth0|5f7c8ec7c33c6c004bbafe82",
            "550e8400-e29b-41d4-a716-446655440000",
            "The quick brown fox jumps over the lazy dog",
            "\"quoted\"",
            "back\\slash"));
    // numeric-looking
    ids.addAll(
        List.of(
            "0",
            "00",
            "1",
            "01",
            "-1",
            "42",
            "1e3",
            "1.0",
            "3.14159",
            "NaN",
            "Infinity",
            "4294967295",
            "4294967296",
            "9007199254740993",
            "18446744073709551616"));
    // accented: precomposed and decomposed forms are different IDs (no normalization)
    ids.addAll(
        List.of(
            "caf\u00e9", "cafe\u0301", "Zo\u00eb", "\u00e4", "a\u0308", "\u00df", "\u0130stanbul"));
    // other scripts: Greek, Cyrillic, Arabic, Hebrew, Devanagari, CJK, Hangul
    ids.addAll(
        List.of(
            "\u03b1\u03b2\u03b3",
            "\u043f\u0440\u0438\u0432\u0435\u0442",
            "\u0645\u0631\u062d\u0628\u0627",
            "\u05e9\u05dc\u05d5\u05dd",
            "\u0928\u092e\u0938\u094d\u0924\u0947",
            "\u65e5\u672c\u8a9e",
            "\u7528\u6237\u4e00",
            "\uc0ac\uc6a9\uc790",
            "\uff21\uff22\uff23"));
    // non-BMP: emoji, ZWJ sequence, flags, math letters, CJK extension B
    ids.addAll(
        List.of(
            "\ud83d\ude00",
            "\ud83d\udc69\u200d\ud83d\udcbb",
            "\ud83c\uddeb\ud83c\uddf7",
            "\ud835\udd18\ud835\udd2b\ud835\udd26",
            "\ud840\udc0b",
            "a\ud83d\ude00b",
            "\udbff\udfff"));
    // long: exactly 256 UTF-8 bytes (the protocol's limit), and longer
    ids.add("x".repeat(256));
    ids.add("\u00e9".repeat(128));
    ids.add("\ud83d\ude00".repeat(64));
    ids.add("long-" + "0123456789".repeat(100));
    // plain sample
    for (int i = 0; i < 24; i++) {
      ids.add("user-" + i);
    }
    return ids;
  }

  record NamedMap(String name, ClusterMap map) {}

  static List<NamedMap> maps() {
    List<NamedMap> maps = new ArrayList<>();
    maps.add(new NamedMap("1 node", map(List.of("solo"), List.of(1))));
    maps.add(new NamedMap("2 nodes, equal weights", map(List.of("a", "b"), List.of(1, 1))));
    maps.add(
        new NamedMap(
            "3 nodes, weights 1, 2, 3, listed out of ID order",
            map(List.of("node-3", "node-1", "node-2"), List.of(3, 1, 2))));
    maps.add(
        new NamedMap(
            "7 nodes, mixed IDs and weights",
            map(
                List.of("A", "a", "B.2", "n_07", "n-10", "n-9", "zz"),
                List.of(1, 1, 4, 2, 1, 1, 100))));
    List<String> ten = new ArrayList<>();
    List<Integer> tenWeights = new ArrayList<>();
    for (int i = 1; i <= 10; i++) {
      ten.add("node-" + i);
      tenWeights.add(1);
    }
    maps.add(new NamedMap("10 nodes, equal weights", map(ten, tenWeights)));
    List<String> hundred = new ArrayList<>();
    List<Integer> hundredWeights = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      hundred.add(String.format("n%03d", i));
      hundredWeights.add(1 + i % 5);
    }
    maps.add(new NamedMap("100 nodes, weights 1 to 5", map(hundred, hundredWeights)));
    String[] tie = collidingNodeIds();
    maps.add(
        new NamedMap(
            "tie: replica 0 of "
                + tie[0]
                + " and of "
                + tie[1]
                + " have the same key, so they score the same for every user and the smaller ID"
                + " ("
                + (tie[0].compareTo(tie[1]) < 0 ? tie[0] : tie[1])
                + ") always wins",
            map(List.of(tie[1], tie[0], "other"), List.of(1, 1, 1))));
    return maps;
  }

  /** The first two IDs {@code tie-<i>} whose replica 0 keys collide (a birthday search). */
  static String[] collidingNodeIds() {
    Map<Integer, String> seen = new HashMap<>();
    for (int i = 0; ; i++) {
      String id = "tie-" + i;
      String other = seen.putIfAbsent(OwnerHash.replicaKey(id, 0), id);
      if (other != null) {
        return new String[] {other, id};
      }
    }
  }

  private static ClusterMap map(List<String> ids, List<Integer> weights) {
    List<NodeInfo> nodes = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      int port = 8081 + i;
      nodes.add(
          new NodeInfo(
              ids.get(i),
              URI.create("http://127.0.0.1:" + port),
              URI.create("http://127.0.0.1:" + (port + 1000)),
              weights.get(i)));
    }
    return ClusterMap.of(1, nodes);
  }

  static long unsigned(int v) {
    return Integer.toUnsignedLong(v);
  }

  static ObjectNode generate(ObjectMapper mapper) throws IOException {
    HexFormat hex = HexFormat.of();
    ObjectNode root = mapper.createObjectNode();
    root.put(
        "about",
        "Golden vectors of the Halley owner function (docs/hashing.md). All hashes, keys and scores"
            + " are unsigned 32-bit integers in decimal. Generated by"
            + " cluster/src/test/java/dev/halley/cluster/VectorsGenerator.java; do not edit by"
            + " hand.");
    root.put("userSeed", unsigned(OwnerHash.USER_SEED));

    ArrayNode murmur = root.putArray("murmur3_32");
    Object[][] known = {
      {"", 0},
      {"", 1},
      {"", 0xffffffff},
      {"00000000", 0},
      {"61616161", 0x9747b28c},
      {"616263", 0x9747b28c},
      {"6162", 0x9747b28c},
      {"61", 0x9747b28c},
      {"48656c6c6f2c20776f726c6421", 0x9747b28c},
      {"ff", 0},
      {"ffff", 0},
      {"ffffff", 0},
      {"ffffffff", 0},
      {"80", 0x48414c4c},
      {"e282ac", 0x48414c4c},
    };
    for (Object[] k : known) {
      byte[] bytes = hex.parseHex((String) k[0]);
      int seed = (Integer) k[1];
      ObjectNode v = murmur.addObject();
      v.put("hex", (String) k[0]);
      v.put("seed", unsigned(seed));
      v.put("hash", unsigned(Hashing.murmur3_32_fixed(seed).hashBytes(bytes).asInt()));
    }

    ArrayNode fmix = root.putArray("fmix32");
    for (int x : new int[] {0, 1, 0x80000000, 0xffffffff, 0x12345678, 0xdeadbeef}) {
      ObjectNode v = fmix.addObject();
      v.put("in", unsigned(x));
      v.put("out", unsigned(OwnerHash.fmix32(x)));
    }

    ArrayNode users = root.putArray("userHashes");
    for (String id : userIds()) {
      ObjectNode v = users.addObject();
      v.put("userId", id);
      v.put("utf8Hex", hex.formatHex(id.getBytes(StandardCharsets.UTF_8)));
      v.put("hash", unsigned(OwnerHash.userHash(id)));
    }

    ArrayNode keys = root.putArray("replicaKeys");
    for (String id : List.of("a", "b", "node-1", "n000", "zz")) {
      for (int r = 0; r < 3; r++) {
        ObjectNode v = keys.addObject();
        v.put("nodeId", id);
        v.put("replica", r);
        v.put("key", unsigned(OwnerHash.replicaKey(id, r)));
      }
    }

    ArrayNode scores = root.putArray("scores");
    for (String user : List.of("alice", "", "\ud83d\ude00")) {
      for (String node : List.of("a", "b")) {
        int h = OwnerHash.userHash(user);
        int k = OwnerHash.replicaKey(node, 0);
        ObjectNode v = scores.addObject();
        v.put("userId", user);
        v.put("nodeId", node);
        v.put("replica", 0);
        v.put("score", unsigned(OwnerHash.score(h, k)));
      }
    }

    ArrayNode maps = root.putArray("maps");
    for (NamedMap named : maps()) {
      ObjectNode m = maps.addObject();
      m.put("name", named.name());
      m.set("map", mapper.readTree(named.map().toJson()));
      ObjectNode owners = m.putObject("owners");
      for (String id : userIds()) {
        owners.put(id, named.map().owner(id).id());
      }
    }
    return root;
  }

  static String render(ObjectMapper mapper, JsonNode root) throws IOException {
    DefaultPrettyPrinter printer =
        new DefaultPrettyPrinter().withArrayIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE);
    return mapper.writer(printer).writeValueAsString(root).replace("\r\n", "\n") + "\n";
  }

  public static void main(String[] args) throws IOException {
    boolean write = List.of(args).contains("--write");
    ObjectMapper mapper = new ObjectMapper();
    String text = render(mapper, generate(mapper));
    String current = Files.exists(FILE) ? Files.readString(FILE, StandardCharsets.UTF_8) : "";
    if (text.equals(current)) {
      System.out.println(FILE + " is up to date");
    } else if (write) {
      Files.writeString(FILE, text, StandardCharsets.UTF_8);
      System.out.println("wrote " + FILE.toAbsolutePath().normalize());
    } else {
      System.out.println(FILE + " differs from what the code computes; rerun with --write");
      System.exit(1);
    }
  }
}
