package dev.halley.example.chat;

import dev.halley.cluster.ClusterMap;
import dev.halley.node.HalleyNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Re-reads a map file on a schedule and hands a newer version to the nodes of this process ({@link
 * HalleyNode#updateMap}), as an operator's config push would. One daemon thread; a bad file is
 * reported once per change and the nodes keep their map.
 */
final class MapFileWatcher implements AutoCloseable {
  private final Path file;
  private final List<HalleyNode> nodes;
  private final ScheduledExecutorService timer;
  private int version;
  private String lastError;

  MapFileWatcher(Path file, ClusterMap initial, List<HalleyNode> nodes, Duration every) {
    this.file = file;
    this.nodes = List.copyOf(nodes);
    this.version = initial.version();
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "halley-map-watcher");
              t.setDaemon(true);
              return t;
            });
    long ms = Math.max(50, every.toMillis());
    timer.scheduleWithFixedDelay(this::check, ms, ms, TimeUnit.MILLISECONDS);
  }

  private void check() {
    ClusterMap map;
    try {
      map = ClusterMap.load(file);
    } catch (Exception e) {
      if (!String.valueOf(e.getMessage()).equals(lastError)) {
        lastError = String.valueOf(e.getMessage());
        System.err.println("map file " + file + " not loaded: " + lastError);
      }
      return;
    }
    lastError = null;
    if (map.version() <= version) {
      return;
    }
    version = map.version();
    for (HalleyNode node : nodes) {
      node.updateMap(map);
    }
    System.out.println("map version " + version + " loaded: " + map.publicViewJson());
    System.out.flush();
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
