package dev.halley.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.hash.Hashing;
import dev.halley.cluster.internal.OwnerHash;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Checks the Java owner function against docs/hashing-vectors.json, which JS checks too. */
class HashingVectorsTest {
  private static JsonNode vectors;

  @BeforeAll
  static void readVectors() throws IOException {
    vectors = new ObjectMapper().readTree(VectorsGenerator.FILE.toFile());
  }

  private static long u(int v) {
    return Integer.toUnsignedLong(v);
  }

  @Test
  void murmur3MatchesPublishedValues() {
    assertEquals(u(OwnerHash.USER_SEED), vectors.get("userSeed").asLong());
    assertTrue(vectors.get("murmur3_32").size() >= 10);
    for (JsonNode v : vectors.get("murmur3_32")) {
      byte[] bytes = HexFormat.of().parseHex(v.get("hex").asText());
      int seed = (int) v.get("seed").asLong();
      assertEquals(
          v.get("hash").asLong(),
          u(Hashing.murmur3_32_fixed(seed).hashBytes(bytes).asInt()),
          v::toString);
    }
  }

  @Test
  void fmix32MatchesVectors() {
    for (JsonNode v : vectors.get("fmix32")) {
      assertEquals(v.get("out").asLong(), u(OwnerHash.fmix32((int) v.get("in").asLong())));
    }
  }

  @Test
  void userHashesAreMurmur3OfTheUtf8Bytes() {
    int checked = 0;
    for (JsonNode v : vectors.get("userHashes")) {
      String id = v.get("userId").asText();
      assertEquals(
          v.get("utf8Hex").asText(), HexFormat.of().formatHex(id.getBytes(StandardCharsets.UTF_8)));
      assertEquals(v.get("hash").asLong(), u(OwnerHash.userHash(id)), () -> "user " + v);
      checked++;
    }
    assertTrue(checked > 60, "only " + checked + " user vectors");
  }

  @Test
  void userHashIsMurmur3OfGetBytesForRandomUnicodeStrings() {
    int[] points = {
      0, 0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff
    };
    java.util.SplittableRandom random = new java.util.SplittableRandom(5);
    for (int i = 0; i < 20_000; i++) {
      StringBuilder sb = new StringBuilder();
      int length = random.nextInt(12);
      for (int j = 0; j < length; j++) {
        sb.appendCodePoint(
            random.nextBoolean()
                ? points[random.nextInt(points.length)]
                : random.nextInt(0x80, 0x10ffff + 1) & ~(random.nextInt(2) * 0x800));
      }
      String s = sb.toString();
      if (s.codePoints().anyMatch(c -> c >= 0xd800 && c <= 0xdfff)) {
        continue; // a lone surrogate code point: not a valid user ID
      }
      byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
      assertEquals(
          Hashing.murmur3_32_fixed(OwnerHash.USER_SEED).hashBytes(bytes).asInt(),
          OwnerHash.userHash(s),
          s);
    }
  }

  @Test
  void replicaKeysAndScoresMatchVectors() {
    for (JsonNode v : vectors.get("replicaKeys")) {
      assertEquals(
          v.get("key").asLong(),
          u(OwnerHash.replicaKey(v.get("nodeId").asText(), v.get("replica").asInt())));
    }
    for (JsonNode v : vectors.get("scores")) {
      int h = OwnerHash.userHash(v.get("userId").asText());
      int k = OwnerHash.replicaKey(v.get("nodeId").asText(), v.get("replica").asInt());
      assertEquals(v.get("score").asLong(), u(OwnerHash.score(h, k)));
    }
  }

  @Test
  void everyMapGivesTheExpectedOwners() {
    int maps = 0;
    for (JsonNode m : vectors.get("maps")) {
      ClusterMap map = ClusterMap.parse(m.get("map").toString());
      // a second instance, so the cached and the uncached paths both run
      Owner fresh = new Owner(map.nodes());
      for (Iterator<Map.Entry<String, JsonNode>> it = m.get("owners").fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        String expected = e.getValue().asText();
        assertEquals(expected, map.owner(e.getKey()).id(), () -> m.get("name") + ": " + e.getKey());
        assertEquals(expected, map.owner(e.getKey()).id(), "cached lookup");
        assertEquals(expected, fresh.ownerOfUncached(e.getKey()).id());
      }
      maps++;
    }
    assertEquals(7, maps);
  }

  @Test
  void tieMapAlwaysPicksTheSmallerId() {
    JsonNode tie = vectors.get("maps").get(6);
    ClusterMap map = ClusterMap.parse(tie.get("map").toString());
    String[] ids = VectorsGenerator.collidingNodeIds();
    String smaller = ids[0].compareTo(ids[1]) < 0 ? ids[0] : ids[1];
    String larger = smaller.equals(ids[0]) ? ids[1] : ids[0];
    int smallerWins = 0;
    for (int i = 0; i < 3000; i++) {
      String owner = map.owner("u" + i).id();
      assertTrue(!owner.equals(larger), "the larger ID of a tie never wins");
      smallerWins += owner.equals(smaller) ? 1 : 0;
    }
    // two of the three replicas share a key, so there are two distinct scores: the smaller ID owns
    // about half of the users, "other" the rest
    assertTrue(smallerWins > 1300 && smallerWins < 1700, "smaller ID won " + smallerWins);
  }

  @Test
  void vectorsFileIsWhatTheCodeComputes() throws IOException {
    ObjectMapper mapper = new ObjectMapper();
    String expected = VectorsGenerator.render(mapper, VectorsGenerator.generate(mapper));
    assertEquals(
        expected,
        java.nio.file.Files.readString(VectorsGenerator.FILE, StandardCharsets.UTF_8),
        "docs/hashing-vectors.json is stale or hand-edited; see VectorsGenerator");
  }
}
