package dev.halley.node.transport.ws;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.HeaderMap;
import io.undertow.util.HeaderValues;
import io.undertow.util.Headers;
import io.undertow.util.Methods;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;

/**
 * The server side of the RFC 6455 opening handshake (section 4.2): checks the request and computes
 * {@code Sec-WebSocket-Accept}. No subprotocol and no extension is negotiated (the node offers
 * none), so any the client offers are left out of the answer.
 */
final class WsHandshake {
  private static final byte[] GUID =
      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11".getBytes(StandardCharsets.US_ASCII);
  static final String VERSION = "13";

  private WsHandshake() {}

  /**
   * The {@code Sec-WebSocket-Accept} value for this upgrade request, or null after answering a JSON
   * error: 426 {@code upgrade_required} without the upgrade headers or with another version than 13
   * (with {@code Sec-WebSocket-Version: 13}), 400 {@code bad_request} for a key that is not 16
   * bytes in base64.
   */
  static String accept(HttpServerExchange exchange) {
    HeaderMap h = exchange.getRequestHeaders();
    if (!exchange.getRequestMethod().equals(Methods.GET)
        || !hasToken(h.get(Headers.UPGRADE), "websocket")
        || !hasToken(h.get(Headers.CONNECTION), "upgrade")
        || h.getFirst(Headers.SEC_WEB_SOCKET_KEY) == null
        || h.getFirst(Headers.SEC_WEB_SOCKET_VERSION) == null) {
      exchange.getResponseHeaders().put(Headers.UPGRADE, "websocket");
      Json.sendError(
          exchange,
          426,
          ErrorCodes.UPGRADE_REQUIRED,
          "GET /v1/ws needs the WebSocket upgrade headers (Upgrade: websocket, Connection:"
              + " Upgrade, Sec-WebSocket-Key, Sec-WebSocket-Version: 13)");
      return null;
    }
    HeaderValues version = h.get(Headers.SEC_WEB_SOCKET_VERSION);
    if (version.size() != 1 || !VERSION.equals(version.getFirst().trim())) {
      exchange.getResponseHeaders().put(Headers.UPGRADE, "websocket");
      exchange.getResponseHeaders().put(Headers.SEC_WEB_SOCKET_VERSION, VERSION);
      Json.sendError(
          exchange,
          426,
          ErrorCodes.UPGRADE_REQUIRED,
          "the node speaks WebSocket version 13 only (Sec-WebSocket-Version: 13)");
      return null;
    }
    HeaderValues keys = h.get(Headers.SEC_WEB_SOCKET_KEY);
    String key = keys.getFirst().trim();
    if (keys.size() != 1 || !validKey(key)) {
      Json.sendError(
          exchange,
          400,
          ErrorCodes.BAD_REQUEST,
          "Sec-WebSocket-Key must be one base64 value of 16 bytes");
      return null;
    }
    return acceptFor(key);
  }

  /** {@code base64(SHA-1(key + the RFC's GUID))}. */
  static String acceptFor(String key) {
    try {
      MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
      sha1.update(key.getBytes(StandardCharsets.US_ASCII));
      sha1.update(GUID);
      return Base64.getEncoder().encodeToString(sha1.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-1", e); // every JDK has it
    }
  }

  private static boolean validKey(String key) {
    if (key.length() != 24) {
      return false;
    }
    try {
      return Base64.getDecoder().decode(key).length == 16;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /**
   * Whether a comma-separated header (any of its lines) holds {@code token}, case-insensitively.
   */
  private static boolean hasToken(HeaderValues values, String token) {
    if (values == null) {
      return false;
    }
    for (String line : values) {
      for (String part : line.split(",")) {
        if (part.trim().equalsIgnoreCase(token)) {
          return true;
        }
      }
    }
    return false;
  }
}
