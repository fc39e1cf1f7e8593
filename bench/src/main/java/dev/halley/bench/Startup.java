package dev.halley.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Startup time (issue 12): a node from start to {@code /readyz} answering 200, and {@code ./halley
 * run} from the command to a usable chat (the launcher printed {@code ready;}, the chat page and
 * every node answer). Each variant is started {@code runs} times, interleaved (variant 1, 2, ...,
 * then again), and measured in wall time and in CPU time (user + system of the process when it
 * became ready, from {@code /proc}): on a busy machine the wall time is mostly the run queue, the
 * CPU time is the work.
 *
 * <pre>
 * bench/startup.sh                 # node: launcher vs plain java -jar; ./halley run; 5 runs each
 * bench/startup.sh runs=3 only=node
 * </pre>
 *
 * Variants: {@code node-launcher} ({@code ./halley node}, the flags and class-data archive it
 * ships), {@code node-plain} ({@code java -jar halley-node.jar}, no flags), {@code run-launcher}
 * ({@code ./halley run}), {@code run-plain} ({@code java -jar halley-chat.jar}). The launcher
 * writes its class-data archive on the first exit after a build; a first, unmeasured run of each
 * launcher variant makes sure it exists. Every process listens on 127.0.0.1 only and is stopped
 * (SIGTERM) after each run.
 */
public final class Startup {
  private static final long TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(120);

  private Startup() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> opt = new LinkedHashMap<>();
    for (String a : args) {
      int eq = a.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("arguments are key=value: " + a);
      }
      opt.put(a.substring(0, eq), a.substring(eq + 1));
    }
    int runs = Integer.parseInt(opt.getOrDefault("runs", "5"));
    String only = opt.getOrDefault("only", "");
    Path root = Path.of(opt.getOrDefault("root", ".")).toAbsolutePath().normalize();
    List<String> variants = new ArrayList<>();
    for (String v : List.of("node-launcher", "node-plain", "run-launcher", "run-plain")) {
      if (only.isEmpty() || v.startsWith(only)) {
        variants.add(v);
      }
    }
    Path dir = Files.createTempDirectory("halley-startup");
    System.err.println("load average " + Files.readString(Path.of("/proc/loadavg")).trim());
    for (String v : variants) {
      if (v.endsWith("-launcher")) {
        measure(v, root, dir); // writes the launcher's class-data archive if it is missing
      }
    }
    Map<String, List<double[]>> all = new LinkedHashMap<>();
    for (int i = 0; i < runs; i++) {
      for (String v : variants) {
        double[] r = measure(v, root, dir);
        all.computeIfAbsent(v, k -> new ArrayList<>()).add(r);
        System.out.printf(
            Locale.ROOT,
            "{\"variant\":\"%s\",\"run\":%d,\"wallMs\":%.0f,\"cpuMs\":%.0f,\"loadavg\":\"%s\"}%n",
            v,
            i + 1,
            r[0],
            r[1],
            Files.readString(Path.of("/proc/loadavg")).trim());
      }
    }
    System.out.println("| variant | runs | wall ms (median, min) | CPU ms (median, min) |");
    System.out.println("|---|---|---|---|");
    for (Map.Entry<String, List<double[]>> e : all.entrySet()) {
      double[] wall = e.getValue().stream().mapToDouble(r -> r[0]).sorted().toArray();
      double[] cpu = e.getValue().stream().mapToDouble(r -> r[1]).sorted().toArray();
      System.out.printf(
          Locale.ROOT,
          "| %s | %d | %.0f, %.0f | %.0f, %.0f |%n",
          e.getKey(),
          wall.length,
          wall[wall.length / 2],
          wall[0],
          cpu[cpu.length / 2],
          cpu[0]);
    }
  }

  /** One start: {wall ms, CPU ms} to ready; the process is stopped before returning. */
  private static double[] measure(String variant, Path root, Path dir) throws Exception {
    int pub = freePort();
    int internal = freePort();
    List<String> cmd = new ArrayList<>();
    List<String> ready = new ArrayList<>();
    String line = null;
    if (variant.startsWith("node")) {
      Path conf = nodeConfig(dir, pub, internal);
      if (variant.equals("node-launcher")) {
        cmd.addAll(List.of(root.resolve("halley").toString(), "node"));
      } else {
        cmd.addAll(List.of("java", "-jar", root.resolve("node/target/halley-node.jar").toString()));
      }
      cmd.addAll(List.of("--config", conf.toString()));
      ready.add("http://127.0.0.1:" + internal + "/readyz");
    } else {
      int chat = freePort();
      int[] p = {freePort(), freePort(), freePort()};
      int[] q = {freePort(), freePort(), freePort()};
      if (variant.equals("run-launcher")) {
        cmd.addAll(List.of(root.resolve("halley").toString(), "run"));
      } else {
        cmd.addAll(
            List.of(
                "java", "-jar", root.resolve("examples/chat/target/halley-chat.jar").toString()));
      }
      cmd.addAll(
          List.of(
              "--chat-port",
              Integer.toString(chat),
              "--public-ports",
              p[0] + "," + p[1] + "," + p[2],
              "--internal-ports",
              q[0] + "," + q[1] + "," + q[2]));
      ready.add("http://127.0.0.1:" + chat + "/");
      for (int port : q) {
        ready.add("http://127.0.0.1:" + port + "/readyz");
      }
      line = "ready;";
    }
    long t0 = System.nanoTime();
    Process proc =
        new ProcessBuilder(cmd)
            .directory(root.toFile())
            .redirectErrorStream(true)
            .redirectInput(ProcessBuilder.Redirect.PIPE)
            .start();
    AtomicBoolean sawLine = new AtomicBoolean(line == null);
    String wanted = line;
    StringBuilder out = new StringBuilder();
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader r =
                  new BufferedReader(
                      new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                  synchronized (out) {
                    out.append(l).append('\n');
                  }
                  if (wanted != null && l.startsWith(wanted)) {
                    sawLine.set(true);
                  }
                }
              } catch (IOException e) {
                // the process ended
              }
            });
    reader.setDaemon(true);
    reader.start();
    try {
      int next = 0;
      while (next < ready.size() || !sawLine.get()) {
        if (System.nanoTime() - t0 > TIMEOUT_NANOS || !proc.isAlive()) {
          synchronized (out) {
            throw new IllegalStateException(variant + " did not become ready: " + out);
          }
        }
        if (next < ready.size() && ok(ready.get(next))) {
          next++;
          continue;
        }
        Thread.sleep(5);
      }
      double wallMs = (System.nanoTime() - t0) / 1e6;
      return new double[] {wallMs, cpuMs(proc.pid())};
    } finally {
      proc.destroy();
      if (!proc.waitFor(60, TimeUnit.SECONDS)) {
        proc.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  private static Path nodeConfig(Path dir, int pub, int internal) throws IOException {
    Path d = Files.createDirectories(dir.resolve("node-" + pub));
    Files.writeString(
        d.resolve("map.json"),
        "{\"version\": 1, \"nodes\": [{\"id\": \"a\", \"publicUrl\": \"http://127.0.0.1:"
            + pub
            + "\", \"internalUrl\": \"http://127.0.0.1:"
            + internal
            + "\", \"weight\": 1}]}\n");
    Path conf = d.resolve("node.yaml");
    Files.writeString(
        conf,
        "nodeId: a\nmapFile: "
            + d.resolve("map.json")
            + "\npublicHost: 127.0.0.1\npublicPort: "
            + pub
            + "\ninternalHost: 127.0.0.1\ninternalPort: "
            + internal
            + "\napiKeys: [startup-api-key-0123456789]\n"
            + "tokenHmacSecret: startup-secret-0123456789-0123456789-abcdef\n");
    return conf;
  }

  private static boolean ok(String url) {
    try {
      HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
      c.setConnectTimeout(1000);
      c.setReadTimeout(2000);
      boolean ok = c.getResponseCode() == 200;
      c.disconnect();
      return ok;
    } catch (IOException e) {
      return false;
    }
  }

  /** User + system CPU of the process (the launcher execs java, so it is the JVM). */
  private static double cpuMs(long pid) throws IOException {
    String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10.0; // 100 ticks per second
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
