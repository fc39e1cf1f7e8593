package dev.halley.node.auth;

import dev.halley.node.wire.Params;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.ServerConnection;
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

  /**
   * The token the connection's last request presented and its principal (HTTP/1.1 keep-alive: a
   * long-poll client's next request is most often on the same connection, with the same token).
   * Read and written on the connection's IO thread only.
   */
  private static final AttachmentKey<TokenVerifier.Verified> LAST =
      AttachmentKey.create(TokenVerifier.Verified.class);

  private final TokenVerifier tokens;
  private final boolean remember;
  private final HttpHandler next;

  public TokenHandler(TokenVerifier tokens, HttpHandler next) {
    this(tokens, false, next);
  }

  /**
   * {@code remember}: the connection keeps its last verified token for its next request (the poll
   * transports, whose clients send request after request on one keep-alive connection; not for a
   * connection that becomes one long stream, which would keep it for nothing). Only when the
   * verifier keeps tokens ({@link TokenVerifier#keepsTokens}).
   */
  public TokenHandler(TokenVerifier tokens, boolean remember, HttpHandler next) {
    this.tokens = Objects.requireNonNull(tokens, "tokens");
    this.remember = remember && tokens.keepsTokens();
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

  /**
   * Removes the principal attached to {@code exchange}: a held request whose stream is open does
   * not read it again (its connection holds the principal it needs).
   */
  public static void forget(HttpServerExchange exchange) {
    exchange.removeAttachment(PRINCIPAL);
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    String token = Bearer.credential(exchange);
    // Another scheme (the Basic credentials a proxy or browser adds) is not ours: ?token= decides.
    if (token == null || token.isEmpty()) {
      token = Params.query(exchange, Params.TOKEN);
    }
    if (!remember) {
      exchange.putAttachment(PRINCIPAL, tokens.verify(token));
    } else {
      ServerConnection connection = exchange.getConnection();
      TokenVerifier.Verified last = connection.getAttachment(LAST);
      TokenVerifier.Verified verified = tokens.verify(token, last);
      if (verified != last) {
        connection.putAttachment(LAST, verified);
      }
      exchange.putAttachment(PRINCIPAL, verified.principal());
    }
    next.handleRequest(exchange);
  }

  @Override
  public String toString() {
    return "TokenHandler("
        + tokens
        + (remember ? ", last token per connection" : "")
        + ") -> "
        + next;
  }
}
