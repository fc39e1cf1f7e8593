package dev.halley.node.http;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.IoTimers;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.util.concurrent.TimeUnit;
import org.xnio.IoUtils;
import org.xnio.XnioExecutor;

/**
 * Bounds the time a request's body may take to arrive: a request that is not fully read {@code
 * timeoutMs} after its headers (a {@code Content-Length} never sent, a chunked body that stalls, a
 * body left unread behind a 401) gets 408 {@code request_timeout} if nothing was answered yet, and
 * its connection is closed either way. Requests without a body (every browser transport) are not
 * touched. The timer runs on the connection's IO thread and is cancelled when the exchange ends.
 */
public final class RequestDeadline implements HttpHandler {
  /** After the 408, how long the client has to take it before the socket is cut, ms. */
  static final long CLOSE_GRACE_MS = 1_000;

  private final long timeoutMs;
  private final HttpHandler next;

  public RequestDeadline(long timeoutMs, HttpHandler next) {
    this.timeoutMs = timeoutMs;
    this.next = next;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    if (!exchange.isRequestComplete()) {
      XnioExecutor.Key key =
          IoTimers.after(
              exchange.getIoThread(), timeoutMs, TimeUnit.MILLISECONDS, () -> expire(exchange));
      exchange.addExchangeCompleteListener(
          (ex, nextListener) -> {
            IoTimers.cancel(key);
            nextListener.proceed();
          });
    }
    next.handleRequest(exchange);
  }

  private void expire(HttpServerExchange exchange) {
    if (exchange.isRequestComplete() || exchange.isComplete()) {
      return;
    }
    var connection = exchange.getConnection();
    if (!exchange.isResponseStarted()) {
      exchange.setPersistent(false);
      Json.sendError(
          exchange,
          408,
          ErrorCodes.REQUEST_TIMEOUT,
          "the request body did not arrive within " + timeoutMs + " ms");
    }
    IoTimers.after(
        exchange.getIoThread(),
        CLOSE_GRACE_MS,
        TimeUnit.MILLISECONDS,
        () -> IoUtils.safeClose(connection),
        () -> IoUtils.safeClose(connection)); // stopping: closed now, not after the grace
  }

  @Override
  public String toString() {
    return "RequestDeadline(" + timeoutMs + " ms) -> " + next;
  }
}
