package dev.halley.node.transport.ws;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Server frame headers (RFC 6455 5.2: unmasked, one frame per message) and close frames. */
final class WsFrames {
  static final int TEXT = 0x81; // FIN + text
  static final int CLOSE = 0x88;
  static final int PONG = 0x8A;

  /** Longest header of a server frame: 2 bytes + a 64-bit length. */
  static final int MAX_HEADER = 10;

  private WsFrames() {}

  static int headerSize(long payload) {
    return payload < 126 ? 2 : payload <= 0xffff ? 4 : 10;
  }

  static void putHeader(ByteBuffer b, int first, long payload) {
    b.put((byte) first);
    if (payload < 126) {
      b.put((byte) payload);
    } else if (payload <= 0xffff) {
      b.put((byte) 126);
      b.putShort((short) payload);
    } else {
      b.put((byte) 127);
      b.putLong(payload);
    }
  }

  /** A whole control frame of {@code payload[0..length)} (at most 125 bytes). */
  static ByteBuffer control(int first, byte[] payload, int length) {
    ByteBuffer b = ByteBuffer.allocate(2 + length);
    putHeader(b, first, length);
    b.put(payload, 0, length);
    return b.flip();
  }

  /**
   * A close frame with {@code code} (none if -1) and {@code reason}, cut to the 123 bytes a close
   * frame has room for (at a character boundary).
   */
  static ByteBuffer close(int code, String reason) {
    if (code < 0) {
      return control(CLOSE, new byte[0], 0);
    }
    byte[] text = reason == null ? new byte[0] : reason.getBytes(StandardCharsets.UTF_8);
    int n = Math.min(text.length, WsReader.MAX_CONTROL - 2);
    while (n > 0 && n < text.length && (text[n] & 0xC0) == 0x80) {
      n--; // do not cut a UTF-8 sequence
    }
    byte[] payload = new byte[2 + n];
    payload[0] = (byte) (code >>> 8);
    payload[1] = (byte) code;
    System.arraycopy(text, 0, payload, 2, n);
    return control(CLOSE, payload, payload.length);
  }
}
