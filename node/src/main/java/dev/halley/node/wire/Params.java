package dev.halley.node.wire;

/** Query parameter and header names the browser transports read (docs/protocol.md, Connecting). */
public final class Params {
  private Params() {}

  public static final String TOKEN = "token";
  public static final String LAST_EVENT_ID = "lastEventId";
  public static final String TIMEOUT_MS = "timeoutMs";
  public static final String HEADER_LAST_EVENT_ID = "Last-Event-ID";
}
