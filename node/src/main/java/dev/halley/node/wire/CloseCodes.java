package dev.halley.node.wire;

/**
 * WebSocket close codes the node sends (docs/protocol.md, Close codes): 4xxx codes tell the client
 * whether and how to reconnect.
 */
public final class CloseCodes {
  private CloseCodes() {}

  public static final int NORMAL = 1000;
  public static final int BAD_REQUEST = 4000;
  public static final int UNAUTHORIZED = 4001;
  public static final int FORBIDDEN = 4003;
  public static final int SLOW_CONSUMER = 4008;
  public static final int MOVED = 4009;
  public static final int RECONNECT = 4010;
  public static final int SERVER_ERROR = 4011;
  public static final int TOO_MANY_CONNECTIONS = 4029;
  public static final int DISCONNECTED = 4030;
  public static final int USER_BLOCKED = 4031;
  public static final int TOKEN_REVOKED = 4032;
}
