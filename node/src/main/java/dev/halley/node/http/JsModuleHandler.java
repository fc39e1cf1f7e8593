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
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Enumeration;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * {@code GET /js/{file}}: the js-client ES modules packaged under {@code halley-js/}, as {@code
 * text/javascript} with a content ETag ({@code If-None-Match} answers 304).
 *
 * <p>The set of files is fixed: every {@code .js} file under {@code halley-js/} is read once when
 * the handler is built and served from memory; any other name is a 404 that stores nothing and
 * echoes at most {@link #MAX_ECHO} characters of the name. Names longer than {@link
 * #MAX_NAME_LENGTH} are refused before any lookup. Immutable, so thread-safe.
 */
public final class JsModuleHandler implements HttpHandler {
  static final String PREFIX = "/js/";
  private static final String ROOT = "halley-js/";

  /** Longest module path accepted after {@code /js/}, characters. */
  static final int MAX_NAME_LENGTH = 128;

  /** How much of an unknown name a 404 message repeats, characters. */
  static final int MAX_ECHO = 64;

  private record Module(byte[] body, ETag etag) {}

  private final Map<String, Module> modules;

  /** Reads the modules packaged with the node (blocking; call at start). */
  public JsModuleHandler() {
    this(JsModuleHandler.class.getClassLoader());
  }

  JsModuleHandler(ClassLoader loader) {
    this.modules = Map.copyOf(load(loader));
  }

  /** The served file names (relative to {@code /js/}). */
  java.util.Set<String> files() {
    return modules.keySet();
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    String path = exchange.getRequestPath();
    String file =
        path.length() - PREFIX.length() > MAX_NAME_LENGTH ? null : path.substring(PREFIX.length());
    Module m = file == null ? null : modules.get(file);
    if (m == null) {
      Json.sendError(exchange, 404, ErrorCodes.NOT_FOUND, "no such module: " + echo(path));
      return;
    }
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

  private static String echo(String path) {
    String name = path.substring(PREFIX.length());
    return name.length() > MAX_ECHO ? name.substring(0, MAX_ECHO) + "..." : name;
  }

  private static Map<String, Module> load(ClassLoader loader) {
    Map<String, Module> found = new TreeMap<>();
    try {
      Enumeration<URL> roots = loader.getResources(ROOT);
      while (roots.hasMoreElements()) {
        URL root = roots.nextElement();
        if (root.getProtocol().equals("file")) {
          Path dir = Path.of(root.toURI());
          try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
              String name = dir.relativize(p).toString().replace('\\', '/');
              if (name.endsWith(".js") && Files.isRegularFile(p)) {
                found.putIfAbsent(name, module(Files.readAllBytes(p)));
              }
            }
          }
        } else if (root.getProtocol().equals("jar")) {
          JarURLConnection c = (JarURLConnection) root.openConnection();
          c.setUseCaches(false);
          try (JarFile jar = c.getJarFile()) {
            for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements(); ) {
              JarEntry entry = e.nextElement();
              String name = entry.getName();
              if (name.startsWith(ROOT) && name.endsWith(".js") && !entry.isDirectory()) {
                try (InputStream in = jar.getInputStream(entry)) {
                  found.putIfAbsent(name.substring(ROOT.length()), module(in.readAllBytes()));
                }
              }
            }
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the js-client modules", e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException("cannot read the js-client modules", e);
    }
    return found;
  }

  private static Module module(byte[] body) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(body);
      return new Module(body, new ETag(false, HexFormat.of().formatHex(digest, 0, 16)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public String toString() {
    return "JsModuleHandler(GET /js/{file}, " + modules.size() + " files)";
  }
}
