package dev.halley.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The watcher on a real directory: each kind of change calls back once with the new content, and
 * events that leave the content as it was call nothing (checked by the count after a later real
 * change, not by waiting for nothing to happen).
 */
class MapFileWatcherTest {
  private static String map(int version) {
    return "{\"version\": "
        + version
        + ", \"nodes\": [{\"id\": \"a\", \"publicUrl\": \"http://127.0.0.1:1\","
        + " \"internalUrl\": \"http://127.0.0.1:2\"}]}";
  }

  private static void await(BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "timed out waiting for: " + what);
      Thread.sleep(10);
    }
  }

  @Test
  void anEditInPlaceOrARenameOverTheFileCallsBackOnceEachWithTheNewContent(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("cluster.json");
    Files.writeString(file, map(1));
    List<Integer> seen = new CopyOnWriteArrayList<>();
    try (MapFileWatcher w =
        MapFileWatcher.start(
            file, () -> seen.add(ClusterMap.parse(read(file)).version()), "test-watcher")) {
      Files.writeString(file, map(2));
      await(() -> seen.size() == 1, "the edit");
      assertEquals(List.of(2), seen);

      Path tmp = dir.resolve("cluster.json.tmp");
      Files.writeString(tmp, map(3));
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      await(() -> seen.size() == 2, "the rename");
      assertEquals(List.of(2, 3), seen);
      assertEquals(2, w.changes());
    }
  }

  @Test
  void unchangedContentAndOtherFilesCallNothing(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("cluster.json");
    Files.writeString(file, map(1));
    List<Integer> seen = new CopyOnWriteArrayList<>();
    try (MapFileWatcher w =
        MapFileWatcher.start(
            file, () -> seen.add(ClusterMap.parse(read(file)).version()), "test-watcher")) {
      Files.writeString(file, map(1)); // same bytes
      Files.writeString(dir.resolve("notes.txt"), "unrelated");
      Files.delete(dir.resolve("notes.txt"));
      Files.writeString(file, map(4));
      await(() -> seen.size() >= 1, "the real change");
      assertEquals(List.of(4), seen, "only the change of content called back");
      assertEquals(1, w.changes());
    }
  }

  @Test
  void aKubernetesConfigMapVolumeSwapIsSeen(@TempDir Path dir) throws Exception {
    // What the kubelet does: the key is a symlink into ..data, ..data a symlink to a timestamped
    // directory; an update writes a new directory, points ..data_tmp at it and renames ..data_tmp
    // over ..data (atomic), then deletes the old directory. cluster.json is never touched.
    Path v1 = Files.createDirectory(dir.resolve("..2026_12_01_10_00_00.000000001"));
    Files.writeString(v1.resolve("cluster.json"), map(1));
    Files.createSymbolicLink(dir.resolve("..data"), v1.getFileName());
    Path file = dir.resolve("cluster.json");
    Files.createSymbolicLink(file, Path.of("..data/cluster.json"));
    List<Integer> seen = new CopyOnWriteArrayList<>();
    try (MapFileWatcher w =
        MapFileWatcher.start(
            file, () -> seen.add(ClusterMap.parse(read(file)).version()), "test-watcher")) {
      Path v2 = Files.createDirectory(dir.resolve("..2026_12_01_10_01_00.000000002"));
      Files.writeString(v2.resolve("cluster.json"), map(2));
      Path tmp = Files.createSymbolicLink(dir.resolve("..data_tmp"), v2.getFileName());
      Files.move(tmp, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);
      Files.delete(v1.resolve("cluster.json"));
      Files.delete(v1);

      await(() -> seen.size() == 1, "the swap");
      assertEquals(List.of(2), seen);
    }
  }

  @Test
  void aThrowingCallbackDoesNotStopTheWatcher(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("cluster.json");
    Files.writeString(file, map(1));
    List<String> seen = new CopyOnWriteArrayList<>();
    try (MapFileWatcher w =
        MapFileWatcher.start(
            file,
            () -> {
              seen.add(read(file));
              throw new IllegalStateException("callback failed");
            },
            "test-watcher")) {
      Files.writeString(file, "{ not json");
      await(() -> seen.size() == 1, "the first change");
      Files.writeString(file, map(5));
      await(() -> seen.size() == 2, "the second change");
      assertEquals(map(5), seen.get(1));
    }
  }

  private static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
