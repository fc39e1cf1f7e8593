package dev.halley.router;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.MapFileWatcher;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Where a {@link Publisher} gets the cluster map (with internal URLs) from, each time it refreshes.
 *
 * <pre>{@code
 * MapSource.file(Path.of("/etc/halley/cluster.json"));   // re-read on every refresh, and watched
 * MapSource.url(URI.create("https://config.internal/halley/cluster.json"));
 * MapSource.of(() -> myConfigService.currentMap());
 * }</pre>
 *
 * <p>The publisher calls {@link #load()} at build time, on its refresh schedule, on {@link
 * Publisher#refreshMap()}, and when a node reports a recipient as misdirected. Calls come from one
 * internal thread at a time, never from a caller's thread; a load may block (file or network I/O).
 * Note that a node's public {@code GET /v1/map} is the public view without internal URLs, so it is
 * not a valid source: point {@link #url} at the full map document.
 */
@FunctionalInterface
public interface MapSource {

  /** Loads the current map; throws when it cannot (the publisher keeps its previous map). */
  ClusterMap load() throws IOException;

  /**
   * Starts telling the publisher, between its scheduled refreshes, that the map may have changed:
   * {@code changed} (which refreshes the map: {@link #load()}, validation, the listener) may be
   * called from another thread at any time until the returned handle is closed. The publisher calls
   * this once after its first load and closes the handle when it closes. The default watches
   * nothing (the refresh schedule and misdirected replies still reload the map).
   *
   * @throws IOException if watching cannot start (the publisher then fails to build)
   */
  default AutoCloseable watch(Runnable changed) throws IOException {
    return () -> {};
  }

  /**
   * Reads and parses the map file at {@code path} on every load, and watches it: a change of the
   * file's content (an edit, a file renamed over it, Kubernetes' atomic swap of a ConfigMap volume)
   * refreshes the publisher's map at once, with the same validation as a scheduled refresh (see
   * {@link MapFileWatcher}; one daemon thread per publisher).
   */
  static MapSource file(Path path) {
    Objects.requireNonNull(path, "path");
    return new MapSource() {
      @Override
      public ClusterMap load() throws IOException {
        return ClusterMap.load(path);
      }

      @Override
      public AutoCloseable watch(Runnable changed) throws IOException {
        return MapFileWatcher.start(path, changed, "halley-publisher-mapfile");
      }

      @Override
      public String toString() {
        return "MapSource.file(" + path + ")";
      }
    };
  }

  /**
   * Fetches the map document with an HTTP GET on every load (10 second timeout); any status but 200
   * is an {@link IOException} naming the status.
   */
  static MapSource url(URI uri) {
    Objects.requireNonNull(uri, "uri");
    HttpClient client =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();
    return new MapSource() {
      @Override
      public ClusterMap load() throws IOException {
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build();
        HttpResponse<String> response;
        try {
          response = client.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted while fetching the map from " + uri, e);
        }
        if (response.statusCode() != 200) {
          throw new IOException("map fetch from " + uri + " answered " + response.statusCode());
        }
        return ClusterMap.parse(response.body());
      }

      @Override
      public String toString() {
        return "MapSource.url(" + uri + ")";
      }
    };
  }

  /** Asks {@code supplier} on every load; a runtime exception from it counts as a failed load. */
  static MapSource of(Supplier<ClusterMap> supplier) {
    Objects.requireNonNull(supplier, "supplier");
    return () -> {
      ClusterMap map = supplier.get();
      if (map == null) {
        throw new IOException("map supplier returned null");
      }
      return map;
    };
  }
}
