package dev.halley.node.transport.ws;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link WsReader} fed the same client frames in every way a socket can split them (one byte at a
 * time, random pieces, all at once) must report the same events: the reader keeps its state between
 * reads, whatever the split (header, length, mask or payload cut anywhere).
 */
class WsReaderTest {
  private static final byte[] KEY = {(byte) 0x9a, 0x01, (byte) 0xff, 0x42};

  private static void frame(ByteArrayOutputStream out, int first, byte[] payload) {
    out.write(first);
    if (payload.length < 126) {
      out.write(0x80 | payload.length);
    } else if (payload.length <= 0xffff) {
      out.write(0x80 | 126);
      out.write(payload.length >>> 8);
      out.write(payload.length);
    } else {
      out.write(0x80 | 127);
      for (int i = 7; i >= 0; i--) {
        out.write((int) ((long) payload.length >>> (8 * i)));
      }
    }
    out.write(KEY, 0, 4);
    for (int i = 0; i < payload.length; i++) {
      out.write(payload[i] ^ KEY[i & 3]);
    }
  }

  private static final class Events implements WsReader.Handler {
    final List<String> seen = new ArrayList<>();

    @Override
    public void onPing(byte[] payload, int length) {
      seen.add("ping " + new String(payload, 0, length, StandardCharsets.UTF_8));
    }

    @Override
    public void onClose(int code, String reason) {
      seen.add("close " + code + " " + reason);
    }

    @Override
    public void onError(int code, String reason) {
      seen.add("error " + code);
    }
  }

  private static List<String> feed(byte[] wire, int[] cuts, long limit) {
    WsReader r = new WsReader(limit);
    Events e = new Events();
    int at = 0;
    for (int cut : cuts) {
      r.feed(ByteBuffer.wrap(wire.clone(), at, cut - at).slice(), e);
      at = cut;
    }
    r.feed(ByteBuffer.wrap(wire.clone(), at, wire.length - at).slice(), e);
    return e.seen;
  }

  private static byte[] conversation() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] snowman = "caf\u00e9 \u2603 \uD83D\uDE00".getBytes(StandardCharsets.UTF_8);
    frame(out, 0x01, java.util.Arrays.copyOfRange(snowman, 0, 4)); // cut inside é
    frame(out, 0x89, "one".getBytes(StandardCharsets.UTF_8));
    frame(out, 0x00, java.util.Arrays.copyOfRange(snowman, 4, 9)); // cut inside the snowman
    frame(out, 0x80, java.util.Arrays.copyOfRange(snowman, 9, snowman.length));
    frame(out, 0x82, new byte[300]); // a 16-bit length
    frame(out, 0x8A, new byte[0]);
    frame(out, 0x81, "x".repeat(70_000).getBytes(StandardCharsets.US_ASCII)); // a 64-bit length
    frame(out, 0x89, "two".getBytes(StandardCharsets.UTF_8));
    frame(out, 0x88, new byte[] {0x03, (byte) 0xe9, 'g', 'o', 'n', 'e'}); // 1001 "gone"
    frame(out, 0x81, "after the close: never read".getBytes(StandardCharsets.UTF_8));
    return out.toByteArray();
  }

  @Test
  void everySplitOfTheStreamGivesTheSameEvents() {
    byte[] wire = conversation();
    List<String> expected = List.of("ping one", "ping two", "close 1001 gone");
    assertEquals(expected, feed(wire, new int[0], 100_000));
    int[] bytewise = new int[wire.length - 1];
    for (int i = 0; i < bytewise.length; i++) {
      bytewise[i] = i + 1;
    }
    assertEquals(expected, feed(wire, bytewise, 100_000));
    Random random = new Random(42);
    for (int round = 0; round < 200; round++) {
      int pieces = 1 + random.nextInt(40);
      int[] cuts = random.ints(pieces, 1, wire.length).sorted().distinct().toArray();
      assertEquals(expected, feed(wire, cuts, 100_000), "cuts " + java.util.Arrays.toString(cuts));
    }
  }

  @Test
  void theLimitIsCheckedFromEachFrameHeader() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    frame(out, 0x01, new byte[60]);
    frame(out, 0x80, new byte[41]); // 101 bytes in all, over 100
    byte[] wire = out.toByteArray();
    // The error comes as soon as the second header is read: none of its payload is needed.
    int headerEnd = 2 + 4 + 60 + 2;
    assertEquals(
        List.of("error 1009"), feed(java.util.Arrays.copyOf(wire, headerEnd), new int[0], 100));
    assertEquals(List.of(), feed(java.util.Arrays.copyOf(wire, headerEnd - 1), new int[0], 100));
  }

  @Test
  void utf8IsCheckedAsTheRfcSays() {
    assertTrue(
        WsReader.validUtf8(new byte[] {(byte) 0xF4, (byte) 0x8F, (byte) 0xBF, (byte) 0xBF}, 0, 4));
    assertTrue(
        !WsReader.validUtf8(new byte[] {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, 0, 4));
    assertTrue(!WsReader.validUtf8(new byte[] {(byte) 0xE0, (byte) 0x9F, (byte) 0xBF}, 0, 3));
    assertTrue(!WsReader.validUtf8(new byte[] {(byte) 0xED, (byte) 0xBF, (byte) 0xBF}, 0, 3));
    assertTrue(WsReader.validUtf8(new byte[] {(byte) 0xEE, (byte) 0x80, (byte) 0x80}, 0, 3));
    assertTrue(!WsReader.validUtf8(new byte[] {(byte) 0xC1, (byte) 0xBF}, 0, 2));
    assertTrue(!WsReader.validUtf8(new byte[] {(byte) 0xFF}, 0, 1));
    assertTrue(!WsReader.validUtf8(new byte[] {(byte) 0x80}, 0, 1));
  }
}
