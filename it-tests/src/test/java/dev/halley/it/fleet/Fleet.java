package dev.halley.it.fleet;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.MapSource;
import dev.halley.router.Publisher;
import dev.halley.router.TokenMinter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import org.testcontainers.lifecycle.Startables;

/**
 * A Halley cluster of node containers on this machine, run as docs/operations.md says: each node's
 * configuration directory is laid out like a Kubernetes ConfigMap volume ({@code cluster.json} a
 * symlink into {@code ..data}), and a map change is written the way the kubelet writes it (a new
 * directory, then an atomic rename of the {@code ..data} symlink), which the node notices by
 * itself. The publisher (router-lib) reads its own map file, written the same way.
 */
public final class Fleet implements AutoCloseable {
  public static final long HEARTBEAT_MS = 1_000;
  public static final long DRAIN_MS = 3_000;

  /**
   * router-lib's request timeout: long enough that a publisher blocked behind a hung node would
   * show it in the other nodes' latency (which stays far below it on this machine, even loaded).
   */
  public static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(5);

  private static final String IMAGE =
      System.getProperty("halley.image", "localhost/halley-node:it");

  private final Path root;
  private final Map<String, NodeContainer> nodes = new LinkedHashMap<>();
  private final Map<String, int[]> ports = new LinkedHashMap<>();
  private final Map<String, String> nodeEnv;
  private final String nodeYaml;
  private final AtomicInteger swaps = new AtomicInteger();
  private final TokenMinter minter = TokenMinter.hs256(NodeContainer.SECRET);
  private final Path publisherDir;
  private volatile ClusterMap map;

  private Fleet(String nodeYaml, Map<String, String> nodeEnv) throws IOException {
    this.root =
        Files.createTempDirectory(
            "halley-fleet-",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
    this.nodeYaml = nodeYaml;
    this.nodeEnv = nodeEnv;
    this.publisherDir = Files.createDirectory(root.resolve("publisher"));
  }

  /** The node.yaml every node of these tests shares (short heartbeat and drain for fast faults). */
  public static String defaultNodeYaml() {
    return "mapFile: cluster.json\n"
        + "heartbeatMs: "
        + HEARTBEAT_MS
        + "\n"
        + "longPollTimeoutMs: "
        + HEARTBEAT_MS
        + "\n"
        + "drainPeriodMs: "
        + DRAIN_MS
        + "\n"
        + "presenceOfflineDelayMs: 0\n";
  }

  /** Starts nodes {@code ids} (in parallel) on a map of version 1 that lists exactly them. */
  public static Fleet start(String... ids) {
    return start(defaultNodeYaml(), Map.of(), ids);
  }

  public static Fleet start(String nodeYaml, Map<String, String> nodeEnv, String... ids) {
    Fleet f;
    try {
      f = new Fleet(nodeYaml, nodeEnv);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    for (String id : ids) {
      f.ports.put(id, new int[] {freePort(), freePort()});
    }
    f.map = f.mapOf(1, ids);
    f.writePublisherMap(f.map);
    List<NodeContainer> started = new ArrayList<>();
    for (String id : ids) {
      started.add(f.create(id, f.map));
    }
    try {
      Startables.deepStart(started).join();
    } catch (RuntimeException e) {
      f.close();
      throw e;
    }
    return f;
  }

  /**
   * A free port for a node that may start much later (a node added by a reshard): below the
   * kernel's ephemeral range, so that none of the test's many outgoing connections takes it as its
   * local port meanwhile (one did: "cannot bind ... Address already in use" when d started).
   */
  static int freePort() {
    int low = ephemeralLow();
    java.util.concurrent.ThreadLocalRandom r = java.util.concurrent.ThreadLocalRandom.current();
    for (int attempt = 0; low > 20_000 && attempt < 200; attempt++) {
      int port = r.nextInt(20_000, low);
      try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
        return s.getLocalPort();
      } catch (IOException taken) {
        // try another
      }
    }
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The first port of the ephemeral range (Linux), or 0 when unknown. Read as lines: {@code
   * Files.readString} returns only the first character of a /proc/sys file (it reads the size the
   * file reports, 0, and then one byte), which made this 3 and every port ephemeral.
   */
  static int ephemeralLow() {
    try {
      String range = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0);
      return Integer.parseInt(range.trim().split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return 0;
    }
  }

  /** A map of {@code version} listing {@code ids} (each with its fixed ports). */
  public ClusterMap mapOf(int version, String... ids) {
    List<NodeInfo> infos = new ArrayList<>();
    for (String id : ids) {
      int[] p = ports.computeIfAbsent(id, k -> new int[] {freePort(), freePort()});
      infos.add(
          new NodeInfo(
              id,
              URI.create("http://127.0.0.1:" + p[0]),
              URI.create("http://127.0.0.1:" + p[1]),
              1));
    }
    return ClusterMap.of(version, infos);
  }

  private NodeContainer create(String id, ClusterMap initial) {
    try {
      Path dir = Files.createDirectory(root.resolve(id));
      Files.writeString(dir.resolve("node.yaml"), nodeYaml);
      Map<String, String> env = nodeEnv;
      String debug = System.getProperty("halley.it.debugLoggers", "");
      if (!debug.isBlank()) {
        // -Dhalley.it.debugLoggers=dev.halley.node.transport.HandoffWait,...: those at DEBUG
        StringBuilder x =
            new StringBuilder(
                "<configuration><appender name=\"out\""
                    + " class=\"ch.qos.logback.core.ConsoleAppender\"><target>System.err</target>"
                    + "<encoder><pattern>%d{HH:mm:ss.SSS} %-5level [%thread] %logger{36} -"
                    + " %msg%n</pattern></encoder></appender>");
        for (String logger : debug.split(",")) {
          x.append("<logger name=\"").append(logger.trim()).append("\" level=\"DEBUG\"/>");
        }
        x.append(
            "<logger name=\"io.undertow\" level=\"WARN\"/><logger name=\"org.xnio\""
                + " level=\"WARN\"/><root level=\"INFO\"><appender-ref ref=\"out\"/></root>"
                + "</configuration>");
        Files.writeString(dir.resolve("logback.xml"), x.toString());
        env = new java.util.HashMap<>(nodeEnv);
        env.put("JAVA_TOOL_OPTIONS", "-Dlogback.configurationFile=/etc/halley/logback.xml");
      }
      Files.createSymbolicLink(dir.resolve("cluster.json"), Path.of("..data/cluster.json"));
      swap(dir, initial);
      int[] p = ports.get(id);
      NodeContainer n = new NodeContainer(IMAGE, id, p[0], p[1], dir, env);
      if (!debug.isBlank()) {
        // The node's log in target/fleet-<id>.log (appended across its restarts).
        Path log = Path.of("target", "fleet-" + id + ".log");
        Files.deleteIfExists(log);
        n.withLogConsumer(
            frame -> {
              try {
                Files.writeString(
                    log,
                    frame.getUtf8String(),
                    java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND);
              } catch (IOException e) {
                // a lost log line
              }
            });
      }
      nodes.put(id, n);
      return n;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Writes {@code m} into {@code dir} as the kubelet updates a ConfigMap volume. */
  private void swap(Path dir, ClusterMap m) throws IOException {
    String name = "..v" + swaps.incrementAndGet();
    Path v = Files.createDirectory(dir.resolve(name));
    Files.writeString(v.resolve("cluster.json"), m.toJson());
    Path tmp = dir.resolve("..data_tmp");
    Files.deleteIfExists(tmp);
    Files.createSymbolicLink(tmp, Path.of(name));
    Path data = dir.resolve("..data");
    Path old = Files.isSymbolicLink(data) ? dir.resolve(Files.readSymbolicLink(data)) : null;
    Files.move(tmp, data, StandardCopyOption.ATOMIC_MOVE);
    if (old != null) {
      Files.delete(old.resolve("cluster.json"));
      Files.delete(old);
    }
  }

  /** Starts one more node (scale out) with map {@code m}, which must list it; waits for ready. */
  public NodeContainer startNode(String id, ClusterMap m) {
    NodeContainer n = create(id, m);
    n.start();
    n.awaitReady();
    return n;
  }

  /** Writes {@code m} to the node's mounted map file; the node applies it by itself. */
  public void writeMap(NodeContainer n, ClusterMap m) {
    try {
      swap(n.configDir, m);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Writes {@code m} to the publisher's map file (its MapSource.file watches it). */
  public void writePublisherMap(ClusterMap m) {
    try {
      if (!Files.exists(
          publisherDir.resolve("cluster.json"), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        Files.createSymbolicLink(
            publisherDir.resolve("cluster.json"), Path.of("..data/cluster.json"));
      }
      swap(publisherDir, m);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    map = m;
  }

  /** Waits until node {@code n} serves map version {@code version}. */
  public static void awaitMapVersion(NodeContainer n, int version) {
    Await.until(
        () -> n.metric("halley_map_version") == version,
        n.nodeId + " serves map " + version,
        Duration.ofSeconds(30));
  }

  public ClusterMap map() {
    return map;
  }

  public NodeContainer node(String id) {
    NodeContainer n = nodes.get(id);
    if (n == null) {
      throw new IllegalArgumentException("no node " + id);
    }
    return n;
  }

  public List<NodeContainer> nodes() {
    return List.copyOf(nodes.values());
  }

  /** A router-lib publisher on the publisher's watched map file. */
  public Publisher publisher() {
    return publisher(b -> b);
  }

  /** The same, with more builder settings. */
  public Publisher publisher(java.util.function.UnaryOperator<Publisher.Builder> settings) {
    return settings
        .apply(
            Publisher.builder()
                .mapSource(MapSource.file(publisherDir.resolve("cluster.json")))
                .apiKey(NodeContainer.API_KEY)
                .requestTimeout(REQUEST_TIMEOUT))
        .build();
  }

  /** {@code n} users that {@code nodeId} owns under {@code m}, named {@code prefix-i}. */
  public static List<String> users(ClusterMap m, String nodeId, String prefix, int n) {
    List<String> out = new ArrayList<>();
    for (int i = 0; out.size() < n; i++) {
      String u = prefix + "-" + i;
      if (m.owner(u).id().equals(nodeId)) {
        out.add(u);
      }
    }
    return out;
  }

  /** A started client of {@code user} on its owner under the current map. */
  public StreamClient client(String user, StreamClient.Transport t) {
    return client(user, t, map.owner(user).publicUrl(), null);
  }

  public StreamClient client(String user, StreamClient.Transport t, URI base, SSLContext ssl) {
    return new StreamClient(
            user, t, base, minter.mint(user, Duration.ofHours(1)), HEARTBEAT_MS, ssl)
        .start();
  }

  /** A started client of {@code user} on its owner, whose token grants {@code channels}. */
  public StreamClient client(String user, StreamClient.Transport t, List<String> channels) {
    return new StreamClient(
            user,
            t,
            map.owner(user).publicUrl(),
            minter.mint(user, Duration.ofHours(1), channels),
            HEARTBEAT_MS,
            null)
        .start();
  }

  public Path root() {
    return root;
  }

  @Override
  public void close() {
    for (NodeContainer n : nodes.values()) {
      try {
        n.stop();
      } catch (RuntimeException e) {
        // already gone
      }
    }
    try (Stream<Path> files = Files.walk(root)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // a temp directory left behind
    }
  }
}
