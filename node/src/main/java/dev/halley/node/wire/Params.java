package dev.halley.node.wire;

import io.undertow.server.HttpServerExchange;
import java.util.Deque;

/** Query parameter and header names the browser transports read (docs/protocol.md, Connecting). */
public final class Params {
  private Params() {}

  public static final String TOKEN = "token";
  public static final String LAST_EVENT_ID = "lastEventId";
  public static final String TIMEOUT_MS = "timeoutMs";
  public static final String CONFLATION_INTERVAL_MS = "conflationIntervalMs";
  public static final String HANDOFF = "handoff";
  public static final String HEADER_LAST_EVENT_ID = "Last-Event-ID";

  /** A single query parameter, or null; a repeated one is a 400. */
  public static String query(HttpServerExchange exchange, String name) {
    Deque<String> values = exchange.getQueryParameters().get(name);
    if (values == null || values.isEmpty()) {
      return null;
    }
    if (values.size() > 1) {
      throw HttpError.badRequest("query parameter " + name + " is repeated");
    }
    return values.getFirst();
  }
}
