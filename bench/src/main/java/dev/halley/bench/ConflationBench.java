package dev.halley.bench;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.HalleyNode;
import dev.halley.node.config.NodeConfig;
import dev.halley.node.config.OperationsConfig;
import dev.halley.router.TokenMinter;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Conflation under load: {@code keys} keys each updated {@code rate} times a second on one channel
 * that {@code clients} WebSocket clients receive; a {@code slowFraction} of them never read (a 4
 * KiB receive buffer, nothing read after the upgrade). Runs once with and once without {@code
 * conflationKey} and prints, per run: the node's CPU time (its threads only), the heap in use after
 * a GC, the slow clients the node cut (close 4008, from /metrics) and the bytes the fast clients
 * read. The node runs in this JVM on 127.0.0.1, port 0; clients are non-blocking sockets on one
 * selector thread.
 *
 * <p>Usage: {@code ConflationBench [keys=1000] [rate=20] [clients=5000] [slowFraction=0.1]
 * [seconds=30] [payloadBytes=64] [intervalMs=0] [deadline=false]}. The publisher sends one request
 * per 50 ms tick and waits for it (a publish fans out before it answers), so on a machine that
 * cannot keep up the run takes longer than {@code seconds} and prints how long it took; with {@code
 * deadline=true} it stops at {@code seconds} of wall time instead and prints the rate it reached
 * (for the full scale, which no small machine sustains). With {@code intervalMs > 0} a third run
 * adds the frequency limit: the clients connect with {@code conflationIntervalMs=intervalMs}. The
 * defaults are issue 16's shape (docs/benchmarks.md gives the figures with the exact arguments).
 */
public final class ConflationBench {
  private static final String API_KEY = "bench-api-key-0123456789";
  private static final String SECRET = "bench-secret-0123456789-0123456789-abcdef";
  private static final String CHANNEL = "prices:all";

  private ConflationBench() {}

  public static void main(String[] args) throws Exception {
    int keys = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    int rate = args.length > 1 ? Integer.parseInt(args[1]) : 20;
    int clients = args.length > 2 ? Integer.parseInt(args[2]) : 5000;
    double slowFraction = args.length > 3 ? Double.parseDouble(args[3]) : 0.1;
    int seconds = args.length > 4 ? Integer.parseInt(args[4]) : 30;
    int payload = args.length > 5 ? Integer.parseInt(args[5]) : 64;
    long intervalMs = args.length > 6 ? Long.parseLong(args[6]) : 0;
    boolean deadline = args.length > 7 && Boolean.parseBoolean(args[7]);
    System.out.printf(
        "keys=%d rate=%d/s clients=%d slow=%.0f%% seconds=%d payload=%d B (%d messages/s, %d"
            + " deliveries/s)%n",
        keys,
        rate,
        clients,
        slowFraction * 100,
        seconds,
        payload,
        keys * rate,
        (long) keys * rate * clients);
    run(keys, rate, clients, slowFraction, seconds, payload, false, 0, deadline);
    run(keys, rate, clients, slowFraction, seconds, payload, true, 0, deadline);
    if (intervalMs > 0) {
      run(keys, rate, clients, slowFraction, seconds, payload, true, intervalMs, deadline);
    }
  }

  private static void run(
      int keys,
      int rate,
      int clients,
      double slowFraction,
      int seconds,
      int payload,
      boolean conflate,
      long intervalMs,
      boolean deadline)
      throws Exception {
    URI placeholder = URI.create("http://127.0.0.1:1");
    HalleyNode node =
        HalleyNode.start(
            NodeConfig.builder()
                .nodeId("a")
                .map(ClusterMap.of(1, List.of(new NodeInfo("a", placeholder, placeholder))))
                .publicHost("127.0.0.1")
                .publicPort(0)
                .internalHost("127.0.0.1")
                .internalPort(0)
                .apiKeys(List.of(API_KEY))
                .tokenHmacSecret(SECRET)
                .ioThreads(2)
                .operations(
                    OperationsConfig.builder()
                        .newConnectionsPerSecondPerAddress(1_000_000)
                        .newConnectionBurstPerAddress(1_000_000)
                        .maxConnections(clients + 100)
                        .build())
                .build());
    HttpClient http = HttpClient.newHttpClient();
    Selector selector = Selector.open();
    List<SocketChannel> sockets = new ArrayList<>();
    long[] fastBytes = {0};
    try {
      node.updateMap(
          ClusterMap.of(
              2,
              List.of(
                  new NodeInfo(
                      "a",
                      URI.create("http://127.0.0.1:" + node.publicPort()),
                      URI.create("http://127.0.0.1:" + node.internalPort())))));
      int slow = (int) Math.round(clients * slowFraction);
      for (int i = 0; i < clients; i++) {
        sockets.add(open(node.publicPort(), "user-" + i, i < slow, selector, intervalMs));
      }
      Thread reader =
          new Thread(
              () -> {
                ByteBuffer buf = ByteBuffer.allocateDirect(64 * 1024);
                while (!Thread.currentThread().isInterrupted()) {
                  try {
                    selector.select(100);
                    for (Iterator<SelectionKey> it = selector.selectedKeys().iterator();
                        it.hasNext(); ) {
                      SelectionKey k = it.next();
                      it.remove();
                      buf.clear();
                      int n = ((SocketChannel) k.channel()).read(buf);
                      if (n < 0) {
                        k.cancel();
                      } else {
                        fastBytes[0] += n;
                      }
                    }
                  } catch (java.io.IOException | java.nio.channels.ClosedSelectorException e) {
                    return;
                  }
                }
              },
              "bench-clients");
      reader.setDaemon(true);
      reader.start();

      ThreadMXBean threads = ManagementFactory.getThreadMXBean();
      long cpuBefore = nodeCpuNanos(threads);
      long start = System.nanoTime();
      long ticks = seconds * 20L;
      int perTick = Math.max(1, keys * rate / 20);
      String pad = "x".repeat(payload);
      long seq = 0;
      long stopAt = start + seconds * 1_000_000_000L;
      for (long t = 0; t < ticks && (!deadline || System.nanoTime() < stopAt); t++) {
        StringBuilder body = new StringBuilder("{\"messages\":[");
        for (int i = 0; i < perTick; i++) {
          int key = (int) (seq % keys);
          if (i > 0) {
            body.append(',');
          }
          body.append("{\"channel\":\"")
              .append(CHANNEL)
              .append("\",\"data\":{\"k\":")
              .append(key)
              .append(",\"v\":")
              .append(seq++)
              .append(",\"p\":\"")
              .append(pad)
              .append("\"}");
          if (conflate) {
            body.append(",\"conflationKey\":\"k").append(key).append('"');
          }
          body.append('}');
        }
        body.append("]}");
        http.send(
            HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + node.internalPort() + "/v1/publish"))
                .header("Authorization", "Bearer " + API_KEY)
                .POST(HttpRequest.BodyPublishers.ofString(body.toString()))
                .build(),
            HttpResponse.BodyHandlers.discarding());
        long due = start + (t + 1) * 50_000_000L;
        long wait = due - System.nanoTime();
        if (wait > 0) {
          Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
        }
      }
      double elapsed = (System.nanoTime() - start) / 1e9;
      long cpu = nodeCpuNanos(threads) - cpuBefore;
      long rss = rssKib();
      System.gc();
      long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
      String metrics =
          http.send(
                  HttpRequest.newBuilder(
                          URI.create("http://127.0.0.1:" + node.internalPort() + "/metrics"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      System.out.printf(
          "conflation=%-5s intervalMs=%d published=%d in %.1f s (%.0f/s of %d/s)  node CPU %.1f s"
              + " (%.0f%% of one core)  RSS %d MiB  heap after GC %d MiB  slow clients cut (4008)"
              + " %s  conflated %s  fast clients read %d MiB%n",
          conflate,
          intervalMs,
          seq,
          elapsed,
          seq / elapsed,
          keys * rate,
          cpu / 1e9,
          100 * cpu / 1e9 / elapsed,
          rss >> 10,
          heap >> 20,
          slowCuts(metrics),
          sum(metrics, "halley_messages_conflated_total"),
          fastBytes[0] >> 20);
      reader.interrupt();
    } finally {
      for (SocketChannel s : sockets) {
        s.close();
      }
      selector.close();
      node.close();
    }
  }

  /** CPU time of the node's threads (named {@code halley-...}, XNIO's {@code halley-a I/O-n}). */
  private static long nodeCpuNanos(ThreadMXBean threads) {
    long total = 0;
    for (ThreadInfo info : threads.getThreadInfo(threads.getAllThreadIds())) {
      if (info != null && info.getThreadName().startsWith("halley-")) {
        long t = threads.getThreadCpuTime(info.getThreadId());
        if (t > 0) {
          total += t;
        }
      }
    }
    return total;
  }

  private static String slowCuts(String metrics) {
    return sum(metrics, "halley_slow_consumer_disconnects");
  }

  /** The sum of every sample of the series {@code prefix} (all tags). */
  private static String sum(String metrics, String prefix) {
    double sum = 0;
    for (String line : metrics.split("\n")) {
      if (line.startsWith(prefix)) {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return String.format("%.0f", sum);
  }

  /** This process's resident set (node and clients), KiB, from /proc; -1 elsewhere. */
  private static long rssKib() {
    try {
      for (String line :
          java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (java.io.IOException | RuntimeException e) {
      // not Linux
    }
    return -1;
  }

  private static SocketChannel open(
      int port, String user, boolean slow, Selector selector, long intervalMs) throws Exception {
    SocketChannel ch = SocketChannel.open();
    if (slow) {
      ch.setOption(StandardSocketOptions.SO_RCVBUF, 4096);
    }
    ch.connect(new InetSocketAddress("127.0.0.1", port));
    String req =
        "GET /v1/ws?token="
            + token(user)
            + (intervalMs > 0 ? "&conflationIntervalMs=" + intervalMs : "")
            + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    ch.write(ByteBuffer.wrap(req.getBytes(StandardCharsets.US_ASCII)));
    // Read the 101 head (and the hello frame that may follow it) before going on.
    ByteBuffer head = ByteBuffer.allocate(1024);
    while (!new String(head.array(), 0, head.position(), StandardCharsets.US_ASCII)
        .contains("\r\n\r\n")) {
      if (ch.read(head) < 0) {
        throw new IllegalStateException("connection closed during the upgrade of " + user);
      }
    }
    if (!new String(head.array(), 0, 12, StandardCharsets.US_ASCII).contains("101")) {
      throw new IllegalStateException("upgrade refused for " + user);
    }
    ch.configureBlocking(false);
    if (!slow) {
      ch.register(selector, SelectionKey.OP_READ);
      selector.wakeup();
    }
    return ch;
  }

  private static final TokenMinter MINTER = TokenMinter.hs256(SECRET);

  private static String token(String user) {
    return MINTER.mint(user, Duration.ofHours(1), Set.of(CHANNEL));
  }
}
