package dev.halley.node.wire;

/**
 * The {@code "type"} of every event the node sends, and the reasons a {@code reset} carries
 * (docs/protocol.md, Events).
 */
public final class EventTypes {
  private EventTypes() {}

  public static final String HELLO = "hello";
  public static final String MESSAGE = "message";
  public static final String RESET = "reset";
  public static final String MOVED = "moved";
  public static final String RECONNECT = "reconnect";
  public static final String PING = "ping";
  public static final String DISCONNECT = "disconnect";

  /**
   * Sent by SSE and long-poll just before the response ends because the token expired, so the
   * client renews its token at once instead of learning it from a 401 (WebSocket closes with 4001).
   */
  public static final String TOKEN_EXPIRED = "token_expired";

  public static final String RESET_GAP = "gap";
  public static final String RESET_EPOCH = "epoch";
}
