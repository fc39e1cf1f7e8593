package dev.halley.bench.load;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Starts and stops the servers under test as separate processes pinned to one CPU ({@code
 * taskset}): a Halley node from its jar, nginx + nchan, CometD or Pushpin from the peers'
 * configuration ({@code ../shared/peers/}) with their own ports and runtime directories (so they
 * never touch a peer someone else started).
 */
final class Servers {
  private Servers() {}

  /** A running server: the pids to sample and how to stop it. */
  interface Server extends AutoCloseable {
    String name();

    String pids();

    int subscribePort();

    int publishPort();

    /** The server's GC log ({@link GcLog}), or null when it is not a JVM. */
    default Path gcLog() {
      return null;
    }

    @Override
    void close();
  }

  static Server halley(
      Path jar, String cpu, List<String> jvmFlags, Map<String, String> env, Path dir, LoadOptions o)
      throws Exception {
    Files.createDirectories(dir);
    int pub = freePort();
    int internal = freePort();
    Files.writeString(
        dir.resolve("map.json"),
        "{\"version\": 1, \"nodes\": [{\"id\": \"a\", \"publicUrl\": \"http://127.0.0.1:"
            + pub
            + "\", \"internalUrl\": \"http://127.0.0.1:"
            + internal
            + "\", \"weight\": 1}]}\n");
    Files.writeString(
        dir.resolve("node.yaml"),
        "nodeId: a\nmapFile: map.json\npublicHost: 127.0.0.1\npublicPort: "
            + pub
            + "\ninternalPort: "
            + internal
            // The generator opens a few publisher connections: leave the fds to the public
            // listener, so 19,000 subscribers fit under this machine's 20,000-fd cap (the default
            // keeps 1,024 internal sockets + 512 spare: 18,464 public ones).
            + "\nmaxInternalSockets: 64"
            + "\napiKeys: ["
            + o.apiKey
            + "]\ntokenHmacSecret: "
            + o.secret
            + "\n");
    List<String> cmd = new ArrayList<>(List.of("taskset", "-c", cpu, "java"));
    cmd.addAll(jvmFlags);
    cmd.add(GcLog.flag(dir.resolve("gc.log")));
    cmd.addAll(List.of("-jar", jar.toString(), "--config", dir.resolve("node.yaml").toString()));
    ProcessBuilder pb =
        new ProcessBuilder(cmd)
            .directory(dir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("node.log").toFile());
    pb.environment().putAll(env);
    Process p = pb.start();
    waitFor("http://127.0.0.1:" + internal + "/readyz", p, dir.resolve("node.log"));
    return new Server() {
      @Override
      public Path gcLog() {
        return dir.resolve("gc.log");
      }

      @Override
      public String name() {
        return "halley";
      }

      @Override
      public String pids() {
        return Long.toString(p.pid());
      }

      @Override
      public int subscribePort() {
        return pub;
      }

      @Override
      public int publishPort() {
        return internal;
      }

      @Override
      public void close() {
        p.destroy();
        try {
          if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    };
  }

  static Server nchan(Path peerConf, String cpu, Path dir) throws Exception {
    Files.createDirectories(dir);
    int port = freePort();
    String conf =
        Files.readString(peerConf)
            .replace("127.0.0.1:18081", "127.0.0.1:" + port)
            .replace("/tmp/peers/nchan", dir.toString());
    Path confFile = dir.resolve("nginx.conf");
    Files.writeString(confFile, conf);
    Path pidFile = dir.resolve("nginx.pid");
    Files.deleteIfExists(pidFile);
    Process p =
        new ProcessBuilder(
                "taskset", "-c", cpu, "nginx", "-p", dir.toString(), "-c", confFile.toString())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("start.log").toFile())
            .start();
    if (p.waitFor() != 0) {
      throw new IllegalStateException(
          "nginx did not start: " + Files.readString(dir.resolve("start.log")));
    }
    waitFor("http://127.0.0.1:" + port + "/health", null, dir.resolve("error.log"));
    long master = Long.parseLong(Files.readString(pidFile).trim());
    return new Server() {
      @Override
      public String name() {
        return "nchan";
      }

      @Override
      public String pids() {
        return Long.toString(master);
      }

      @Override
      public int subscribePort() {
        return port;
      }

      @Override
      public int publishPort() {
        return port;
      }

      @Override
      public void close() {
        ProcessHandle.of(master)
            .ifPresent(
                h -> {
                  h.destroy(); // SIGTERM: nginx's fast shutdown
                  try {
                    h.onExit().get(20, TimeUnit.SECONDS);
                  } catch (Exception e) {
                    h.destroyForcibly();
                  }
                });
      }
    };
  }

  /**
   * The CometD peer ({@code shared/peers/cometd}) from its build directory ({@code
   * target/cometd-peer-1.0.jar} and {@code target/lib/}, as its {@code start.sh} builds it), on a
   * free port, with the JVM flags given.
   */
  static Server cometd(Path build, String cpu, List<String> jvmFlags, Path dir) throws Exception {
    Files.createDirectories(dir);
    int port = freePort();
    List<String> cmd = new ArrayList<>(List.of("taskset", "-c", cpu, "java"));
    cmd.addAll(jvmFlags);
    cmd.add(GcLog.flag(dir.resolve("gc.log")));
    cmd.addAll(
        List.of(
            "-Dport=" + port,
            "-DmaxThreads=256",
            "-cp",
            build.resolve("target/cometd-peer-1.0.jar") + ":" + build.resolve("target/lib/*"),
            "bench.peers.cometd.CometDPeer"));
    Process p =
        new ProcessBuilder(cmd)
            .directory(dir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("cometd.log").toFile())
            .start();
    waitFor("http://127.0.0.1:" + port + "/health", p, dir.resolve("cometd.log"));
    return processes("cometd", port, port, dir.resolve("gc.log"), p);
  }

  /**
   * Pushpin ({@code shared/peers/pushpin}): its GRIP origin ({@code origin.py}) and the pushpin
   * runner (condure, zurl, proxy, handler), with the peers' configuration rewritten to free ports
   * and a private run directory and IPC prefix. Both processes are pinned; the runner's children
   * inherit the CPU mask and are sampled with it.
   */
  static Server pushpin(Path peerDir, String cpu, Path dir) throws Exception {
    Files.createDirectories(dir.resolve("run"));
    Files.createDirectories(dir.resolve("log"));
    int http = freePort();
    int publish = freePort();
    int origin = freePort();
    String conf =
        Files.readString(peerDir.resolve("pushpin.conf"))
            .replace("@LIBDIR@", peerDir.resolve("lib").toString())
            .replace("@CONFDIR@", dir.toString())
            .replace("/tmp/peers/pushpin", dir.toString())
            .replace("ipc_prefix=pushpin-bench-", "ipc_prefix=pb" + http + "-")
            .replace("http_port=127.0.0.1:18082", "http_port=127.0.0.1:" + http)
            .replace("push_in_http_port=5561", "push_in_http_port=" + publish)
            .replace("tcp://127.0.0.1:5560", "tcp://127.0.0.1:" + freePort())
            .replace("tcp://127.0.0.1:5562", "tcp://127.0.0.1:" + freePort())
            .replace("tcp://127.0.0.1:5563", "tcp://127.0.0.1:" + freePort());
    Files.writeString(dir.resolve("pushpin.conf"), conf);
    Files.writeString(dir.resolve("routes"), "* 127.0.0.1:" + origin + ",over_http\n");
    Process o =
        new ProcessBuilder(
                "taskset",
                "-c",
                cpu,
                "python3",
                peerDir.resolve("origin.py").toString(),
                Integer.toString(origin))
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("log/origin.log").toFile())
            .start();
    Process p;
    try {
      p =
          new ProcessBuilder(
                  "taskset",
                  "-c",
                  cpu,
                  "pushpin",
                  "--config",
                  dir.resolve("pushpin.conf").toString())
              .directory(dir.toFile())
              .redirectErrorStream(true)
              .redirectOutput(dir.resolve("log/runner.log").toFile())
              .start();
      waitFor("http://127.0.0.1:" + http + "/health", p, dir.resolve("log/runner.log"));
    } catch (Exception e) {
      o.destroy();
      throw e;
    }
    return processes("pushpin", http, publish, null, p, o);
  }

  /** A server made of processes started here: stopped with SIGTERM, then SIGKILL after 20 s. */
  private static Server processes(String name, int sub, int pub, Path gcLog, Process... ps) {
    return new Server() {
      @Override
      public Path gcLog() {
        return gcLog;
      }

      @Override
      public String name() {
        return name;
      }

      @Override
      public String pids() {
        StringBuilder b = new StringBuilder();
        for (Process p : ps) {
          b.append(b.length() > 0 ? "," : "").append(p.pid());
        }
        return b.toString();
      }

      @Override
      public int subscribePort() {
        return sub;
      }

      @Override
      public int publishPort() {
        return pub;
      }

      @Override
      public void close() {
        List<ProcessHandle> children = new ArrayList<>();
        for (Process p : ps) {
          p.descendants().forEach(children::add);
          p.destroy();
        }
        for (Process p : ps) {
          try {
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
              p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
        children.forEach(ProcessHandle::destroyForcibly); // any the runner left behind
      }
    };
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static void waitFor(String url, Process p, Path log) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      if (p != null && !p.isAlive()) {
        throw new IllegalStateException("server exited: " + tail(log));
      }
      try {
        HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
        c.setConnectTimeout(1000);
        c.setReadTimeout(1000);
        if (c.getResponseCode() == 200) {
          return;
        }
      } catch (IOException e) {
        // not up yet
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("server not ready within 60 s: " + url + " " + tail(log));
  }

  private static String tail(Path log) {
    try {
      String s = Files.readString(log);
      return s.substring(Math.max(0, s.length() - 2000));
    } catch (IOException e) {
      return "(no log)";
    }
  }
}
