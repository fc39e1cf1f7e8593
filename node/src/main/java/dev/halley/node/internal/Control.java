package dev.halley.node.internal;

/**
 * A control event (hello, reset, ping, and issue #4's moved and reconnect), already serialized;
 * {@link #id} is non-null only for events that carry an event ID ({@code reset}).
 */
final class Control {
  static final Control PING =
      new Control(
          Codes.EVENT_PING,
          null,
          "{\"type\":\"ping\"}".getBytes(java.nio.charset.StandardCharsets.US_ASCII));

  final String type;
  final String id;
  final byte[] json;

  Control(String type, String id, byte[] json) {
    this.type = type;
    this.id = id;
    this.json = json;
  }

  @Override
  public String toString() {
    return new String(json, java.nio.charset.StandardCharsets.UTF_8);
  }
}
