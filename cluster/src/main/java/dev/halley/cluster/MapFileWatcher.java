package dev.halley.cluster;

import static java.nio.file.StandardWatchEventKinds.ENTRY_CREATE;
import static java.nio.file.StandardWatchEventKinds.ENTRY_DELETE;
import static java.nio.file.StandardWatchEventKinds.ENTRY_MODIFY;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Notices when a cluster map file changes and calls back, so that a node or a publisher applies the
 * new map without a restart or a signal.
 *
 * <pre>{@code
 * MapFileWatcher w = MapFileWatcher.start(Path.of("/etc/halley/cluster.json"),
 *     () -> reload(), "halley-mapfile");     // reload() re-reads and validates the file
 * ...
 * w.close();
 * }</pre>
 *
 * <p>It watches the file's <em>directory</em>, not the file, and on any event there compares the
 * file's bytes with those it saw last: so it sees an edit in place, a new file renamed over the old
 * one, and Kubernetes' update of a ConfigMap volume, where {@code cluster.json} is a symlink to
 * {@code ..data/cluster.json} and {@code ..data} itself is a symlink that is swapped atomically to
 * a new directory (the events are on {@code ..data}, never on {@code cluster.json}). Events that
 * arrive together (a writer's several writes, the swap's create-rename-delete) are coalesced: the
 * file is read once they have been quiet for {@value #QUIET_MS} ms (at most {@value #MAX_WAIT_MS}
 * ms after the first). The callback runs only when the bytes differ from the last ones seen, so an
 * unchanged rewrite, an unrelated file in the directory, or a touch does nothing; a file that is
 * missing or unreadable for a moment is skipped until it is back. The callback does the parsing,
 * validation and logging (a half-written file is the callback's invalid map, and the next event
 * brings the whole one).
 *
 * <p>Threading: one daemon thread, named by the caller, blocks on the directory's {@link
 * WatchService} and runs the callback; the callback must not block for long. A callback that throws
 * does not stop the watcher. {@link #close()} stops the thread. If the directory itself goes away
 * the watcher stops.
 */
public final class MapFileWatcher implements AutoCloseable {
  /** Quiet time after the last event before the file is read, ms. */
  static final long QUIET_MS = 50;

  /** Longest wait after the first event of a burst before the file is read anyway, ms. */
  static final long MAX_WAIT_MS = 1_000;

  private final Path file;
  private final Runnable onChange;
  private final WatchService watch;
  private final Thread thread;
  private final AtomicLong changes = new AtomicLong();
  // Confined to the watcher thread after construction.
  private byte[] last;

  private MapFileWatcher(Path file, Runnable onChange, String threadName) throws IOException {
    this.file = file;
    this.onChange = onChange;
    Path dir = file.getParent();
    this.watch = dir.getFileSystem().newWatchService();
    try {
      dir.register(watch, ENTRY_CREATE, ENTRY_MODIFY, ENTRY_DELETE);
    } catch (IOException | RuntimeException e) {
      watch.close();
      throw e;
    }
    this.last = read();
    this.thread = new Thread(this::run, threadName);
    thread.setDaemon(true);
  }

  /**
   * Starts watching {@code file}: {@code onChange} runs on the watcher's thread each time the
   * file's content differs from what it was at the last call (or at the start).
   *
   * @throws IOException if the file's directory cannot be watched
   */
  public static MapFileWatcher start(Path file, Runnable onChange, String threadName)
      throws IOException {
    Path f = Objects.requireNonNull(file, "file").toAbsolutePath();
    if (f.getParent() == null) {
      throw new IllegalArgumentException("file must be in a directory: " + file);
    }
    MapFileWatcher w =
        new MapFileWatcher(f, Objects.requireNonNull(onChange, "onChange"), threadName);
    w.thread.start();
    return w;
  }

  /** The watched file. */
  public Path file() {
    return file;
  }

  /** How many times the content changed and the callback ran. */
  public long changes() {
    return changes.get();
  }

  private void run() {
    try {
      while (true) {
        if (!drain(watch.take())) {
          return;
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MAX_WAIT_MS);
        WatchKey more;
        while (System.nanoTime() < deadline
            && (more = watch.poll(QUIET_MS, TimeUnit.MILLISECONDS)) != null) {
          if (!drain(more)) {
            return;
          }
        }
        check();
      }
    } catch (ClosedWatchServiceException | InterruptedException e) {
      // closed
    }
  }

  /** Consumes a key's events; false if the directory can no longer be watched. */
  private static boolean drain(WatchKey key) {
    key.pollEvents();
    return key.reset();
  }

  private void check() {
    byte[] now = read();
    if (now == null || Arrays.equals(now, last)) {
      return;
    }
    last = now;
    changes.incrementAndGet();
    try {
      onChange.run();
    } catch (RuntimeException e) {
      // The callback reports its own failures; the watcher keeps watching.
    }
  }

  private byte[] read() {
    try {
      return Files.readAllBytes(file);
    } catch (IOException e) {
      return null;
    }
  }

  /** Stops watching. Idempotent. */
  @Override
  public void close() {
    try {
      watch.close();
    } catch (IOException e) {
      // nothing left to release
    }
    thread.interrupt();
  }

  @Override
  public String toString() {
    return "MapFileWatcher(" + file + ")";
  }
}
