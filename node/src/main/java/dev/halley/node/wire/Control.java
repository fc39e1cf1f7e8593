package dev.halley.node.wire;

/**
 * A control event (hello, reset, ping, and issue #4's moved and reconnect), already serialized;
 * {@link #id} is non-null only for events that carry an event ID ({@code reset}).
 */
public final class Control {
  public static final Control PING =
      new Control(
          EventTypes.PING,
          null,
          "{\"type\":\"ping\"}".getBytes(java.nio.charset.StandardCharsets.US_ASCII));

  public final String type;
  public final String id;
  public final byte[] json;

  public Control(String type, String id, byte[] json) {
    this.type = type;
    this.id = id;
    this.json = json;
  }

  @Override
  public String toString() {
    return new String(json, java.nio.charset.StandardCharsets.UTF_8);
  }
}
