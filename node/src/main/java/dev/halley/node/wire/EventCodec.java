package dev.halley.node.wire;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * Writes events in the wire formats of docs/protocol.md without copying shared message bytes more
 * than once into the output, and parses event IDs ({@code epoch:seq}). Thread-safe.
 */
public final class EventCodec {
  private static final byte[] MESSAGE_START = "{\"type\":\"message\",\"id\":\"".getBytes(US_ASCII);
  private static final byte[] MESSAGE_DATA = "\",\"data\":".getBytes(US_ASCII);
  private static final byte[] SSE_ID = "id: ".getBytes(US_ASCII);
  private static final byte[] SSE_EVENT = "\nevent: ".getBytes(US_ASCII);
  private static final byte[] SSE_DATA = "\ndata: ".getBytes(US_ASCII);
  private static final byte[] SSE_END = "\n\n".getBytes(US_ASCII);
  private static final byte[] SSE_PING = ": ping\n\n".getBytes(US_ASCII);
  private static final byte[] SSE_MESSAGE_EVENT = "message".getBytes(US_ASCII);

  /** The protocol version in {@code hello} (2: resharding handoff, message keys). */
  public static final int PROTOCOL = 2;

  private final String epoch;
  private final byte[] epochColon;

  public EventCodec(String epoch) {
    this.epoch = epoch;
    this.epochColon = (epoch + ":").getBytes(US_ASCII);
  }

  /** A fresh random epoch: 16 lowercase hex characters. */
  public static String newEpoch() {
    byte[] b = new byte[8];
    new SecureRandom().nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  public String epoch() {
    return epoch;
  }

  public String id(long seq) {
    return epoch + ":" + seq;
  }

  // ---- JSON of one event ----

  int messageJsonSize(long seq, Message m) {
    return MESSAGE_START.length
        + epochColon.length
        + digits(seq)
        + MESSAGE_DATA.length
        + m.tail.length;
  }

  void putMessageJson(ByteBuffer b, long seq, Message m) {
    b.put(MESSAGE_START);
    putId(b, seq);
    b.put(MESSAGE_DATA);
    b.put(m.tail);
  }

  /**
   * The size of a message event's JSON before its shared {@link Message#tail}: {@code
   * {"type":"message","id":"<epoch:seq>","data":} (what differs per user stream).
   */
  public int messagePrefixSize(long seq) {
    return MESSAGE_START.length + epochColon.length + digits(seq) + MESSAGE_DATA.length;
  }

  /** Writes what {@link #messagePrefixSize} measures. */
  public void putMessagePrefix(ByteBuffer b, long seq) {
    b.put(MESSAGE_START);
    putId(b, seq);
    b.put(MESSAGE_DATA);
  }

  /** The JSON size of a queued item (a Message with its seq, or a Control). */
  public int jsonSize(long seq, Object item) {
    return item instanceof Message m ? messageJsonSize(seq, m) : ((Control) item).json.length;
  }

  public void putJson(ByteBuffer b, long seq, Object item) {
    if (item instanceof Message m) {
      putMessageJson(b, seq, m);
    } else {
      b.put(((Control) item).json);
    }
  }

  /** The size of the event ID {@code <epoch>:<seq>} as {@link #putId} writes it (ASCII). */
  public int idSize(long seq) {
    return epochColon.length + digits(seq);
  }

  /** Writes the event ID {@code <epoch>:<seq>} (what {@link #id} returns, without a String). */
  public void putId(ByteBuffer b, long seq) {
    b.put(epochColon);
    putDecimal(b, seq);
  }

  // ---- SSE framing ----

  public int sseSize(long seq, Object item) {
    if (item instanceof byte[] raw) {
      return raw.length;
    }
    if (item == Control.PING) {
      return SSE_PING.length;
    }
    if (item instanceof Message m) {
      return SSE_ID.length
          + epochColon.length
          + digits(seq)
          + SSE_EVENT.length
          + SSE_MESSAGE_EVENT.length
          + SSE_DATA.length
          + messageJsonSize(seq, m)
          + SSE_END.length;
    }
    Control c = (Control) item;
    int idPart = c.id == null ? 0 : SSE_ID.length + c.id.length() + 1;
    return idPart
        + SSE_EVENT.length
        - 1
        + c.type.length()
        + SSE_DATA.length
        + c.json.length
        + SSE_END.length;
  }

  /** Writes one SSE event; a {@code byte[]} item is written as is (the {@code retry:} line). */
  public void putSse(ByteBuffer b, long seq, Object item) {
    if (item instanceof byte[] raw) {
      b.put(raw);
      return;
    }
    if (item == Control.PING) {
      b.put(SSE_PING);
      return;
    }
    if (item instanceof Message m) {
      b.put(SSE_ID);
      putId(b, seq);
      b.put(SSE_EVENT);
      b.put(SSE_MESSAGE_EVENT);
      b.put(SSE_DATA);
      putMessageJson(b, seq, m);
      b.put(SSE_END);
      return;
    }
    Control c = (Control) item;
    if (c.id != null) {
      b.put(SSE_ID);
      b.put(c.id.getBytes(US_ASCII));
      b.put((byte) '\n');
    }
    b.put(SSE_EVENT, 1, SSE_EVENT.length - 1);
    b.put(c.type.getBytes(US_ASCII));
    b.put(SSE_DATA);
    b.put(c.json);
    b.put(SSE_END);
  }

  // ---- control events ----

  public Control hello(String node, int mapVersion, long position, long heartbeatMs) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("type", EventTypes.HELLO);
    o.put("node", node);
    o.put("epoch", epoch);
    o.put("mapVersion", mapVersion);
    o.put("lastEventId", id(position));
    o.put("heartbeatMs", heartbeatMs);
    o.put("protocol", PROTOCOL);
    return new Control(EventTypes.HELLO, null, Json.bytes(o));
  }

  /** The JSON of a {@code moved} event naming the owner under map {@code version}. */
  public static byte[] moved(String nodeId, String publicUrl, int version) {
    return moved(nodeId, publicUrl, version, null);
  }

  /** {@link #moved(String, String, int)} with the opaque {@code handoff} (null: none). */
  public static byte[] moved(String nodeId, String publicUrl, int version, String handoff) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("type", EventTypes.MOVED);
    o.put("node", nodeId);
    o.put("url", publicUrl);
    o.put("mapVersion", version);
    if (handoff != null) {
      o.put("handoff", handoff);
    }
    return Json.bytes(o);
  }

  public Control reset(long position, String reason) {
    String id = id(position);
    String json = "{\"type\":\"reset\",\"id\":\"" + id + "\",\"reason\":\"" + reason + "\"}";
    return new Control(EventTypes.RESET, id, json.getBytes(UTF_8));
  }

  // ---- event IDs ----

  /**
   * Parses a client's last event ID.
   *
   * @throws HttpError 400 if it is not {@code <16 hex>:<decimal>}
   */
  public static EventId parseId(String s) {
    int colon = s.indexOf(':');
    if (colon != 16 || s.length() > 16 + 1 + 19) {
      throw HttpError.badRequest("lastEventId must be <epoch>:<seq>: " + abbreviate(s));
    }
    for (int i = 0; i < 16; i++) {
      char c = s.charAt(i);
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
        throw HttpError.badRequest("lastEventId has a bad epoch: " + abbreviate(s));
      }
    }
    long seq;
    try {
      if (s.length() == 17 || s.charAt(17) == '+' || s.charAt(17) == '-') {
        throw new NumberFormatException();
      }
      seq = Long.parseLong(s, 17, s.length(), 10);
    } catch (NumberFormatException e) {
      throw HttpError.badRequest("lastEventId has a bad seq: " + abbreviate(s));
    }
    String epoch = lastEpoch;
    if (!s.regionMatches(0, epoch, 0, 16)) {
      epoch = s.substring(0, 16);
      lastEpoch = epoch;
    }
    return new EventId(epoch, seq);
  }

  /**
   * The epoch of the last ID parsed, given again to the next ID of the same epoch (most IDs a node
   * parses are of its own epoch) instead of a copy per ID. Any thread: a String is immutable.
   */
  private static volatile String lastEpoch = "0000000000000000";

  private static String abbreviate(String s) {
    return s.length() > 60 ? s.substring(0, 60) + "..." : s;
  }

  /** A parsed event ID. */
  public record EventId(String epoch, long seq) {}

  /** Decimal digits of {@code v} (≥ 0). */
  public static int digits(long v) {
    int n = 1;
    while (v >= 10) {
      v /= 10;
      n++;
    }
    return n;
  }

  /** Writes {@code v} (≥ 0) in decimal ASCII. */
  public static void putDecimal(ByteBuffer b, long v) {
    int n = digits(v);
    int end = b.position() + n;
    for (int i = end - 1; i >= b.position(); i--) {
      b.put(i, (byte) ('0' + (v % 10)));
      v /= 10;
    }
    b.position(end);
  }
}
