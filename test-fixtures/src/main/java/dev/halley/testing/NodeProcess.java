package dev.halley.testing;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A node as a real process ({@code dev.halley.node.NodeCommand}'s main, the jar's on this JVM's
 * class path), for tests that signal it (SIGTERM, SIGSTOP) or measure what the operating system
 * sees (open file descriptors, resident memory, survival after an attack): {@link #start} writes
 * {@code node.yaml} into a directory, starts the process with its output in {@code node.log} there,
 * and returns once the node logged its ports. {@link #close()} kills it (after SIGCONT, should it
 * be stopped).
 *
 * <pre>{@code
 * try (NodeProcess node = NodeProcess.start(dir, "128m", List.of("nodeId: a", "map: ...", ...))) {
 *   node.signal("TERM");
 *   node.process().waitFor(...);
 * }
 * }</pre>
 */
public final class NodeProcess implements AutoCloseable {
  private static final Pattern PORTS = Pattern.compile("public port (\\d+), internal port (\\d+)");
  private static final Duration START_TIMEOUT = Duration.ofSeconds(60);

  private final Process process;
  private final Path log;
  public final int publicPort;
  public final int internalPort;

  private NodeProcess(Process process, Path log, int publicPort, int internalPort) {
    this.process = process;
    this.log = log;
    this.publicPort = publicPort;
    this.internalPort = internalPort;
  }

  /**
   * Writes {@code configLines} as {@code dir/node.yaml}, starts the node with a heap of {@code
   * heap} (e.g. "128m"; it exits on an OutOfMemoryError) and waits (up to 60 s) for its start line.
   *
   * @throws AssertionError if the node exits or does not log its ports in time (with its log)
   */
  public static NodeProcess start(Path dir, String heap, List<String> configLines)
      throws IOException {
    Path config = dir.resolve("node.yaml");
    Files.writeString(config, String.join("\n", configLines) + "\n", StandardCharsets.UTF_8);
    // To a file, not a pipe: Process.destroy() closes the pipes, and a drain logs after it.
    Path log = dir.resolve("node.log");
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx" + heap);
    command.add("-XX:+ExitOnOutOfMemoryError");
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add("dev.halley.node.NodeCommand");
    command.add("--config");
    command.add(config.toString());
    Process p =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    AtomicReference<Matcher> ports = new AtomicReference<>();
    try {
      await()
          .atMost(START_TIMEOUT)
          .pollInterval(Duration.ofMillis(50))
          .until(
              () -> {
                if (!p.isAlive()) {
                  throw new AssertionError("node exited " + p.exitValue() + ": " + read(log));
                }
                Matcher m = PORTS.matcher(read(log));
                if (m.find()) {
                  ports.set(m);
                  return true;
                }
                return false;
              });
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      p.destroyForcibly();
      throw new AssertionError("node did not start within " + START_TIMEOUT + ": " + read(log));
    } catch (RuntimeException | Error e) {
      p.destroyForcibly();
      throw e;
    }
    Matcher m = ports.get();
    return new NodeProcess(p, log, Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
  }

  public Process process() {
    return process;
  }

  public long pid() {
    return process.pid();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** Open file descriptors of the process, from {@code /proc/<pid>/fd}. */
  public int openFds() {
    try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid()), "fd"))) {
      return (int) fds.count();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Resident set size, kB, from {@code /proc/<pid>/status}. */
  public long rssKb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid()), "status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
      return -1;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** What the node logged so far. */
  public String log() {
    return read(log);
  }

  /** Sends {@code kill -<signal>} (TERM, STOP, CONT...) and checks that kill succeeded. */
  public void signal(String signal) throws IOException, InterruptedException {
    Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).start();
    if (kill.waitFor() != 0) {
      throw new AssertionError("kill -" + signal + " " + process.pid() + " failed");
    }
  }

  /**
   * SIGSTOP, then waits until every thread of the process is stopped: {@code kill} returns as soon
   * as the signal is queued and each thread stops only when it next enters the kernel, so until
   * then the node may still read and answer requests. Returns how long the stop took.
   */
  public Duration stop() throws IOException, InterruptedException {
    signal("STOP");
    long start = System.nanoTime();
    await()
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(5))
        .until(
            () -> {
              if (!process.isAlive()) {
                throw new AssertionError("node exited instead of stopping: " + log());
              }
              return isStopped(process.pid());
            });
    return Duration.ofNanos(System.nanoTime() - start);
  }

  /**
   * Whether every thread of {@code pid} is stopped ({@code T} in {@code
   * /proc/<pid>/task/<tid>/stat} on Linux, {@code ps -o state=} where there is no /proc).
   */
  public static boolean isStopped(long pid) throws IOException, InterruptedException {
    Path tasks = Path.of("/proc", Long.toString(pid), "task");
    if (!Files.isDirectory(tasks)) {
      Process ps = new ProcessBuilder("ps", "-o", "state=", "-p", Long.toString(pid)).start();
      String state = new String(ps.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
      ps.waitFor();
      return state.trim().startsWith("T");
    }
    List<Path> threads;
    try (var list = Files.list(tasks)) {
      threads = list.toList();
    }
    for (Path t : threads) {
      String stat;
      try {
        stat = Files.readString(t.resolve("stat"), StandardCharsets.US_ASCII);
      } catch (IOException gone) {
        continue; // the thread ended meanwhile
      }
      // "tid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
      char state = stat.charAt(stat.lastIndexOf(')') + 2);
      if (state != 'T' && state != 't') {
        return false;
      }
    }
    return !threads.isEmpty();
  }

  private static String read(Path log) {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** Kills the process (continuing it first, should it be stopped) and waits for it to end. */
  @Override
  public void close() {
    try {
      if (process.isAlive()) {
        try {
          signal("CONT");
        } catch (IOException | AssertionError e) {
          // gone meanwhile
        }
      }
      process.destroyForcibly();
      process.waitFor(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
