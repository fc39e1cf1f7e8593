package dev.halley.node.transport;

import dev.halley.node.auth.CarriedState;
import dev.halley.node.auth.TokenHandler;
import dev.halley.node.auth.TokenVerifier;
import dev.halley.node.stream.Handoff;
import dev.halley.node.wire.EventCodec;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.AttachmentKey;

/**
 * A browser connection that passed the checks in front of its transport: the verified principal,
 * the resume point (null for none) and the old owner's {@code handoff} (issue 14; null for none),
 * as {@link ResumeHandler} attached them.
 *
 * <pre>{@code
 * ConnectRequest req = ConnectRequest.of(exchange);   // in a transport
 * }</pre>
 */
public record ConnectRequest(
    TokenVerifier.Principal principal,
    EventCodec.EventId resume,
    Handoff.Token handoff,
    CarriedState carried,
    boolean carryStale) {
  static final AttachmentKey<ConnectRequest> KEY = AttachmentKey.create(ConnectRequest.class);

  /**
   * {@code carried}: the verified state the old owner carried after the handoff (issue 14), or
   * null; {@code carryStale}: one came but had expired or was made for another map version (the
   * resume then ends in an honest {@code reset}).
   */
  public ConnectRequest {}

  public ConnectRequest(
      TokenVerifier.Principal principal, EventCodec.EventId resume, Handoff.Token handoff) {
    this(principal, resume, handoff, null, false);
  }

  /** The request that the {@link ResumeHandler} in front of the transport attached. */
  public static ConnectRequest of(HttpServerExchange exchange) {
    ConnectRequest req = exchange.getAttachment(KEY);
    if (req == null) {
      throw new IllegalStateException("no ResumeHandler in front of " + exchange.getRequestPath());
    }
    return req;
  }

  static ConnectRequest attach(
      HttpServerExchange exchange,
      EventCodec.EventId resume,
      Handoff.Token handoff,
      CarriedState carried,
      boolean carryStale) {
    ConnectRequest req =
        new ConnectRequest(TokenHandler.principal(exchange), resume, handoff, carried, carryStale);
    exchange.putAttachment(KEY, req);
    return req;
  }
}
