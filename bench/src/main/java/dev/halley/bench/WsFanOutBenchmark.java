package dev.halley.bench;

import dev.halley.cluster.ClusterMap;
import dev.halley.node.HalleyNode;
import dev.halley.node.config.NodeConfig;
import dev.halley.node.config.OperationsConfig;
import dev.halley.router.TokenMinter;
import java.io.IOException;
import java.net.InetSocketAddress;
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
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * End-to-end channel fan-out over real WebSocket connections on 127.0.0.1: a node with one IO
 * thread and {@code connections} subscribers of one channel; one operation publishes {@code
 * messages} channel messages through the internal API (batches of 20) and waits until one NIO
 * reader thread has counted every delivered text frame. The score is the time of one such round;
 * {@code connections * messages / score} is deliveries per second. Was node's hand-written {@code
 * WsFanOutBenchmark} main.
 *
 * <pre>
 * ./mvnw -q -pl bench -am package -DskipTests
 * java -jar bench/target/benchmarks.jar WsFanOut -p connections=2000 -p messages=200
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(1)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 5)
public class WsFanOutBenchmark {
  private static final String SECRET = "bench-secret-0123456789abcdef-0123456789";
  private static final String API_KEY = "bench-api-key-0123456789";
  private static final Duration ROUND_LIMIT = Duration.ofMinutes(5);

  @Param({"2000"})
  int connections;

  @Param({"200"})
  int messages;

  private HalleyNode node;
  private Selector selector;
  private final List<SocketChannel> channels = new ArrayList<>();
  private final FrameCounter counter = new FrameCounter();
  private final HttpClient http = HttpClient.newHttpClient();
  private List<String> bodies;

  @Setup(Level.Trial)
  public void start() throws Exception {
    node = startNode(API_KEY, SECRET);
    TokenMinter tokens = TokenMinter.hs256(SECRET);
    selector = Selector.open();
    for (int i = 0; i < connections; i++) {
      String token = tokens.mint("bench-" + i, Duration.ofHours(1), List.of("bench"));
      SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", node.publicPort()));
      String req =
          "GET /v1/ws?token="
              + token
              + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              + "Sec-WebSocket-Version: 13\r\n\r\n";
      ch.write(ByteBuffer.wrap(req.getBytes(StandardCharsets.US_ASCII)));
      readHandshake(ch);
      ch.configureBlocking(false);
      ch.register(selector, SelectionKey.OP_READ, new FrameCounter.State());
      channels.add(ch);
    }
    Thread reader = new Thread(() -> counter.run(selector), "bench-reader");
    reader.setDaemon(true);
    reader.start();
    awaitCount(connections); // the hellos
    bodies = new ArrayList<>();
    int batch = 20;
    for (int m = 0; m < messages; m += batch) {
      StringBuilder body = new StringBuilder("{\"messages\":[");
      for (int k = 0; k < batch && m + k < messages; k++) {
        body.append(k == 0 ? "" : ",")
            .append("{\"channel\":\"bench\",\"data\":{\"text\":\"message ")
            .append(m + k)
            .append(" of a chat room, about a hundred bytes long........\"}}");
      }
      bodies.add(body.append("]}").toString());
    }
  }

  @TearDown(Level.Trial)
  public void stop() throws IOException {
    for (SocketChannel ch : channels) {
      ch.close();
    }
    selector.close();
    node.close();
  }

  /** Publishes {@code messages} channel messages and returns once every subscriber has them. */
  @Benchmark
  public long roundToEverySubscriber() throws Exception {
    long target = counter.frames.get() + (long) connections * messages;
    URI publish = URI.create("http://127.0.0.1:" + node.internalPort() + "/v1/publish");
    for (String body : bodies) {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(publish)
                  .header("Authorization", "Bearer " + API_KEY)
                  .header("Content-Type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(body))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        throw new IllegalStateException("publish: " + r.statusCode() + " " + r.body());
      }
    }
    awaitCount(target);
    return target;
  }

  private void awaitCount(long target) {
    long deadline = System.nanoTime() + ROUND_LIMIT.toNanos();
    while (counter.frames.get() < target) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(
            "only " + counter.frames.get() + " of " + target + " frames in " + ROUND_LIMIT);
      }
      LockSupport.parkNanos(100_000);
    }
  }

  private static void readHandshake(SocketChannel ch) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(1);
    int state = 0; // counts the \r\n\r\n at the end of the response head
    while (state < 4) {
      b.clear();
      if (ch.read(b) < 0) {
        throw new IOException("closed during handshake");
      }
      byte c = b.get(0);
      state = (c == '\r' && state % 2 == 0) || (c == '\n' && state % 2 == 1) ? state + 1 : 0;
    }
  }

  /** Counts server-to-client WebSocket frames (unmasked) across reads. */
  static final class FrameCounter {
    final AtomicLong frames = new AtomicLong();

    /** Per-connection parse state: bytes still to skip, header bytes seen. */
    static final class State {
      long skip;
      int headerPos;
      int len7;
      int extLen;
      int extSeen;
    }

    void run(Selector selector) {
      ByteBuffer buf = ByteBuffer.allocateDirect(256 * 1024);
      try {
        while (selector.isOpen()) {
          selector.select();
          for (SelectionKey key : selector.selectedKeys()) {
            SocketChannel ch = (SocketChannel) key.channel();
            State st = (State) key.attachment();
            buf.clear();
            int n = ch.read(buf);
            if (n < 0) {
              key.cancel();
              continue;
            }
            buf.flip();
            parse(buf, st);
          }
          selector.selectedKeys().clear();
        }
      } catch (IOException | RuntimeException e) {
        // closed
      }
    }

    private void parse(ByteBuffer b, State st) {
      while (b.hasRemaining()) {
        if (st.skip > 0) {
          int k = (int) Math.min(st.skip, b.remaining());
          b.position(b.position() + k);
          st.skip -= k;
          continue;
        }
        int c = b.get() & 0xff;
        if (st.headerPos == 0) {
          st.headerPos = 1;
        } else if (st.headerPos == 1) {
          st.len7 = c & 0x7f;
          if (st.len7 < 126) {
            frameDone(st, st.len7);
          } else {
            st.extLen = 0;
            st.extSeen = 0;
            st.headerPos = 2;
          }
        } else {
          st.extLen = (st.extLen << 8) | c;
          st.extSeen++;
          if (st.extSeen == (st.len7 == 126 ? 2 : 8)) {
            frameDone(st, st.extLen);
          }
        }
      }
    }

    private void frameDone(State st, long payload) {
      st.skip = payload;
      st.headerPos = 0;
      frames.incrementAndGet();
    }
  }

  /**
   * The node the WebSocket benches measure (this one and {@link NodeCost}): node {@code a} alone on
   * loopback ports, one IO thread, heartbeats and long-polls that never come due during a run, and
   * admission limits out of the way of thousands of connections from one address.
   */
  static HalleyNode startNode(String apiKey, String secret) {
    ClusterMap map =
        ClusterMap.parse(
            "{\"version\":1,\"nodes\":[{\"id\":\"a\",\"publicUrl\":\"http://127.0.0.1:1\","
                + "\"internalUrl\":\"http://127.0.0.1:2\"}]}");
    return HalleyNode.start(
        NodeConfig.builder()
            .nodeId("a")
            .map(map)
            .publicHost("127.0.0.1")
            .publicPort(0)
            .internalHost("127.0.0.1")
            .internalPort(0)
            .apiKeys(List.of(apiKey))
            .tokenHmacSecret(secret)
            .ioThreads(1)
            .heartbeatMs(100_000)
            .longPollTimeoutMs(60_000)
            .operations(
                OperationsConfig.builder()
                    .maxConnectionsPerUser(10_000)
                    .newConnectionsPerSecondPerAddress(1_000_000)
                    .newConnectionBurstPerAddress(1_000_000)
                    .build())
            .build());
  }
}
