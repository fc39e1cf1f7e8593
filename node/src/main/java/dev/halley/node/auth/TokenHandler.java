package dev.halley.node.auth;

import dev.halley.node.wire.Params;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.AttachmentKey;
import java.util.Objects;

/**
 * Verifies the token of a browser connection ({@code Authorization: Bearer}, else {@code ?token=})
 * and attaches its {@link TokenVerifier.Principal} to the exchange for the handlers behind it, then
 * calls {@code next}.
 *
 * <pre>{@code
 * HttpHandler h = new TokenHandler(tokens, next);
 * TokenVerifier.Principal p = TokenHandler.principal(exchange);   // in next
 * }</pre>
 *
 * <p>Throws {@code HttpError} 401 ({@code token_missing}, {@code token_invalid}, {@code
 * token_expired}) or 400 for a repeated {@code token} parameter. IO thread, never blocks.
 */
public final class TokenHandler implements HttpHandler {
  private static final AttachmentKey<TokenVerifier.Principal> PRINCIPAL =
      AttachmentKey.create(TokenVerifier.Principal.class);

  private final TokenVerifier tokens;
  private final HttpHandler next;

  public TokenHandler(TokenVerifier tokens, HttpHandler next) {
    this.tokens = Objects.requireNonNull(tokens, "tokens");
    this.next = Objects.requireNonNull(next, "next");
  }

  /** The principal a {@link TokenHandler} in front of this handler verified. */
  public static TokenVerifier.Principal principal(HttpServerExchange exchange) {
    TokenVerifier.Principal p = exchange.getAttachment(PRINCIPAL);
    if (p == null) {
      throw new IllegalStateException("no TokenHandler in front of " + exchange.getRequestPath());
    }
    return p;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    String token = Bearer.credential(exchange);
    // Another scheme (the Basic credentials a proxy or browser adds) is not ours: ?token= decides.
    if (token == null || token.isEmpty()) {
      token = Params.query(exchange, Params.TOKEN);
    }
    exchange.putAttachment(PRINCIPAL, tokens.verify(token));
    next.handleRequest(exchange);
  }

  @Override
  public String toString() {
    return "TokenHandler(" + tokens + ") -> " + next;
  }
}
