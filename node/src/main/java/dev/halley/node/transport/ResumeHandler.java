package dev.halley.node.transport;

import dev.halley.node.auth.TokenHandler;
import dev.halley.node.stream.Handoff;
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

  /**
   * @param sseHeader whether the {@code Last-Event-ID} header counts (SSE's reconnects send it)
   */
  public ResumeHandler(boolean sseHeader, HttpHandler next) {
    this.sseHeader = sseHeader;
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
    if (h != null && h.length() > Handoff.Token.MAX_LENGTH) {
      throw HttpError.badRequest(
          "handoff is longer than " + Handoff.Token.MAX_LENGTH + " characters");
    }
    // An unparsable handoff is not one of this protocol's: it counts as none (the resume is then
    // decided without it, honestly).
    ConnectRequest.attach(exchange, resume, h == null ? null : Handoff.Token.parse(h));
    next.handleRequest(exchange);
  }

  @Override
  public String toString() {
    return "ResumeHandler(" + (sseHeader ? "Last-Event-ID, " : "") + "lastEventId) -> " + next;
  }
}
