package dev.halley.bench.load;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Starts and stops the servers under test as separate processes pinned to one CPU ({@code
 * taskset}): a Halley node from its jar, or nginx + nchan from the peers' configuration with its
 * own port and runtime directory (so it never touches an nchan someone else started).
 */
final class Servers {
  private Servers() {}

  /** A running server: the pids to sample and how to stop it. */
  interface Server extends AutoCloseable {
    String name();

    String pids();

    int subscribePort();

    int publishPort();

    @Override
    void close();
  }

  static Server halley(Path jar, String cpu, List<String> jvmFlags, Path dir, LoadOptions o)
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
            + "\napiKeys: ["
            + o.apiKey
            + "]\ntokenHmacSecret: "
            + o.secret
            + "\n");
    List<String> cmd = new ArrayList<>(List.of("taskset", "-c", cpu, "java"));
    cmd.addAll(jvmFlags);
    cmd.addAll(List.of("-jar", jar.toString(), "--config", dir.resolve("node.yaml").toString()));
    Process p =
        new ProcessBuilder(cmd)
            .directory(dir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("node.log").toFile())
            .start();
    waitFor("http://127.0.0.1:" + internal + "/readyz", p, dir.resolve("node.log"));
    return new Server() {
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
