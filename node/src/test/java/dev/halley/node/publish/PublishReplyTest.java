package dev.halley.node.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.wire.Json;
import dev.halley.node.wire.PublishStatus;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link PublishReply#toJson} (written without a generator) gives the bytes of {@link
 * PublishReply#toJsonByJackson} (the Jackson writer it replaced) for every reply: generated ones
 * with plain and unusual strings (escapes, control characters, non-ASCII, surrogate pairs and lone
 * surrogates), every outcome code, positions, channel and {@code pending} trees.
 */
class PublishReplyTest {
  private static final String[] ODD = {
    "\"", "\\", "\n", "\t", "\u0000", "\u001f", "\u007f", "é", "ü", "€", "\u2028", "😀", "\ud800",
    "\udc00", "/", "<", " "
  };

  @Test
  void aUnicastReplyIsWrittenAsBefore() {
    PublishReply reply = new PublishReply("a", 3, -1);
    reply.add(users(null, List.of("u-1"), new int[] {Idempotency.delivered(1)}, null));
    reply.add(users("k1", List.of("u-2"), new int[] {Idempotency.BUFFERED}, null));
    String expected =
        "{\"node\":\"a\",\"mapVersion\":3,\"results\":["
            + "{\"status\":\"accepted\",\"connections\":1,\"delivered\":[\"u-1\"],\"buffered\":[],"
            + "\"dropped\":[],\"misdirected\":[],\"pending\":[]},"
            + "{\"id\":\"k1\",\"status\":\"accepted\",\"connections\":0,\"delivered\":[],"
            + "\"buffered\":[\"u-2\"],\"dropped\":[],\"misdirected\":[],\"pending\":[]}]}";
    assertEquals(expected, new String(reply.toJsonByJackson(), StandardCharsets.UTF_8));
    assertEquals(expected, new String(reply.toJson(), StandardCharsets.UTF_8));
  }

  @Test
  void everyGeneratedReplyIsByteIdenticalToJacksons() {
    Random random = new Random(12);
    for (int n = 0; n < 5_000; n++) {
      PublishReply reply =
          new PublishReply(
              text(random), random.nextInt(1000), random.nextBoolean() ? -1 : random.nextInt(1000));
      int results = random.nextInt(6);
      for (int r = 0; r < results; r++) {
        reply.add(random.nextInt(4) == 0 ? tree(random) : users(random));
      }
      for (PublishReply.Result r : reply.results()) { // the metrics' counts, as written
        if (r instanceof PublishReply.Users) {
          ObjectNode written =
              (ObjectNode) reply.toTree().path("results").get(reply.results().indexOf(r));
          assertEquals(written.path("buffered").size(), r.buffered(), "buffered, reply " + n);
          assertEquals(written.path("misdirected").size(), r.misdirected(), "misdirected " + n);
        }
      }
      byte[] jackson = reply.toJsonByJackson();
      assertEquals(
          new String(jackson, StandardCharsets.ISO_8859_1),
          new String(reply.toJson(), StandardCharsets.ISO_8859_1),
          "reply " + n);
    }
  }

  @Test
  void aLargeReplyAfterSmallOnesIsWholeAndTheNextIsToo() {
    PublishReply big = new PublishReply("a", 1, -1);
    for (int i = 0; i < 2_000; i++) {
      big.add(users("key-" + i, List.of("user-" + i), new int[] {Idempotency.DROPPED}, null));
    }
    assertEquals(new String(big.toJsonByJackson()), new String(big.toJson()));
    PublishReply small = new PublishReply("b", 2, 3);
    small.add(users(null, List.of("x"), new int[] {Idempotency.MISDIRECTED}, null));
    assertEquals(new String(small.toJsonByJackson()), new String(small.toJson()));
  }

  private static PublishReply.Users users(
      String id, List<String> users, int[] outcomes, ObjectNode positions) {
    return new PublishReply.Users(id, users, outcomes, positions, false, true);
  }

  private static PublishReply.Result users(Random random) {
    int n = 1 + random.nextInt(5);
    List<String> users = new ArrayList<>();
    int[] outcomes = new int[n];
    for (int i = 0; i < n; i++) {
      users.add(text(random) + i); // distinct, as the fan-out gives them
      outcomes[i] =
          switch (random.nextInt(5)) {
            case 0 -> Idempotency.delivered(1 + random.nextInt(random.nextBoolean() ? 3 : 100_000));
            case 1 -> Idempotency.BUFFERED;
            case 2 -> Idempotency.DROPPED;
            case 3 -> Idempotency.MISDIRECTED;
            default -> Idempotency.IN_FLIGHT; // pending
          };
    }
    ObjectNode positions = null;
    if (random.nextInt(3) == 0) {
      positions = Json.MAPPER.createObjectNode();
      for (int i = 0; i < n; i++) {
        if (random.nextBoolean()) {
          positions.put(users.get(i), random.nextInt(1000) + ":" + random.nextLong(1L << 40));
        }
      }
    }
    return new PublishReply.Users(
        random.nextBoolean() ? null : text(random),
        users,
        outcomes,
        positions,
        random.nextBoolean(),
        random.nextBoolean());
  }

  private static PublishReply.Result tree(Random random) {
    ObjectNode t = Json.MAPPER.createObjectNode();
    if (random.nextBoolean()) {
      t.put("id", text(random));
    }
    if (random.nextBoolean()) {
      t.put("status", PublishStatus.PENDING);
      t.putArray("pending").add(text(random)).add(text(random) + "x");
    } else {
      t.put("channel", text(random));
      t.put("status", PublishStatus.ACCEPTED);
      t.put("users", random.nextInt(10_000));
      t.put("connections", random.nextLong(1L << 35));
      if (random.nextBoolean()) {
        t.putObject("positions").put(text(random), "7:" + random.nextInt(99));
      }
    }
    return new PublishReply.Tree(t);
  }

  /** Mostly plain IDs; sometimes empty, sometimes with characters that need care. */
  private static String text(Random random) {
    StringBuilder s = new StringBuilder();
    int len = random.nextInt(12);
    for (int i = 0; i < len; i++) {
      int kind = random.nextInt(10);
      if (kind == 0) {
        s.append(ODD[random.nextInt(ODD.length)]);
      } else if (kind == 1) {
        s.append((char) random.nextInt(0x800));
      } else {
        s.append((char) ('!' + random.nextInt(94)));
      }
    }
    return s.toString();
  }
}
