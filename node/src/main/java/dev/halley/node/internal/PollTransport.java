package dev.halley.node.internal;

import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import io.undertow.util.SameThreadExecutor;

/**
 * {@code GET /v1/longpoll} ({@code hold}: held until events arrive or {@code timeoutMs} passes) and
 * {@code GET /v1/poll} (returns at once): a JSON batch of the events after {@code lastEventId} (a
 * {@code reset} if it is not covered) and the position to send back next time. A held request is a
 * suspended exchange, completed from the publish path on its IO thread.
 */
public final class PollTransport implements HttpHandler {
  private final NodeContext node;
  private final boolean hold;

  public PollTransport(NodeContext node, boolean hold) {
    this.node = node;
    this.hold = hold;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    ConnectRequest req;
    long timeoutMs = node.config.longPollTimeoutMs();
    try {
      req = ConnectRequest.read(exchange, node, false);
      String t = ConnectRequest.query(exchange, Codes.PARAM_TIMEOUT_MS);
      if (t != null) {
        timeoutMs = Math.min(timeoutMs, parseTimeout(t));
      }
    } catch (HttpError e) {
      Json.sendError(exchange, e);
      return;
    }
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
    exchange.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-cache");
    exchange.getResponseHeaders().put(SseTransport.X_ACCEL_BUFFERING, "no");
    // A held request never outlives its token: at expiry it is answered with what it has, and the
    // next request gets 401 token_expired. Capping the hold needs no timer of its own.
    long tokenLeftMs = Math.max(0, req.principal().validUntilMs() - node.clock.millis());
    long timeout = hold ? Math.min(timeoutMs, tokenLeftMs) : 0;
    exchange.dispatch(SameThreadExecutor.INSTANCE, () -> open(exchange, req, timeout));
  }

  private static long parseTimeout(String t) {
    try {
      long v = Long.parseLong(t);
      if (v >= 0) {
        return v;
      }
    } catch (NumberFormatException ignored) {
      // reported below
    }
    throw HttpError.badRequest("timeoutMs must be a non-negative integer: " + t);
  }

  private void open(HttpServerExchange exchange, ConnectRequest req, long timeoutMs) {
    while (true) {
      UserStream stream = node.streams.getOrCreate(req.principal().user());
      node.streams.setTokenChannels(stream, req.principal().channels());
      Batch[] immediate = new Batch[1];
      LongPollConnection[] held = new LongPollConnection[1];
      UserStream.ReplaySink sink =
          (position, current, reset, seqs, messages, n, now) -> {
            if (reset == null && n == 0 && timeoutMs > 0) {
              held[0] =
                  new LongPollConnection(
                      stream,
                      exchange,
                      node.codec,
                      node.config.connectionQueueMaxEvents(),
                      current);
              held[0].operations(node.ops);
              return held[0];
            }
            Batch b = new Batch(current);
            if (reset != null) {
              b.add(-1, reset);
            }
            for (int i = 0; i < n; i++) {
              b.add(seqs[i], messages[i]);
            }
            b.position(current);
            immediate[0] = b;
            return null;
          };
      if (!stream.open(node.codec, req.resume(), node.clock.millis(), sink)) {
        continue;
      }
      if (held[0] != null) {
        held[0].start(timeoutMs);
      } else {
        exchange.getResponseSender().send(immediate[0].encode(node.codec));
      }
      return;
    }
  }

  @Override
  public String toString() {
    return hold ? "PollTransport(GET /v1/longpoll)" : "PollTransport(GET /v1/poll)";
  }
}
