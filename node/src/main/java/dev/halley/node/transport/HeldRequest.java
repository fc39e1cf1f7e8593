package dev.halley.node.transport;

import dev.halley.node.auth.TokenHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.protocol.http.HttpServerConnection;
import io.undertow.util.AbstractAttachable;
import io.undertow.util.HeaderMap;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lets a held request (an SSE response, a held long-poll) drop what it no longer needs while it
 * waits (memory per connection, issue 12).
 *
 * <p>Once its stream is open, nothing reads the request again: not its headers, query string or
 * query parameters (the token appears in both), nor the {@link ConnectRequest} attached to it. Yet
 * the exchange stays reachable for the connection's whole life (the transport writes through it and
 * Undertow holds it as the exchange in progress), and with it all of those; a browser's headers
 * (cookies, user agent, languages) are often more than a kilobyte. The request parser's state stays
 * reachable too (Undertow's read listener, on the connection): three builders, the largest grown to
 * the longest token parsed (the query string with the token, or a cookie), and the cache of the
 * header values parsed. Undertow empties the builders before it parses the next request on the
 * connection (a long-poll's keep-alive) but keeps their arrays, and the cache only saves allocating
 * equal header values again; {@link #release} empties and trims them now.
 *
 * <p>Undertow has no API for the parser's state, so it is reached through {@link VarHandle}s looked
 * up once. If a future Undertow renames the fields, the node logs one warning and keeps working,
 * holding the parser's state as before (the request's own state is released through Undertow's API
 * either way).
 */
public final class HeldRequest {
  private static final Logger LOG = LoggerFactory.getLogger(HeldRequest.class);
  private static final VarHandle READ_LISTENER;
  private static final VarHandle STATE;
  private static final VarHandle[] BUILDERS;
  private static final VarHandle CACHE;
  private static final VarHandle QUERY_PARAMETERS;
  private static final VarHandle PATH_PARAMETERS;
  private static final VarHandle ATTACHMENTS;
  private static final VarHandle RESPONSE_COOKIES;
  private static final VarHandle HEADER_TABLE;
  private static final AtomicBoolean WARNED = new AtomicBoolean();

  static {
    VarHandle read = null;
    VarHandle state = null;
    VarHandle[] builders = null;
    VarHandle cache = null;
    try {
      ClassLoader loader = HttpServerConnection.class.getClassLoader();
      Class<?> listener =
          Class.forName("io.undertow.server.protocol.http.HttpReadListener", false, loader);
      Class<?> parse = Class.forName("io.undertow.server.protocol.http.ParseState", false, loader);
      MethodHandles.Lookup inConnection =
          MethodHandles.privateLookupIn(HttpServerConnection.class, MethodHandles.lookup());
      MethodHandles.Lookup inListener =
          MethodHandles.privateLookupIn(listener, MethodHandles.lookup());
      MethodHandles.Lookup inParse = MethodHandles.privateLookupIn(parse, MethodHandles.lookup());
      read = inConnection.findVarHandle(HttpServerConnection.class, "readListener", listener);
      state = inListener.findVarHandle(listener, "state", parse);
      builders =
          new VarHandle[] {
            inParse.findVarHandle(parse, "stringBuilder", StringBuilder.class),
            inParse.findVarHandle(parse, "canonicalPath", StringBuilder.class),
            inParse.findVarHandle(parse, "decodeBuffer", StringBuilder.class)
          };
      cache =
          inParse.findVarHandle(
              parse,
              "headerValuesCache",
              Class.forName("io.undertow.server.protocol.http.CacheMap", false, loader));
    } catch (ReflectiveOperationException | RuntimeException e) {
      LOG.warn(
          "event=held_request_release_unavailable message=\"a held SSE or long-poll request keeps"
              + " the HTTP parser's state (its longest header or query string): {}\"",
          e.toString());
      WARNED.set(true);
    }
    VarHandle query = null;
    VarHandle path = null;
    try {
      MethodHandles.Lookup inExchange =
          MethodHandles.privateLookupIn(HttpServerExchange.class, MethodHandles.lookup());
      query = inExchange.findVarHandle(HttpServerExchange.class, "queryParameters", Map.class);
      path = inExchange.findVarHandle(HttpServerExchange.class, "pathParameters", Map.class);
    } catch (ReflectiveOperationException | RuntimeException e) {
      if (WARNED.compareAndSet(false, true)) {
        LOG.warn("event=held_request_release_unavailable message=\"{}\"", e.toString());
      }
    }
    VarHandle attachments = null;
    VarHandle cookies = null;
    try {
      attachments =
          MethodHandles.privateLookupIn(AbstractAttachable.class, MethodHandles.lookup())
              .findVarHandle(AbstractAttachable.class, "attachments", Map.class);
      cookies =
          MethodHandles.privateLookupIn(HttpServerExchange.class, MethodHandles.lookup())
              .findVarHandle(
                  HttpServerExchange.class,
                  "responseCookies",
                  Class.forName(
                      "io.undertow.server.DelegatingIterable",
                      false,
                      HttpServerExchange.class.getClassLoader()));
    } catch (ReflectiveOperationException | RuntimeException e) {
      if (WARNED.compareAndSet(false, true)) {
        LOG.warn("event=held_request_release_unavailable message=\"{}\"", e.toString());
      }
    }
    VarHandle table = null;
    try {
      table =
          MethodHandles.privateLookupIn(HeaderMap.class, MethodHandles.lookup())
              .findVarHandle(HeaderMap.class, "table", Object[].class);
    } catch (ReflectiveOperationException | RuntimeException e) {
      if (WARNED.compareAndSet(false, true)) {
        LOG.warn("event=held_request_release_unavailable message=\"{}\"", e.toString());
      }
    }
    HEADER_TABLE = table;
    ATTACHMENTS = attachments;
    RESPONSE_COOKIES = cookies;
    QUERY_PARAMETERS = query != null && path != null ? query : null;
    PATH_PARAMETERS = path;
    boolean all = read != null && state != null && builders != null && cache != null;
    READ_LISTENER = all ? read : null;
    STATE = state;
    BUILDERS = builders;
    CACHE = cache;
  }

  private static final int PRESIZE_MAX = 2048;

  private HeldRequest() {}

  /**
   * IO thread of {@code exchange}, once its response head is written (an SSE stream): drops the
   * response headers and the response cookies' set (Undertow creates it to write the head, cookies
   * or none), which nothing reads again.
   */
  public static void releaseResponseHead(HttpServerExchange exchange) {
    if (exchange.getResponseHeaders().size() > 0) {
      exchange.getResponseHeaders().clear();
    }
    shrink(exchange.getResponseHeaders());
    if (RESPONSE_COOKIES != null) {
      RESPONSE_COOKIES.setVolatile(exchange, null);
    }
  }

  /**
   * An empty {@link HeaderMap} keeps the table of 16 slots it was made with (80 bytes); one slot is
   * a table it works with as well (it doubles it at the first header put), at 24 bytes.
   */
  private static void shrink(HeaderMap headers) {
    if (HEADER_TABLE != null && headers.size() == 0) {
      HEADER_TABLE.setVolatile(headers, new Object[1]);
    }
  }

  /**
   * IO thread of {@code exchange}: clears its request headers, query string and parameters and
   * attachment, and trims its connection's parser state. Call once its stream is open and the
   * transport started, never while a request of its connection is being parsed.
   *
   * @return the capacities of the parser's two larger builders before they were trimmed (packed; 0
   *     when unknown), for {@link #presize} when the held request is answered
   */
  public static long release(HttpServerExchange exchange) {
    if (exchange.isComplete()) {
      return 0; // answered at once (a moved user, a finish): nothing is held
    }
    exchange.getRequestHeaders().clear();
    shrink(exchange.getRequestHeaders());
    shrink(exchange.getResponseHeaders()); // a long-poll puts its answer's headers when it answers
    // Undertow creates both maps when first asked for them: null, they cost nothing.
    if (QUERY_PARAMETERS != null) {
      QUERY_PARAMETERS.setVolatile(exchange, (Map<?, ?>) null);
      PATH_PARAMETERS.setVolatile(exchange, (Map<?, ?>) null);
    } else {
      exchange.getQueryParameters().clear();
      exchange.getPathParameters().clear();
    }
    exchange.setQueryString("");
    // The request's path (also its URI and relative path: one string) is a route's, one of a few:
    // shared instead of one copy per held request.
    String path = exchange.getRequestPath();
    String shared = path.intern();
    if (shared != path) {
      if (path.equals(exchange.getRequestURI())) {
        exchange.setRequestURI(shared);
      }
      if (path.equals(exchange.getRelativePath())) {
        exchange.setRelativePath(shared);
      }
      exchange.setRequestPath(shared);
    }
    exchange.removeAttachment(ConnectRequest.KEY);
    TokenHandler.forget(exchange);
    // Undertow creates the attachment map (an IdentityHashMap, a table of 16 slots) when the first
    // attachment is put, and reads a null map as no attachments: an emptied one costs for nothing.
    if (ATTACHMENTS != null
        && ATTACHMENTS.getVolatile(exchange) instanceof Map<?, ?> m
        && m.isEmpty()) {
      ATTACHMENTS.setVolatile(exchange, (Map<?, ?>) null);
    }
    Object parse = parseState(exchange);
    if (parse == null) {
      return 0;
    }
    try {
      long capacities = 0;
      for (int i = 0; i < BUILDERS.length; i++) {
        StringBuilder sb = (StringBuilder) BUILDERS[i].get(parse);
        if (i < 2) {
          capacities |= (long) sb.capacity() << (i == 0 ? 32 : 0);
        }
        sb.setLength(0);
        sb.trimToSize();
      }
      ((Map<?, ?>) CACHE.get(parse)).clear();
      return capacities;
    } catch (RuntimeException e) {
      warn(e);
      return 0;
    }
  }

  /**
   * IO thread of {@code exchange}, as its held request is answered: grows the parser's two larger
   * builders back to the {@code capacities} {@link #release} returned, in one copy each. The
   * connection's next request (most often the same long-poll again, as long) then does not grow
   * them from nothing in a series of doubling copies, about 750 bytes with a token in the query;
   * the builders are as large as they were while that request was parsed. A builder that grew past
   * {@value #PRESIZE_MAX} characters (a request with a long query or header) is left to grow again
   * as the next request is parsed, so that one such request does not make every later answer
   * allocate as much.
   */
  public static void presize(HttpServerExchange exchange, long capacities) {
    if (capacities == 0) {
      return;
    }
    Object parse = parseState(exchange);
    if (parse == null) {
      return;
    }
    try {
      for (int i = 0; i < 2; i++) {
        int capacity = (int) (i == 0 ? capacities >>> 32 : capacities);
        if (capacity <= PRESIZE_MAX) {
          ((StringBuilder) BUILDERS[i].get(parse)).ensureCapacity(capacity);
        }
      }
    } catch (RuntimeException e) {
      warn(e);
    }
  }

  /** The request parser's state of the exchange's connection, or null when it cannot be had. */
  private static Object parseState(HttpServerExchange exchange) {
    if (READ_LISTENER == null || !(exchange.getConnection() instanceof HttpServerConnection http)) {
      return null;
    }
    try {
      Object listener = READ_LISTENER.get(http);
      return listener == null ? null : STATE.get(listener);
    } catch (RuntimeException e) {
      warn(e);
      return null;
    }
  }

  private static void warn(RuntimeException e) {
    if (WARNED.compareAndSet(false, true)) {
      LOG.warn("event=held_request_release_failed message=\"{}\"", e.toString());
    }
  }
}
