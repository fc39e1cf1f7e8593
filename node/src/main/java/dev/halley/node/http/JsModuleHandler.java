package dev.halley.node.http;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.ETag;
import io.undertow.util.ETagUtils;
import io.undertow.util.Headers;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * {@code GET /js/{file}}: the js-client ES modules packaged in the jar under {@code halley-js/}, as
 * {@code text/javascript} with a content ETag ({@code If-None-Match} answers 304). A file is read
 * from the jar once (on a worker thread), then served from memory.
 */
public final class JsModuleHandler implements HttpHandler {
  static final String PREFIX = "/js/";
  private static final Pattern FILE = Pattern.compile("[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\\.js");

  private record Module(byte[] body, ETag etag) {}

  private final ConcurrentHashMap<String, Optional<Module>> cache = new ConcurrentHashMap<>();

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    String file = exchange.getRequestPath().substring(PREFIX.length());
    if (!FILE.matcher(file).matches()) {
      Json.sendError(exchange, 404, ErrorCodes.NOT_FOUND, "no such module: " + file);
      return;
    }
    Optional<Module> cached = cache.get(file);
    if (cached == null) {
      if (exchange.isInIoThread()) {
        exchange.dispatch(this); // the first read of a jar resource blocks
        return;
      }
      cached = cache.computeIfAbsent(file, JsModuleHandler::load);
    }
    if (cached.isEmpty()) {
      Json.sendError(exchange, 404, ErrorCodes.NOT_FOUND, "no such module: " + file);
      return;
    }
    Module m = cached.get();
    exchange.getResponseHeaders().put(Headers.ETAG, m.etag().toString());
    exchange.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-cache");
    if (!ETagUtils.handleIfNoneMatch(exchange, m.etag(), false)) {
      exchange.setStatusCode(304);
      exchange.endExchange();
      return;
    }
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, "text/javascript; charset=utf-8");
    exchange.getResponseSender().send(ByteBuffer.wrap(m.body()));
  }

  private static Optional<Module> load(String file) {
    try (InputStream in =
        JsModuleHandler.class.getClassLoader().getResourceAsStream("halley-js/" + file)) {
      if (in == null) {
        return Optional.empty();
      }
      byte[] body = in.readAllBytes();
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(body);
      return Optional.of(
          new Module(body, new ETag(false, HexFormat.of().formatHex(digest, 0, 16))));
    } catch (IOException | NoSuchAlgorithmException e) {
      return Optional.empty();
    }
  }

  @Override
  public String toString() {
    return "JsModuleHandler(GET /js/{file})";
  }
}
