package dev.halley.node.transport.ws;

import io.undertow.server.AbstractServerConnection;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.ServerConnection;
import io.undertow.server.protocol.http.HttpServerConnection;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lets an upgraded WebSocket drop the HTTP request it came from (memory per connection, issue 12).
 *
 * <p>XNIO keeps Undertow's HTTP connection object as the socket's close listener for the socket's
 * whole life (its {@code setCloseListener} only adds listeners), and that object keeps the
 * upgrade's {@link HttpServerExchange} twice: as the exchange in progress ({@code
 * AbstractServerConnection.current}) and inside the upgrade listener ({@code
 * HttpServerConnection.upgradeListener}, which holds the WebSocket handshake's facade). With it
 * stay the request's headers, URL, query string (the token) and attachments: about 4 KB of the 8.3
 * KB an idle WebSocket held (measured with a class histogram, see docs/benchmarks.md). It also
 * keeps its HTTP read listener ({@code HttpServerConnection.readListener}) and through it the
 * request parser's state: a builder still holding the query string (the token) and the cache of the
 * request's header values, about 0.6 KB more. These fields are only read while requests are parsed
 * and completed (the read listener by {@code exchangeComplete}, for an exchange of this
 * connection); once the WebSocket's callback runs, no exchange comes again and they are dead, so
 * {@link #release} clears them.
 *
 * <p>Undertow has no API for this, so the fields are reached through {@link VarHandle}s looked up
 * once. If a future Undertow renames them, the node logs one warning and keeps working, holding the
 * request as before.
 */
final class UpgradedRequest {
  private static final Logger LOG = LoggerFactory.getLogger(UpgradedRequest.class);
  private static final VarHandle CURRENT;
  private static final VarHandle UPGRADE_LISTENER;
  private static final VarHandle READ_LISTENER;
  private static final AtomicBoolean WARNED = new AtomicBoolean();

  static {
    VarHandle current = null;
    VarHandle upgrade = null;
    VarHandle read = null;
    try {
      current =
          MethodHandles.privateLookupIn(AbstractServerConnection.class, MethodHandles.lookup())
              .findVarHandle(AbstractServerConnection.class, "current", HttpServerExchange.class);
      upgrade =
          MethodHandles.privateLookupIn(HttpServerConnection.class, MethodHandles.lookup())
              .findVarHandle(
                  HttpServerConnection.class,
                  "upgradeListener",
                  io.undertow.server.HttpUpgradeListener.class);
      read =
          MethodHandles.privateLookupIn(HttpServerConnection.class, MethodHandles.lookup())
              .findVarHandle(
                  HttpServerConnection.class,
                  "readListener",
                  Class.forName(
                      "io.undertow.server.protocol.http.HttpReadListener",
                      false,
                      HttpServerConnection.class.getClassLoader()));
    } catch (ReflectiveOperationException | RuntimeException e) {
      LOG.warn(
          "event=upgrade_release_unavailable message=\"an upgraded WebSocket keeps its HTTP request"
              + " (about 4 KB per connection): {}\"",
          e.toString());
      WARNED.set(true);
    }
    boolean all = current != null && upgrade != null && read != null;
    CURRENT = all ? current : null;
    UPGRADE_LISTENER = upgrade;
    READ_LISTENER = read;
  }

  private UpgradedRequest() {}

  /**
   * Clears what {@code connection} (the upgraded socket's HTTP connection) still holds of its last
   * request. Call on the IO thread once the WebSocket is set up, never before the upgrade ran.
   */
  static void release(ServerConnection connection) {
    if (CURRENT == null || !(connection instanceof HttpServerConnection http)) {
      return;
    }
    try {
      CURRENT.setVolatile((AbstractServerConnection) http, (HttpServerExchange) null);
      UPGRADE_LISTENER.setVolatile(http, (io.undertow.server.HttpUpgradeListener) null);
      READ_LISTENER.setVolatile(http, (Object) null);
    } catch (RuntimeException e) {
      if (WARNED.compareAndSet(false, true)) {
        LOG.warn("event=upgrade_release_failed message=\"{}\"", e.toString());
      }
    }
  }
}
