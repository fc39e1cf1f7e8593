package dev.halley.bench.load;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * Runs the benchmark matrix: every row of issue 12 against Halley and nchan side by side (and
 * CometD and Pushpin on the rows whose transport they have: {@link #supports}), a sweep of offered
 * load (latency vs load) and one of connection count (CPU per delivery vs connections). Each run
 * gets a fresh server process pinned to CPU {@code serverCpu}, generator processes pinned to {@code
 * generatorCpu}; results go to {@code <out>/bench/results.jsonl}, plots to {@code
 * <out>/bench/*.png} and the report to {@code <out>/benchmarks.md}.
 *
 * <pre>
 * bench/matrix.sh                       # the full matrix (about 30 minutes)
 * bench/matrix.sh quick=true            # a tenth of the users and load, short phases: checks the tools
 * bench/matrix.sh only=ws-50k,sse-50k   # some rows
 * </pre>
 *
 * <p>Options ({@code key=value}): {@code quick}, {@code only}, {@code targets} (default
 * halley,nchan; also cometd, pushpin; a peer that is not installed is skipped with a message),
 * {@code warmup} (s, default 10), {@code measure} (s, default 30), {@code generators} (processes
 * per run, default 1), {@code serverCpu} (0), {@code generatorCpu} (1), {@code halleyJar}, {@code
 * halleyJvm} (default {@code -Xms512m -Xmx2g}), {@code cometdJvm} (default: halleyJvm), {@code
 * cometdBuild} (default /tmp/peers/cometd/build, where the peer's start.sh builds it; built there
 * if missing), {@code peers} (the shared/peers folder), {@code nchanConf}, {@code out} (docs),
 * {@code note} (a sentence for the report, e.g. how quiet the machine was), {@code scale} (users
 * and offered load of every row times this; quick: 0.1), {@code userScale} and {@code rateScale}
 * (each apart), {@code halleyEnv} (environment of the node, e.g. {@code MALLOC_ARENA_MAX=2}). Each
 * JVM server's GC pauses in the measured window are read from its GC log ({@link GcLog}) into the
 * result line.
 */
public final class Matrix {
  /** One measured configuration of the matrix. */
  record Row(
      String id,
      String group,
      String label,
      String shape,
      String transport,
      int users,
      double rate) {}

  static final List<Row> ROWS =
      List.of(
          new Row("ws-50k", "main", "50k deliveries/s, WebSocket", "rooms", "ws", 15_000, 50_000),
          new Row("sse-50k", "main", "50k/s, SSE", "rooms", "sse", 15_000, 50_000),
          new Row("ws-100k", "main", "100k/s offered, WS", "rooms", "ws", 15_000, 100_000),
          new Row("sse-100k", "main", "100k/s offered, SSE", "rooms", "sse", 15_000, 100_000),
          new Row(
              "lp-20k",
              "main",
              "long-poll, 5,000 users, 20k/s",
              "rooms",
              "longpoll",
              5_000,
              20_000),
          new Row("lp-50k", "main", "long-poll, 50k/s", "rooms", "longpoll", 15_000, 50_000),
          new Row(
              "unicast-10k",
              "main",
              "unicast (one message per user), 10k msg/s, WS",
              "unicast",
              "ws",
              15_000,
              10_000),
          new Row("ws-10k", "load", "WS 10k/s", "rooms", "ws", 15_000, 10_000),
          new Row("ws-25k", "load", "WS 25k/s", "rooms", "ws", 15_000, 25_000),
          new Row("sse-10k", "load", "SSE 10k/s", "rooms", "sse", 15_000, 10_000),
          new Row("sse-25k", "load", "SSE 25k/s", "rooms", "sse", 15_000, 25_000),
          new Row("lp-10k", "load", "long-poll 10k/s", "rooms", "longpoll", 15_000, 10_000),
          new Row("conns-1k", "conns", "WS 20k/s, 1,000 users", "rooms", "ws", 1_000, 20_000),
          new Row("conns-5k", "conns", "WS 20k/s, 5,000 users", "rooms", "ws", 5_000, 20_000),
          new Row("conns-10k", "conns", "WS 20k/s, 10,000 users", "rooms", "ws", 10_000, 20_000),
          new Row("conns-19k", "conns", "WS 20k/s, 19,000 users", "rooms", "ws", 19_000, 20_000));

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The server of the run in progress: stopped by a shutdown hook if the matrix is killed. */
  private static volatile Servers.Server current;

  private Matrix() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> opt = new TreeMap<>();
    for (String a : args) {
      int eq = a.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("arguments are key=value: " + a);
      }
      opt.put(a.substring(0, eq), a.substring(eq + 1));
    }
    boolean quick = Boolean.parseBoolean(opt.getOrDefault("quick", "false"));
    String scale = opt.getOrDefault("scale", quick ? "0.1" : "1");
    double userScale = Double.parseDouble(opt.getOrDefault("userScale", scale));
    double rateScale = Double.parseDouble(opt.getOrDefault("rateScale", scale));
    List<String> only = opt.containsKey("only") ? List.of(opt.get("only").split(",")) : List.of();
    List<String> targets = List.of(opt.getOrDefault("targets", "halley,nchan").split(","));
    double warmup = Double.parseDouble(opt.getOrDefault("warmup", quick ? "1" : "10"));
    double measure = Double.parseDouble(opt.getOrDefault("measure", quick ? "3" : "30"));
    double drain = Double.parseDouble(opt.getOrDefault("drain", "10"));
    int generators = Integer.parseInt(opt.getOrDefault("generators", "1"));
    String serverCpu = opt.getOrDefault("serverCpu", "0");
    String generatorCpu = opt.getOrDefault("generatorCpu", "1");
    Path halleyJar =
        Path.of(opt.getOrDefault("halleyJar", "node/target/halley-node.jar")).toAbsolutePath();
    List<String> halleyJvm = words(opt.getOrDefault("halleyJvm", "-Xms512m -Xmx2g"));
    Path peers = opt.containsKey("peers") ? Path.of(opt.get("peers")) : peersDir();
    Path nchanConf =
        opt.containsKey("nchanConf")
            ? Path.of(opt.get("nchanConf"))
            : peers.resolve("nchan/nginx.conf");
    Map<String, String> halleyEnv = new TreeMap<>();
    for (String kv : opt.getOrDefault("halleyEnv", "").split(" ")) {
      if (kv.contains("=")) {
        halleyEnv.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
      }
    }
    List<String> cometdJvm = opt.containsKey("cometdJvm") ? words(opt.get("cometdJvm")) : halleyJvm;
    Path cometdBuild = Path.of(opt.getOrDefault("cometdBuild", "/tmp/peers/cometd/build"));
    List<String> available = new ArrayList<>();
    for (String t : targets) {
      String missing = missing(t, peers, cometdBuild, true);
      if (missing == null) {
        available.add(t);
      } else {
        System.err.println("skipping target " + t + ": " + missing);
      }
    }
    Path out = Path.of(opt.getOrDefault("out", "docs"));
    Path work = Files.createTempDirectory("halley-matrix");
    Path results = out.resolve("bench/results.jsonl");
    Files.createDirectories(results.getParent());

    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  Servers.Server s = current;
                  if (s != null) {
                    s.close();
                  }
                }));
    ObjectNode machine = Report.machine(halleyJvm);
    machine.put("command", "bench/matrix.sh " + String.join(" ", args));
    machine.put("quick", quick);
    machine.put("userScale", userScale);
    machine.put("rateScale", rateScale);
    machine.put("halleyEnv", halleyEnv.toString());
    machine.put("warmupSeconds", warmup);
    machine.put("measureSeconds", measure);
    machine.put("generators", generators);
    machine.put("drainSeconds", drain);
    machine.put("note", opt.getOrDefault("note", ""));
    machine.put("started", Instant.now().toString());
    List<ObjectNode> all = new ArrayList<>();
    for (Row row : ROWS) {
      if (!only.isEmpty() && !only.contains(row.id()) && !only.contains(row.group())) {
        continue;
      }
      for (String t : available) {
        if (!supports(t, row.transport())) {
          continue;
        }
        int users =
            row.shape().equals("rooms")
                ? Math.max(200, (int) (row.users() * userScale / 200) * 200)
                : Math.max(10, (int) (row.users() * userScale));
        double rate = row.rate() * rateScale;
        System.err.printf("== %s %s: %d users, %.0f/s offered%n", row.id(), t, users, rate);
        ObjectNode r;
        Path dir = work.resolve(row.id() + "-" + t);
        try (Servers.Server server =
            switch (t) {
              case "halley" ->
                  Servers.halley(halleyJar, serverCpu, halleyJvm, halleyEnv, dir, base(users));
              case "cometd" -> Servers.cometd(cometdBuild, serverCpu, cometdJvm, dir);
              case "pushpin" -> Servers.pushpin(peers.resolve("pushpin"), serverCpu, dir);
              default -> Servers.nchan(nchanConf, serverCpu, dir);
            }) {
          current = server;
          r = runOnce(row, server, users, rate, warmup, measure, drain, generators, generatorCpu);
          current = null;
        } catch (Exception e) {
          System.err.println("   failed: " + e);
          r = JSON.createObjectNode();
          r.put("target", t);
          r.put("error", e.toString());
        }
        r.put("row", row.id());
        r.put("group", row.group());
        r.put("label", row.label());
        r.put("rowUsers", users);
        if (t.equals("halley")) {
          r.put("jvm", String.join(" ", halleyJvm));
          r.put("env", halleyEnv.toString());
        }
        System.err.printf("   %s%n", summary(r));
        all.add(r);
      }
    }
    if (!only.isEmpty() && Files.exists(results)) {
      // A partial run replaces its own rows and keeps the others of the last full run.
      List<ObjectNode> merged = new ArrayList<>();
      for (ObjectNode old : Report.readResults(results)) {
        boolean rerun = false;
        for (ObjectNode r : all) {
          rerun |=
              r.path("row").equals(old.path("row")) && r.path("target").equals(old.path("target"));
        }
        if (!rerun) {
          merged.add(old);
        }
      }
      merged.addAll(all);
      all = merged;
    }
    List<String> lines = new ArrayList<>();
    lines.add(JSON.writeValueAsString(JSON.createObjectNode().set("machine", machine)));
    for (ObjectNode r : all) {
      ObjectNode copy = r.deepCopy();
      lines.add(JSON.writeValueAsString(copy));
    }
    Files.write(results, lines, StandardCharsets.UTF_8);
    Report.write(out, machine, all);
    System.err.println(
        "wrote "
            + results
            + ", "
            + out.resolve("benchmarks.md")
            + " and plots in "
            + out.resolve("bench"));
  }

  private static List<String> words(String s) {
    return s.isBlank() ? List.of() : List.of(s.trim().split("\\s+"));
  }

  /** {@code shared/peers} in the nearest parent folder that has one. */
  static Path peersDir() {
    for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
      Path p = d.resolve("shared/peers");
      if (Files.isDirectory(p)) {
        return p;
      }
    }
    return Path.of("../shared/peers");
  }

  /** Whether a target has the transport: CometD speaks Bayeux over WebSocket and long-poll only. */
  static boolean supports(String target, String transport) {
    return !(target.equals("cometd") && transport.equals("sse"));
  }

  /**
   * Why a target cannot run here, or null. With {@code build}, CometD is built (Maven) when its jar
   * is missing.
   */
  static String missing(String target, Path peers, Path cometdBuild, boolean build)
      throws Exception {
    switch (target) {
      case "halley" -> {
        return null;
      }
      case "nchan" -> {
        return Files.exists(Path.of("/usr/lib/nginx/modules/ngx_nchan_module.so"))
            ? null
            : "nginx + libnginx-mod-nchan are not installed (shared/peers/install.sh)";
      }
      case "pushpin" -> {
        return onPath("pushpin") && Files.exists(peers.resolve("pushpin/origin.py"))
            ? null
            : "pushpin is not installed (shared/peers/install.sh) or " + peers + " has no pushpin/";
      }
      case "cometd" -> {
        if (Files.exists(cometdBuild.resolve("target/cometd-peer-1.0.jar"))) {
          return null;
        }
        Path src = peers.resolve("cometd");
        if (!build || !Files.exists(src.resolve("pom.xml")) || !onPath("mvn")) {
          return "no CometD build in " + cometdBuild + " and no " + src + " + mvn to build it";
        }
        System.err.println("building the CometD peer in " + cometdBuild + " ...");
        Files.createDirectories(cometdBuild);
        Process p =
            new ProcessBuilder(
                    "sh",
                    "-c",
                    "cp -r \"$0/pom.xml\" \"$0/src\" \"$1/\" && cd \"$1\" && mvn -q -B package",
                    src.toString(),
                    cometdBuild.toString())
                .inheritIO()
                .start();
        return p.waitFor() == 0 ? null : "the CometD peer did not build (mvn package failed)";
      }
      default -> throw new IllegalArgumentException("target: " + target);
    }
  }

  private static boolean onPath(String command) {
    for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
      if (Files.isExecutable(Path.of(d, command))) {
        return true;
      }
    }
    return false;
  }

  private static LoadOptions base(int users) {
    LoadOptions o = new LoadOptions();
    o.users = users;
    return o;
  }

  /** Runs {@code generators} generator processes against a fresh server and merges their lines. */
  static ObjectNode runOnce(
      Row row,
      Servers.Server server,
      int users,
      double rate,
      double warmup,
      double measure,
      double drain,
      int generators,
      String cpu)
      throws Exception {
    Thread.sleep(1000); // let the server settle after start
    ProcStat before = ProcStat.sample(ProcStat.withChildren(server.pids()));
    String cp = System.getProperty("java.class.path");
    // One generator publishes once all its users are connected; several start together at a time
    // that leaves room to connect (10 ms per user: this machine accepts ~500 WebSockets/s when
    // busy).
    long connectBudgetMs = 10_000 + users * 10L;
    long publishAt = generators > 1 ? System.currentTimeMillis() + connectBudgetMs : 0;
    List<Process> procs = new ArrayList<>();
    for (int i = 0; i < generators; i++) {
      List<String> cmd =
          new ArrayList<>(
              List.of(
                  "taskset",
                  "-c",
                  cpu,
                  "java",
                  "-Xms1g",
                  "-Xmx1g",
                  "-cp",
                  cp,
                  LoadGen.class.getName()));
      cmd.addAll(
          List.of(
              "target=" + server.name(),
              "transport=" + row.transport(),
              "shape=" + row.shape(),
              "users=" + users,
              "rate=" + rate,
              "port=" + server.subscribePort(),
              "publishPort=" + server.publishPort(),
              "warmup=" + warmup,
              "measure=" + measure,
              "drain=" + drain,
              "slice=" + i,
              "slices=" + generators,
              "publishAtMs=" + publishAt,
              "connectTimeout=" + (connectBudgetMs / 1000.0 + 60),
              "serverPids=" + server.pids()));
      Process gen = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      procs.add(gen);
      Runtime.getRuntime().addShutdownHook(new Thread(gen::destroy));
    }
    List<ObjectNode> parts = new ArrayList<>();
    for (Process p : procs) {
      String line = null;
      try (BufferedReader r =
          new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        for (String l; (l = r.readLine()) != null; ) {
          if (l.startsWith("{")) {
            line = l;
          }
        }
      }
      if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0 || line == null) {
        throw new IllegalStateException("generator failed (exit " + p.exitValue() + ")");
      }
      parts.add((ObjectNode) JSON.readTree(line));
    }
    ObjectNode m = merge(parts);
    m.put("serverRssBeforeKb", before.rssKb());
    if (server.gcLog() != null) {
      GcLog.addPauses(
          server.gcLog(),
          m.path("measureStartNanos").asLong(),
          m.path("measureEndNanos").asLong(),
          m);
    }
    derive(m);
    return m;
  }

  private static final List<String> SUMS =
      List.of(
          "subscribers",
          "connected",
          "connectFailures",
          "disconnects",
          "messagesCreated",
          "publishRequests",
          "publishErrors",
          "publishSkipped",
          "pollErrors",
          "expected",
          "received",
          "lost",
          "duplicates",
          "misrouted",
          "resets",
          "lostWithoutReset",
          "deliveredInWindow",
          "deliveriesPerSecond",
          "latencySamples",
          "generatorCpuPercent",
          "generatorRssKb");

  /** Sums the counts of several slices' lines and merges their latency histograms. */
  static ObjectNode merge(List<ObjectNode> parts) {
    ObjectNode m = parts.get(0).deepCopy();
    Histogram h = decode(parts.get(0).get("histogram").asText());
    for (int i = 1; i < parts.size(); i++) {
      ObjectNode p = parts.get(i);
      for (String f : SUMS) {
        m.put(f, m.get(f).asDouble() + p.get(f).asDouble());
      }
      m.put(
          "maxPublishQueue",
          Math.max(m.get("maxPublishQueue").asInt(), p.get("maxPublishQueue").asInt()));
      m.put(
          "connectSeconds",
          Math.max(m.get("connectSeconds").asDouble(), p.get("connectSeconds").asDouble()));
      h.add(decode(p.get("histogram").asText()));
    }
    m.remove("slice");
    m.put("p50Ms", h.getValueAtPercentile(50) / 1000.0);
    m.put("p90Ms", h.getValueAtPercentile(90) / 1000.0);
    m.put("p99Ms", h.getValueAtPercentile(99) / 1000.0);
    m.put("p999Ms", h.getValueAtPercentile(99.9) / 1000.0);
    m.put("maxMs", h.getMaxValue() / 1000.0);
    ByteBuffer b = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
    int n = h.encodeIntoCompressedByteBuffer(b);
    m.put("histogram", Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(b.array(), n)));
    return m;
  }

  static Histogram decode(String base64) {
    try {
      return Histogram.decodeFromCompressedByteBuffer(
          ByteBuffer.wrap(Base64.getDecoder().decode(base64)), 0);
    } catch (java.util.zip.DataFormatException e) {
      throw new IllegalArgumentException("not an HdrHistogram", e);
    }
  }

  /** CPU per delivery (user, system, total, microseconds) and RSS growth per connection. */
  static void derive(ObjectNode m) {
    double delivered = m.path("deliveredInWindow").asDouble();
    if (delivered > 0 && m.has("serverUtimeSeconds")) {
      double u = m.get("serverUtimeSeconds").asDouble() * 1e6 / delivered;
      double s = m.get("serverStimeSeconds").asDouble() * 1e6 / delivered;
      m.put("userUsPerDelivery", Math.round(u * 100) / 100.0);
      m.put("sysUsPerDelivery", Math.round(s * 100) / 100.0);
      m.put("cpuUsPerDelivery", Math.round((u + s) * 100) / 100.0);
    }
    double conns = m.path("connected").asDouble();
    if (conns > 0 && m.has("serverRssConnectedKb") && m.has("serverRssBeforeKb")) {
      double kb =
          (m.get("serverRssConnectedKb").asDouble() - m.get("serverRssBeforeKb").asDouble())
              / conns;
      m.put("rssKbPerConnection", Math.round(kb * 100) / 100.0);
    }
    double expected = m.path("expected").asDouble();
    m.put(
        "lossPercent",
        expected > 0 ? Math.round(m.path("lost").asDouble() * 1e5 / expected) / 1000.0 : 0);
  }

  static String summary(JsonNode r) {
    if (r.has("error")) {
      return "error: " + r.get("error").asText();
    }
    return String.format(
        "%.0f/s delivered, cpu %.2f µs (user %.2f, sys %.2f), server %.0f%%, generator %.0f%%, p50 %.1f p99 %.1f ms,"
            + " lost %d, dup %d, rss %.1f KB/conn, gc %s %d pauses p99 %.1f max %.1f ms"
            + " (GC threads %.1f ms CPU per pause)",
        r.path("deliveriesPerSecond").asDouble(),
        r.path("cpuUsPerDelivery").asDouble(),
        r.path("userUsPerDelivery").asDouble(),
        r.path("sysUsPerDelivery").asDouble(),
        r.path("serverCpuPercent").asDouble(),
        r.path("generatorCpuPercent").asDouble(),
        r.path("p50Ms").asDouble(),
        r.path("p99Ms").asDouble(),
        r.path("lost").asLong(),
        r.path("duplicates").asLong(),
        r.path("rssKbPerConnection").asDouble(),
        r.path("gc").asText("-"),
        r.path("gcPauses").asInt(),
        r.path("gcPauseP99Ms").asDouble(),
        r.path("gcPauseMaxMs").asDouble(),
        r.path("gcCpuMsPerPause").asDouble());
  }
}
