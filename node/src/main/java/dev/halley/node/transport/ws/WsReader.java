package dev.halley.node.transport.ws;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * A strict reader of client WebSocket frames (RFC 6455 section 5), fed the bytes as they arrive.
 * The node needs nothing from client messages (docs/protocol.md): text and binary payloads are
 * counted, text is checked to be UTF-8, and both are dropped; nothing of them is kept. Only control
 * frames (at most 125 bytes) are gathered, to answer a ping and read a close.
 *
 * <p>Checked: every client frame is masked; reserved bits are 0 (no extension is negotiated);
 * opcodes are 0, 1, 2, 8, 9, 10; control frames are not fragmented and at most 125 bytes; a
 * continuation frame continues a message and a new message does not start inside one; text is valid
 * UTF-8 across fragments (1007 otherwise); a close frame's status code is one a peer may send and
 * its reason is UTF-8. The size of a message (all its fragments) is checked against {@code
 * maxMessageBytes} from each frame's header, before any of the frame's payload is read, so an
 * oversized declared length is refused at once (1009). Each broken rule ends the reader with its
 * close code (1002 protocol error unless said).
 *
 * <p>State: a few fields, no buffer unless a control frame is being read. One connection's IO
 * thread only.
 */
final class WsReader {
  static final int OP_CONTINUATION = 0;
  static final int OP_TEXT = 1;
  static final int OP_BINARY = 2;
  static final int OP_CLOSE = 8;
  static final int OP_PING = 9;
  static final int OP_PONG = 10;

  static final int PROTOCOL_ERROR = 1002;
  static final int INVALID_PAYLOAD = 1007;
  static final int MESSAGE_TOO_BIG = 1009;

  /** Largest control frame payload (RFC 6455 5.5). */
  static final int MAX_CONTROL = 125;

  /** What the reader found. */
  interface Handler {
    /** A ping with {@code payload[0..length)} (unmasked): answer with a pong. */
    void onPing(byte[] payload, int length);

    /** A valid close frame: {@code code} -1 when it had no status code. */
    void onClose(int code, String reason);

    /** The peer broke a rule: close with {@code code} (1002, 1007, 1009). */
    void onError(int code, String reason);
  }

  private static final int HEAD0 = 0;
  private static final int HEAD1 = 1;
  private static final int LENGTH = 2;
  private static final int MASK = 3;
  private static final int PAYLOAD = 4;
  private static final int DONE = 5;

  private final long maxMessageBytes;
  private int state = HEAD0;
  private int opcode;
  private boolean fin;
  private int lengthBytesLeft;
  private long length;
  private int maskKey;
  private int maskBytesLeft;
  private long payloadLeft;
  private int maskIndex;
  // The message being read (data frames): its opcode (0: none), bytes so far.
  private int messageOpcode;
  private long messageBytes;
  // UTF-8 state of the text message: continuation bytes still needed, bounds of the next one.
  private int utf8Need;
  private int utf8Low = 0x80;
  private int utf8High = 0xBF;
  // The control frame being read.
  private byte[] control;
  private int controlLength;

  WsReader(long maxMessageBytes) {
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Whether the reader stopped (an error or a close frame): it reads nothing more. */
  boolean done() {
    return state == DONE;
  }

  /** Consumes {@code in} (position to limit; the payload is unmasked in place). */
  void feed(ByteBuffer in, Handler h) {
    while (state != DONE && in.hasRemaining()) {
      switch (state) {
        case HEAD0 -> head0(in.get(), h);
        case HEAD1 -> head1(in.get(), h);
        case LENGTH -> {
          length = (length << 8) | (in.get() & 0xff);
          if (--lengthBytesLeft == 0) {
            lengthDone(h);
          }
        }
        case MASK -> {
          maskKey = (maskKey << 8) | (in.get() & 0xff);
          if (--maskBytesLeft == 0) {
            startPayload(h);
          }
        }
        case PAYLOAD -> payload(in, h);
        default -> throw new IllegalStateException("state " + state);
      }
    }
  }

  private void head0(byte b, Handler h) {
    fin = (b & 0x80) != 0;
    if ((b & 0x70) != 0) {
      fail(h, PROTOCOL_ERROR, "reserved bits set (no extension was negotiated)");
      return;
    }
    opcode = b & 0x0f;
    switch (opcode) {
      case OP_CONTINUATION -> {
        if (messageOpcode == 0) {
          fail(h, PROTOCOL_ERROR, "continuation frame without a message to continue");
          return;
        }
      }
      case OP_TEXT, OP_BINARY -> {
        if (messageOpcode != 0) {
          fail(h, PROTOCOL_ERROR, "new message inside a fragmented message");
          return;
        }
      }
      case OP_CLOSE, OP_PING, OP_PONG -> {
        if (!fin) {
          fail(h, PROTOCOL_ERROR, "fragmented control frame");
          return;
        }
      }
      default -> {
        fail(h, PROTOCOL_ERROR, "unknown opcode " + opcode);
        return;
      }
    }
    state = HEAD1;
  }

  private void head1(byte b, Handler h) {
    if ((b & 0x80) == 0) {
      fail(h, PROTOCOL_ERROR, "client frames must be masked");
      return;
    }
    int len = b & 0x7f;
    if (len == 126 || len == 127) {
      if (opcode >= OP_CLOSE) {
        fail(h, PROTOCOL_ERROR, "control frame over " + MAX_CONTROL + " bytes");
        return;
      }
      length = 0;
      lengthBytesLeft = len == 126 ? 2 : 8;
      state = LENGTH;
    } else {
      length = len;
      lengthDone(h);
    }
  }

  private void lengthDone(Handler h) {
    if (length < 0) {
      fail(h, PROTOCOL_ERROR, "frame length with its most significant bit set");
      return;
    }
    if (opcode < OP_CLOSE) {
      // The limit holds from the header: nothing of an oversized message is read.
      if (length > maxMessageBytes - messageBytes) {
        fail(h, MESSAGE_TOO_BIG, "messages to the node are at most " + maxMessageBytes + " bytes");
        return;
      }
    } else if (length > MAX_CONTROL) {
      fail(h, PROTOCOL_ERROR, "control frame over " + MAX_CONTROL + " bytes");
      return;
    }
    maskKey = 0;
    maskBytesLeft = 4;
    state = MASK;
  }

  private void startPayload(Handler h) {
    payloadLeft = length;
    maskIndex = 0;
    if (opcode >= OP_CLOSE) {
      controlLength = 0;
      if (control == null) {
        control = new byte[MAX_CONTROL];
      }
    } else {
      if (opcode != OP_CONTINUATION) {
        messageOpcode = opcode;
        messageBytes = 0;
        utf8Need = 0;
        utf8Low = 0x80;
        utf8High = 0xBF;
      }
      messageBytes += length;
    }
    state = PAYLOAD;
    if (payloadLeft == 0) {
      frameDone(h);
    }
  }

  private void payload(ByteBuffer in, Handler h) {
    int n = (int) Math.min(in.remaining(), payloadLeft);
    int start = in.position();
    boolean text = messageOpcode == OP_TEXT && opcode < OP_CLOSE;
    boolean keep = opcode >= OP_CLOSE;
    if (text || keep) {
      int key = maskKey;
      int mi = maskIndex;
      for (int i = start; i < start + n; i++) {
        byte b = (byte) (in.get(i) ^ (key >>> (24 - 8 * (mi & 3))));
        mi++;
        if (keep) {
          control[controlLength++] = b;
        } else if (!utf8(b & 0xff)) {
          fail(h, INVALID_PAYLOAD, "text message is not valid UTF-8");
          return;
        }
      }
      maskIndex = mi;
    }
    in.position(start + n);
    payloadLeft -= n;
    if (payloadLeft == 0) {
      frameDone(h);
    }
  }

  private void frameDone(Handler h) {
    state = HEAD0;
    switch (opcode) {
      case OP_PING -> h.onPing(control, controlLength);
      case OP_PONG -> {}
      case OP_CLOSE -> close(h);
      default -> {
        if (fin) {
          if (messageOpcode == OP_TEXT && utf8Need != 0) {
            fail(h, INVALID_PAYLOAD, "text message ends inside a UTF-8 sequence");
            return;
          }
          messageOpcode = 0;
          messageBytes = 0;
        }
      }
    }
    if (opcode >= OP_CLOSE && state != DONE) {
      control = null; // control frames are rare: do not keep the buffer
    }
  }

  private void close(Handler h) {
    if (controlLength == 1) {
      fail(h, PROTOCOL_ERROR, "close frame with a 1-byte payload");
      return;
    }
    int code = -1;
    String reason = "";
    if (controlLength >= 2) {
      code = ((control[0] & 0xff) << 8) | (control[1] & 0xff);
      if (!validCloseCode(code)) {
        fail(h, PROTOCOL_ERROR, "close code " + code + " may not be sent");
        return;
      }
      if (!validUtf8(control, 2, controlLength - 2)) {
        fail(h, INVALID_PAYLOAD, "close reason is not valid UTF-8");
        return;
      }
      reason = new String(control, 2, controlLength - 2, StandardCharsets.UTF_8);
    }
    state = DONE;
    h.onClose(code, reason);
  }

  private void fail(Handler h, int code, String reason) {
    state = DONE;
    control = null;
    h.onError(code, reason);
  }

  /** Close codes a peer may send (RFC 6455 7.4, the IANA registry, 3000-4999). */
  static boolean validCloseCode(int code) {
    return (code >= 1000 && code <= 1003)
        || (code >= 1007 && code <= 1014)
        || (code >= 3000 && code <= 4999);
  }

  /** One byte of the text message; false if it breaks UTF-8 (RFC 3629). */
  private boolean utf8(int b) {
    if (utf8Need == 0) {
      if (b < 0x80) {
        return true;
      }
      if (b >= 0xC2 && b <= 0xDF) {
        utf8Need = 1;
      } else if (b == 0xE0) {
        utf8Need = 2;
        utf8Low = 0xA0; // no overlong 3-byte forms
      } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
        utf8Need = 2;
      } else if (b == 0xED) {
        utf8Need = 2;
        utf8High = 0x9F; // no surrogates
      } else if (b == 0xF0) {
        utf8Need = 3;
        utf8Low = 0x90; // no overlong 4-byte forms
      } else if (b >= 0xF1 && b <= 0xF3) {
        utf8Need = 3;
      } else if (b == 0xF4) {
        utf8Need = 3;
        utf8High = 0x8F; // at most U+10FFFF
      } else {
        return false;
      }
      return true;
    }
    if (b < utf8Low || b > utf8High) {
      return false;
    }
    utf8Need--;
    utf8Low = 0x80;
    utf8High = 0xBF;
    return true;
  }

  /** Whether {@code b[off..off+len)} is complete, valid UTF-8. */
  static boolean validUtf8(byte[] b, int off, int len) {
    WsReader r = new WsReader(0);
    for (int i = off; i < off + len; i++) {
      if (!r.utf8(b[i] & 0xff)) {
        return false;
      }
    }
    return r.utf8Need == 0;
  }
}
