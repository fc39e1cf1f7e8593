package dev.halley.node;

import dev.halley.cluster.ClusterMap;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * End-to-end channel fan-out over real WebSocket connections on 127.0.0.1: a node with one IO
 * thread, {@code connections} subscribers, {@code messages} channel messages published through the
 * internal API; one NIO reader thread counts the text frames. Prints deliveries per second. Not a
 * test (the machine's load decides the figure); run it after {@code test-compile}:
 *
 * <pre>
 * ./mvnw -q -o -pl node dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
 * java -cp "node/target/test-classes:node/target/classes:$(cat /tmp/cp.txt)" \
 *   dev.halley.node.WsFanOutBenchmark 2000 200
 * </pre>
 */
public final class WsFanOutBenchmark {
  public static void main(String[] args) throws Exception {
    int connections = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
    int messages = args.length > 1 ? Integer.parseInt(args[1]) : 200;
    ClusterMap map =
        ClusterMap.parse(
            "{\"version\":1,\"nodes\":[{\"id\":\"a\",\"publicUrl\":\"http://127.0.0.1:1\","
                + "\"internalUrl\":\"http://127.0.0.1:2\"}]}");
    try (HalleyNode node =
        HalleyNode.start(
            TestNodes.config()
                .map(map)
                .ioThreads(1)
                .heartbeatMs(100_000)
                .longPollTimeoutMs(60_000)
                .build())) {
      Selector selector = Selector.open();
      FrameCounter counter = new FrameCounter();
      List<SocketChannel> channels = new ArrayList<>();
      for (int i = 0; i < connections; i++) {
        String token = TestNodes.token("bench-" + i, List.of("bench"));
        SocketChannel ch =
            SocketChannel.open(new InetSocketAddress("127.0.0.1", node.publicPort()));
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
      awaitCount(counter.frames, connections); // the hellos
      InternalApi api = new InternalApi(node);
      for (int round = 0; round < 2; round++) {
        long base = counter.frames.get();
        long target = base + (long) connections * messages;
        long t0 = System.nanoTime();
        int batch = 20;
        for (int m = 0; m < messages; m += batch) {
          StringBuilder body = new StringBuilder("{\"messages\":[");
          for (int k = 0; k < batch && m + k < messages; k++) {
            body.append(k == 0 ? "" : ",")
                .append("{\"channel\":\"bench\",\"data\":{\"text\":\"message ")
                .append(m + k)
                .append(" of a chat room, about a hundred bytes long........\"}}");
          }
          api.publish(body.append("]}").toString());
        }
        awaitCount(counter.frames, target);
        double s = (System.nanoTime() - t0) / 1e9;
        long deliveries = target - base;
        System.out.printf(
            "%s: %d deliveries to %d WebSocket connections in %.2f s: %.0f deliveries/s%n",
            round == 0 ? "warm-up" : "measured", deliveries, connections, s, deliveries / s);
      }
      for (SocketChannel ch : channels) {
        ch.close();
      }
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

  private static void awaitCount(AtomicLong count, long target) throws InterruptedException {
    long deadline = System.nanoTime() + 300_000_000_000L;
    while (count.get() < target) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("only " + count.get() + " of " + target + " frames");
      }
      Thread.sleep(5);
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
}
