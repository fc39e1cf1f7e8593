package dev.halley.node.transport.poll;

import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.Connection;
import dev.halley.node.stream.UserStream;
import dev.halley.node.transport.ConflationInterval;
import dev.halley.node.transport.ConnectRequest;
import dev.halley.node.transport.ConnectionSetup;
import dev.halley.node.transport.HandoffWait;
import dev.halley.node.transport.HeldRequest;
import dev.halley.node.transport.PeerClose;
import dev.halley.node.wire.Control;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.IoTimers;
import dev.halley.node.wire.Json;
import dev.halley.node.wire.Message;
import dev.halley.node.wire.Params;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.SameThreadExecutor;
import java.nio.charset.StandardCharsets;
import org.xnio.IoUtils;

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
    ConnectRequest req = ConnectRequest.of(exchange);
    long timeoutMs = node.config.longPollTimeoutMs();
    long interval;
    try {
      String t = Params.query(exchange, Params.TIMEOUT_MS);
      if (t != null) {
        timeoutMs = Math.min(timeoutMs, parseTimeout(t));
      }
      interval = ConflationInterval.of(exchange, node.config);
    } catch (HttpError e) {
      Json.sendError(exchange, e);
      return;
    }
    // A held request never outlives its token: at expiry it is answered with what it has and a
    // token_expired event (a next request with that token gets 401 token_expired). Capping the
    // hold needs no timer of its own.
    long tokenLeftMs = Math.max(0, req.principal().validUntilMs() - node.clock.millis());
    long timeout = hold ? Math.min(timeoutMs, tokenLeftMs) : 0;
    boolean tokenExpires = hold && tokenLeftMs <= timeoutMs;
    if (interval == 0) {
      exchange.dispatch(
          SameThreadExecutor.INSTANCE, () -> open(exchange, req, timeout, tokenExpires));
      return;
    }
    // The frequency limit (docs/protocol.md): the answer waits until the interval has passed since
    // the request arrived, so everything up to then goes in one conflated batch (at most one
    // message per key), and a client that polls again at once gets at most one per interval.
    long delay = hold ? Math.min(interval, timeout) : interval;
    exchange.dispatch(
        SameThreadExecutor.INSTANCE,
        () ->
            IoTimers.after(
                exchange.getIoThread(),
                delay,
                java.util.concurrent.TimeUnit.MILLISECONDS,
                () -> {
                  if (!exchange.getConnection().isOpen()) {
                    exchange.endExchange();
                    return;
                  }
                  try {
                    node.access.admit(req.principal()); // blocked or revoked meanwhile
                  } catch (HttpError e) {
                    PollAnswer.headers(exchange);
                    Json.sendError(exchange, e);
                    return;
                  }
                  open(exchange, req, timeout - (hold ? delay : 0), tokenExpires);
                },
                () -> IoUtils.safeClose(exchange.getConnection()))); // stopping: closed now
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

  private void open(
      HttpServerExchange exchange, ConnectRequest req, long timeoutMs, boolean tokenExpires) {
    HandoffWait.run(
        node,
        req,
        exchange.getIoThread(),
        (resume, onRelay) -> open(exchange, req, timeoutMs, tokenExpires, resume, onRelay));
  }

  /** Opens the stream and answers or holds; false while a handoff waits for relays. */
  private boolean open(
      HttpServerExchange exchange,
      ConnectRequest req,
      long timeoutMs,
      boolean tokenExpires,
      dev.halley.node.stream.Handoff.Resume resume,
      Runnable onRelay) {
    if (exchange.isComplete() || !exchange.getConnection().isOpen()) {
      return true; // the client left while its handoff waited
    }
    PollReplay replay;
    try {
      replay =
          node.openStream(
              req.principal(),
              req.resume(),
              resume,
              onRelay,
              stream -> new PollReplay(stream, exchange, timeoutMs));
      if (replay == null) {
        // a client that gives up is closed (its exchange ends, uncounted) at once
        PeerClose.watch(exchange.getConnection(), true, c -> {});
        return false;
      }
    } catch (HttpError e) {
      if (e.status() == 421 && node.movedAway(req.principal().user())) {
        // Issue 14: a client between two requests whose user the last map change moved away
        // (its stream is gone here) gets moved, as a connected one did, not 421.
        String last = req.resume() == null ? null : req.resume().epoch() + ":" + req.resume().seq();
        String body =
            "{\"events\":["
                + new String(node.movedEvent(req.principal().user()), StandardCharsets.UTF_8)
                + "],\"lastEventId\":"
                + (last == null ? "null" : "\"" + last + "\"")
                + "}";
        PollAnswer.headers(exchange);
        exchange.getResponseSender().send(body);
        return true;
      }
      PollAnswer.headers(exchange);
      Json.sendError(exchange, e); // the map changed since admission: 421 naming the new owner
      return true;
    }
    byte[] moved = node.finishingMoved(replay.stream);
    if (replay.held != null) {
      replay.held.start(timeoutMs, tokenExpires); // answers at the token's expiry if it comes first
      ConnectionSetup.opened(node, replay.held, req.principal(), false);
      replay.held.parsedCapacities = HeldRequest.release(exchange);
    } else {
      if (replay.immediate.conflated() > 0) {
        node.ops.conflated(transport(), replay.immediate.conflated());
      }
      if (moved != null) {
        replay.immediate.add(-1, new Control(dev.halley.node.wire.EventTypes.MOVED, null, moved));
        node.ops.movedSent(transport());
      }
      PollAnswer.send(exchange, replay.immediate, node.codec);
    }
    return true;
  }

  private String transport() {
    return hold ? "longpoll" : "poll";
  }

  /**
   * The replay sink of one poll: with nothing to send and time to wait, it holds the request as a
   * {@link LongPollConnection}; otherwise it collects the {@code reset} or the events as the batch
   * to answer at once.
   */
  private final class PollReplay implements UserStream.ReplaySink {
    private final UserStream stream;
    private final HttpServerExchange exchange;
    private final long timeoutMs;
    LongPollConnection held;
    Batch immediate;

    PollReplay(UserStream stream, HttpServerExchange exchange, long timeoutMs) {
      this.stream = stream;
      this.exchange = exchange;
      this.timeoutMs = timeoutMs;
    }

    @Override
    public Connection open(
        long position,
        long current,
        Control reset,
        long[] seqs,
        Message[] messages,
        int n,
        long now) {
      if (reset == null && n == 0 && timeoutMs > 0) {
        // No frequency limit on the connection: the answer itself waits for the interval.
        held =
            ConnectionSetup.configure(
                node,
                new LongPollConnection(
                    stream, exchange, node.codec, node.config.connectionQueueMaxEvents(), current),
                0);
        return held;
      }
      Batch b = new Batch(current);
      if (reset != null) {
        b.add(-1, reset);
      }
      for (int i = 0; i < n; i++) {
        b.add(seqs[i], messages[i]);
      }
      b.position(current);
      immediate = b;
      return null;
    }
  }

  @Override
  public String toString() {
    return hold ? "PollTransport(GET /v1/longpoll)" : "PollTransport(GET /v1/poll)";
  }
}
