package dev.halley.node.harden;

import dev.halley.node.TestNodes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A node as a real process ({@code HalleyNode.main}) with a small heap, so tests can measure what
 * the operating system sees: open file descriptors ({@code /proc/<pid>/fd}), resident memory, and
 * whether the process still answers after an attack.
 */
public final class NodeProcess implements AutoCloseable {
  private static final Pattern PORTS = Pattern.compile("public port (\\d+), internal port (\\d+)");

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
   * Starts node "a" of {@link TestNodes#MAP} with {@code heap} (e.g. "64m") and extra YAML option
   * lines; waits for its start line.
   */
  public static NodeProcess start(Path dir, String heap, String... options) throws IOException {
    Path config = dir.resolve("node.yaml");
    List<String> lines =
        new ArrayList<>(
            List.of(
                "nodeId: a",
                "map: " + TestNodes.MAP.toJson(),
                "publicHost: 127.0.0.1",
                "publicPort: 0",
                "internalHost: 127.0.0.1",
                "internalPort: 0",
                "apiKeys: [" + TestNodes.API_KEY + "]",
                "tokenHmacSecret: " + TestNodes.SECRET,
                "ioThreads: 2",
                "newConnectionsPerSecondPerAddress: 1000000",
                "newConnectionBurstPerAddress: 1000000",
                "maxConnectionsPerUser: 10000"));
    lines.addAll(List.of(options));
    Files.writeString(config, String.join("\n", lines) + "\n");
    Path log = dir.resolve("node.log");
    Process p =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + heap,
                "-XX:+ExitOnOutOfMemoryError",
                "-cp",
                System.getProperty("java.class.path"),
                "dev.halley.node.HalleyNode",
                "--config",
                config.toString())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    try {
      while (System.nanoTime() < deadline) {
        Matcher m = PORTS.matcher(read(log));
        if (m.find()) {
          return new NodeProcess(
              p, log, Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
        }
        if (!p.isAlive()) {
          throw new AssertionError("node exited " + p.exitValue() + ": " + read(log));
        }
        Thread.sleep(50);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    p.destroyForcibly();
    throw new AssertionError("node did not start: " + read(log));
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

  public String log() {
    return read(log);
  }

  private static String read(Path log) {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  @Override
  public void close() {
    process.destroyForcibly();
    try {
      process.waitFor(20, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
