package dev.halley.node.transport;

import dev.halley.node.auth.CarriedState;
import dev.halley.node.auth.TokenHandler;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.cluster.NodeOperations;
import dev.halley.node.stream.Handoff;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Params;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.HttpString;
import java.util.Objects;

/**
 * Reads where a browser connection resumes ({@code ?lastEventId=}, or for SSE the {@code
 * Last-Event-ID} header, which wins) and attaches the {@link ConnectRequest} for the transport
 * behind it, then calls {@code next}.
 *
 * <pre>{@code
 * new TokenHandler(tokens, new ResumeHandler(true, sse))   // ConnectRequest.of(exchange) in sse
 * }</pre>
 *
 * <p>Needs the principal that {@link TokenHandler} attached. Throws {@code HttpError} 400 for a
 * malformed or repeated event ID. IO thread, never blocks.
 */
public final class ResumeHandler implements HttpHandler {
  private static final HttpString LAST_EVENT_ID = new HttpString(Params.HEADER_LAST_EVENT_ID);

  private final boolean sseHeader;
  private final HttpHandler next;
  // Verifies a carried state (issue 14); null: carried states are ignored (tests of this handler).
  private final NodeContext node;

  /**
   * @param sseHeader whether the {@code Last-Event-ID} header counts (SSE's reconnects send it)
   */
  public ResumeHandler(boolean sseHeader, HttpHandler next) {
    this(sseHeader, null, next);
  }

  /**
   * @param node verifies the state the old owner carried after the handoff ({@code ~<JWS>})
   */
  public ResumeHandler(boolean sseHeader, NodeContext node, HttpHandler next) {
    this.sseHeader = sseHeader;
    this.node = node;
    this.next = Objects.requireNonNull(next, "next");
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    String last = null;
    if (sseHeader) {
      last = exchange.getRequestHeaders().getFirst(LAST_EVENT_ID);
    }
    if (last == null || last.isEmpty()) {
      last = Params.query(exchange, Params.LAST_EVENT_ID);
    }
    EventCodec.EventId resume = last == null || last.isEmpty() ? null : EventCodec.parseId(last);
    String h = Params.query(exchange, Params.HANDOFF);
    String carriedJws = null;
    int sep = h == null ? -1 : h.indexOf(NodeOperations.CARRY_SEPARATOR);
    if (sep >= 0) {
      carriedJws = h.substring(sep + 1);
      h = h.substring(0, sep);
      if (carriedJws.length() > MAX_CARRIED_LENGTH) {
        throw HttpError.badRequest(
            "the handoff's carried state is longer than " + MAX_CARRIED_LENGTH + " characters");
      }
    }
    if (h != null && h.length() > Handoff.Token.MAX_LENGTH) {
      throw HttpError.badRequest(
          "handoff is longer than " + Handoff.Token.MAX_LENGTH + " characters");
    }
    CarriedState carried = null;
    boolean stale = false;
    if (carriedJws != null && node != null && node.config.tokenHmacSecret() != null) {
      try {
        carried =
            CarriedState.verify(
                carriedJws,
                node.config.tokenHmacSecret(),
                TokenHandler.principal(exchange).user(),
                mapVersion(),
                node.clock.millis());
      } catch (CarriedState.Refused e) {
        node.ops.metrics().carried(e.invalid ? "invalid" : "stale");
        if (e.invalid) {
          throw new HttpError(400, ErrorCodes.HANDOFF_INVALID, e.getMessage());
        }
        stale = true;
      }
    }
    // An unparsable handoff is not one of this protocol's: it counts as none (the resume is then
    // decided without it, honestly).
    ConnectRequest.attach(
        exchange, resume, h == null ? null : Handoff.Token.parse(h), carried, stale);
    next.handleRequest(exchange);
  }

  /**
   * Longest carried state accepted (characters of its JWS): {@code handoffCarryMaxEntries} of
   * user-ID-sized entries fit many times; a longer one is 400 {@code bad_request}.
   */
  public static final int MAX_CARRIED_LENGTH = 64 * 1024;

  /** The map version a carried state must be made for: the pending one while one is held. */
  private int mapVersion() {
    var pending = node.core.pending();
    return pending != null ? pending.version() : node.core.map().version();
  }

  @Override
  public String toString() {
    return "ResumeHandler(" + (sseHeader ? "Last-Event-ID, " : "") + "lastEventId) -> " + next;
  }
}
