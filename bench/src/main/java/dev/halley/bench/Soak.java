package dev.halley.bench;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The soak (issue 11): one real node process under steady abuse for a bounded time, sampled every
 * interval for heap after a full GC, resident memory, open file descriptors and threads, which must
 * stay flat, and the node's queues from /metrics (connections, resume buffers, idempotency window,
 * publish requests waiting). Traffic, all to 127.0.0.1: connection churn on every transport
 * (WebSocket, SSE, long-poll, poll), publishes to users and to a channel, and a few stalled
 * WebSocket clients that never read (cut as slow consumers, then replaced).
 *
 * <pre>
 * bench/soak.sh                      # 30 minutes, a sample a minute
 * bench/soak.sh --minutes 5          # shortened
 * java -cp node/target/halley-node.jar:bench/target/classes dev.halley.bench.Soak \
 *     --jar node/target/halley-node.jar --minutes 5 --sample-seconds 60
 * </pre>
 *
 * <p>Prints one JSON line per sample and a summary; exits 1 if the last samples grew beyond the
 * first by more than the tolerance (heap 32 MiB, RSS 64 MiB, 64 fds, 16 threads), else 0. At most
 * 120 minutes.
 */
public final class Soak {
  static final String SECRET = "soak-secret-0123456789abcdef-0123456789";
  static final String API_KEY = "soak-api-key-0123456789";
  private static final Pattern PORTS = Pattern.compile("public port (\\d+), internal port (\\d+)");
  private static final int USERS = 500;
  private static final Pattern METRIC =
      Pattern.compile(
          "(halley_connections|halley_buffer_bytes|halley_buffer_entries|halley_idempotency_bytes"
              + "|halley_publish_queue)(?:\\{[^}]*\\})? ([0-9.eE+-]+)");

  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final AtomicLong connects = new AtomicLong();
  private final AtomicLong publishes = new AtomicLong();
  private final AtomicLong errors = new AtomicLong();
  private volatile boolean running = true;
  private int publicPort;
  private int internalPort;

  public static void main(String[] args) throws Exception {
    long minutes = 30;
    long sampleSeconds = 60;
    String jar = "node/target/halley-node.jar";
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--minutes" -> minutes = Long.parseLong(args[++i]);
        case "--sample-seconds" -> sampleSeconds = Long.parseLong(args[++i]);
        case "--jar" -> jar = args[++i];
        default -> {
          System.err.println("usage: Soak [--minutes N (1..120)] [--sample-seconds S] [--jar J]");
          System.exit(2);
        }
      }
    }
    if (minutes < 1 || minutes > 120 || sampleSeconds < 5) {
      System.err.println("--minutes must be 1..120 and --sample-seconds >= 5");
      System.exit(2);
    }
    System.exit(new Soak().run(Path.of(jar), minutes, sampleSeconds));
  }

  private int run(Path jar, long minutes, long sampleSeconds) throws Exception {
    Path dir = Files.createTempDirectory("halley-soak");
    Path config = dir.resolve("node.yaml");
    Files.writeString(
        config,
        String.join(
            "\n",
            "nodeId: soak",
            "map: {\"version\": 1, \"nodes\": [{\"id\": \"soak\", \"publicUrl\":"
                + " \"http://127.0.0.1:1\", \"internalUrl\": \"http://127.0.0.1:2\"}]}",
            "publicHost: 127.0.0.1",
            "publicPort: 0",
            "internalHost: 127.0.0.1",
            "internalPort: 0",
            "apiKeys: [" + API_KEY + "]",
            "tokenHmacSecret: " + SECRET,
            "heartbeatMs: 5000",
            "longPollTimeoutMs: 2000",
            "bufferMaxAgeMs: 60000",
            "newConnectionsPerSecondPerAddress: 100000",
            "newConnectionBurstPerAddress: 100000",
            "maxConnectionsPerUser: 1000",
            "presenceOfflineDelayMs: 0",
            ""));
    Path log = dir.resolve("node.log");
    Process node =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                "-jar",
                jar.toString(),
                "--config",
                config.toString())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    try {
      waitForPorts(node, log);
      System.out.printf(
          "{\"event\":\"start\",\"pid\":%d,\"minutes\":%d,\"publicPort\":%d,\"internalPort\":%d}%n",
          node.pid(), minutes, publicPort, internalPort);
      List<Thread> load = new ArrayList<>();
      load.add(loop("ws-churn", this::wsChurn));
      load.add(loop("sse-churn", this::sseChurn));
      load.add(loop("longpoll-churn", () -> pollChurn("/v1/longpoll", "&timeoutMs=500")));
      load.add(loop("poll-churn", () -> pollChurn("/v1/poll", "")));
      load.add(loop("publish-users", this::publishUsers));
      load.add(loop("publish-channel", this::publishChannel));
      load.add(loop("stalled", this::stalled));
      List<long[]> samples = new ArrayList<>();
      long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(minutes);
      long next = System.nanoTime();
      while (System.nanoTime() < end && node.isAlive()) {
        Thread.sleep(Math.max(0, TimeUnit.NANOSECONDS.toMillis(next - System.nanoTime())));
        long[] s = sample(node.pid());
        samples.add(s);
        Map<String, Long> q = queues();
        System.out.printf(
            "{\"event\":\"sample\",\"minute\":%.1f,\"heapAfterGcKb\":%d,\"rssKb\":%d,\"fds\":%d,"
                + "\"threads\":%d,\"connections\":%d,\"bufferBytes\":%d,\"bufferEntries\":%d,"
                + "\"idempotencyBytes\":%d,\"publishQueue\":%d,"
                + "\"connects\":%d,\"publishes\":%d,\"clientErrors\":%d}%n",
            (samples.size() - 1) * sampleSeconds / 60.0,
            s[0],
            s[1],
            s[2],
            s[3],
            q.getOrDefault("halley_connections", -1L),
            q.getOrDefault("halley_buffer_bytes", -1L),
            q.getOrDefault("halley_buffer_entries", -1L),
            q.getOrDefault("halley_idempotency_bytes", -1L),
            q.getOrDefault("halley_publish_queue", -1L),
            connects.get(),
            publishes.get(),
            errors.get());
        next += TimeUnit.SECONDS.toNanos(sampleSeconds);
      }
      running = false;
      for (Thread t : load) {
        t.join(10_000);
      }
      if (!node.isAlive()) {
        System.out.println("{\"event\":\"node_died\"}");
        System.out.println(Files.readString(log));
        return 1;
      }
      return verdict(samples);
    } finally {
      running = false;
      node.destroy();
      node.waitFor(30, TimeUnit.SECONDS);
      node.destroyForcibly();
    }
  }

  /** Flat: the mean of the last third of samples is within tolerance of the first samples'. */
  private static int verdict(List<long[]> samples) {
    if (samples.size() < 3) {
      System.out.println("{\"event\":\"summary\",\"verdict\":\"too_short\"}");
      return 0;
    }
    // The first sample is taken under load before warm-up settles: compare from the second.
    long[] base = samples.get(1);
    int from = Math.max(2, samples.size() * 2 / 3);
    long[] tail = new long[4];
    for (int i = from; i < samples.size(); i++) {
      for (int k = 0; k < 4; k++) {
        tail[k] += samples.get(i)[k];
      }
    }
    int n = samples.size() - from;
    long heapGrowth = tail[0] / n - base[0];
    long rssGrowth = tail[1] / n - base[1];
    long fdGrowth = tail[2] / n - base[2];
    long threadGrowth = tail[3] / n - base[3];
    boolean flat = heapGrowth < 32_768 && rssGrowth < 65_536 && fdGrowth < 64 && threadGrowth < 16;
    System.out.printf(
        "{\"event\":\"summary\",\"samples\":%d,\"heapGrowthKb\":%d,\"rssGrowthKb\":%d,"
            + "\"fdGrowth\":%d,\"threadGrowth\":%d,\"verdict\":\"%s\"}%n",
        samples.size(), heapGrowth, rssGrowth, fdGrowth, threadGrowth, flat ? "flat" : "growing");
    return flat ? 0 : 1;
  }

  /**
   * The node's queues from its /metrics: open browser connections, resume buffer bytes and entries,
   * idempotency bytes, publish requests waiting for a publish thread (summed over tags).
   */
  private Map<String, Long> queues() {
    Map<String, Long> out = new HashMap<>();
    try {
      String text =
          http.send(
                  HttpRequest.newBuilder(
                          URI.create("http://127.0.0.1:" + internalPort + "/metrics"))
                      .timeout(Duration.ofSeconds(10))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      for (String line : text.split("\n")) {
        Matcher m = METRIC.matcher(line);
        if (m.matches()) {
          out.merge(m.group(1), (long) Double.parseDouble(m.group(2)), Long::sum);
        }
      }
    } catch (Exception e) {
      errors.incrementAndGet();
    }
    return out;
  }

  /** Heap used after a full GC (jcmd), RSS (kB), open fds and threads, from the outside. */
  static long[] sample(long pid) throws Exception {
    jcmd(pid, "GC.run");
    String info = jcmd(pid, "GC.heap_info");
    Matcher m = Pattern.compile("used (\\d+)K").matcher(info);
    long heap = m.find() ? Long.parseLong(m.group(1)) : -1;
    long rss = -1;
    long threads = -1;
    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
      if (line.startsWith("VmRSS:")) {
        rss = Long.parseLong(line.replaceAll("[^0-9]", ""));
      } else if (line.startsWith("Threads:")) {
        threads = Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    long fds;
    try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
      fds = s.count();
    }
    return new long[] {heap, rss, fds, threads};
  }

  private static String jcmd(long pid, String command) throws Exception {
    Process p =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                Long.toString(pid),
                command)
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(60, TimeUnit.SECONDS);
    return out;
  }

  private void waitForPorts(Process node, Path log) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      Matcher m = PORTS.matcher(Files.readString(log));
      if (m.find()) {
        publicPort = Integer.parseInt(m.group(1));
        internalPort = Integer.parseInt(m.group(2));
        return;
      }
      if (!node.isAlive()) {
        throw new IllegalStateException("node exited: " + Files.readString(log));
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("node did not start: " + Files.readString(log));
  }

  // ---- load ----

  private interface Step {
    void run() throws Exception;
  }

  private Thread loop(String name, Step step) {
    Thread t =
        new Thread(
            () -> {
              while (running) {
                try {
                  step.run();
                } catch (Exception e) {
                  errors.incrementAndGet();
                  pause(100);
                }
              }
            },
            "soak-" + name);
    t.setDaemon(true);
    t.start();
    return t;
  }

  private static void pause(long ms) {
    try {
      Thread.sleep(ms); // pacing of a load generator, not a test wait
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static String user() {
    return "user-" + ThreadLocalRandom.current().nextInt(USERS);
  }

  static String token(String user) {
    try {
      SignedJWT jwt =
          new SignedJWT(
              new JWSHeader(JWSAlgorithm.HS256),
              new JWTClaimsSet.Builder()
                  .subject(user)
                  .expirationTime(Date.from(Instant.now().plusSeconds(3600)))
                  .claim("channels", List.of("soak-room"))
                  .build());
      jwt.sign(new MACSigner(SECRET.getBytes(StandardCharsets.UTF_8)));
      return URLEncoder.encode(jwt.serialize(), StandardCharsets.UTF_8);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private void wsChurn() throws Exception {
    CompletableFuture<Void> hello = new CompletableFuture<>();
    WebSocket ws =
        http.newWebSocketBuilder()
            .buildAsync(
                URI.create("ws://127.0.0.1:" + publicPort + "/v1/ws?token=" + token(user())),
                new WebSocket.Listener() {
                  @Override
                  public java.util.concurrent.CompletionStage<?> onText(
                      WebSocket w, CharSequence data, boolean last) {
                    hello.complete(null);
                    w.request(1);
                    return null;
                  }
                })
            .get(10, TimeUnit.SECONDS);
    hello.get(10, TimeUnit.SECONDS);
    pause(ThreadLocalRandom.current().nextInt(50, 300));
    ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(10, TimeUnit.SECONDS);
    ws.abort();
    connects.incrementAndGet();
    pause(20);
  }

  private void sseChurn() throws Exception {
    HttpResponse<InputStream> r =
        http.send(
            HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + publicPort + "/v1/sse?token=" + token(user())))
                .timeout(Duration.ofSeconds(10))
                .build(),
            HttpResponse.BodyHandlers.ofInputStream());
    try (InputStream in = r.body()) {
      in.readNBytes(64); // retry: and the hello event
    }
    connects.incrementAndGet();
    pause(20);
  }

  private void pollChurn(String path, String extra) throws Exception {
    http.send(
        HttpRequest.newBuilder(
                URI.create(
                    "http://127.0.0.1:" + publicPort + path + "?token=" + token(user()) + extra))
            .timeout(Duration.ofSeconds(10))
            .build(),
        HttpResponse.BodyHandlers.discarding());
    connects.incrementAndGet();
    pause(20);
  }

  private void publish(String message) throws Exception {
    HttpResponse<Void> r =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + internalPort + "/v1/publish"))
                .header("Authorization", "Bearer " + API_KEY)
                .timeout(Duration.ofSeconds(10))
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\": [" + message + "]}"))
                .build(),
            HttpResponse.BodyHandlers.discarding());
    if (r.statusCode() != 200) {
      errors.incrementAndGet();
    }
    publishes.incrementAndGet();
  }

  private void publishUsers() throws Exception {
    String pad = "x".repeat(ThreadLocalRandom.current().nextInt(10, 2_000));
    publish(
        "{\"users\": [\""
            + user()
            + "\", \""
            + user()
            + "\"], \"data\": {\"pad\": \""
            + pad
            + "\"}}");
    pause(10);
  }

  private void publishChannel() throws Exception {
    publish("{\"channel\": \"soak-room\", \"data\": {\"t\": " + System.nanoTime() + "}}");
    pause(50);
  }

  /** Five WebSocket clients that never read: cut as slow consumers, replaced every 20 s. */
  private void stalled() throws Exception {
    List<Socket> sockets = new ArrayList<>();
    try {
      for (int i = 0; i < 5; i++) {
        Socket s = new Socket();
        s.setReceiveBufferSize(4096);
        s.connect(new InetSocketAddress("127.0.0.1", publicPort), 5_000);
        String req =
            "GET /v1/ws?token="
                + token("stalled-" + i)
                + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        s.getOutputStream().write(req.getBytes(StandardCharsets.US_ASCII));
        sockets.add(s);
      }
      for (int i = 0; i < 200 && running; i++) {
        publish(
            "{\"users\": [\"stalled-0\", \"stalled-1\", \"stalled-2\", \"stalled-3\","
                + " \"stalled-4\"], \"data\": \""
                + "s".repeat(4_000)
                + "\"}");
        pause(100);
      }
    } finally {
      for (Socket s : sockets) {
        try {
          s.close();
        } catch (IOException ignored) {
          // closing a cut socket
        }
      }
    }
  }
}
