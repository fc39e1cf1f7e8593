package dev.halley.bench;

import dev.halley.node.HalleyNode;
import dev.halley.router.TokenMinter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The node's own cost per delivery, counted on its threads: CPU time and bytes allocated by its IO
 * and publish threads ({@code com.sun.management.ThreadMXBean}), per delivery and per publish
 * request, for a fixed request shape. The clients run in this JVM on their own threads, which are
 * not counted. Unlike the load generator's figures (server CPU from /proc over a wall-clock window,
 * latency), these do not depend on how the generator batched or on the run queue of a busy machine:
 * allocation is exact, CPU time is the threads' own (a busy machine still inflates it through
 * caches). Not a timed test.
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar dev.halley.bench.NodeCost shape=unicast users=2000 perRequest=3
 * java -cp bench/target/benchmarks.jar dev.halley.bench.NodeCost shape=longpoll users=400
 * java -cp bench/target/benchmarks.jar dev.halley.bench.NodeCost shape=room users=2000 perRequest=10
 * </pre>
 *
 * <p>{@code unicast}: {@code users} WebSocket subscribers; each publish request carries {@code
 * perRequest} one-user messages to random users (the unicast row's shape). {@code room}: the same
 * subscribers in rooms of {@code roomSize} (default 200, channels granted by their tokens); each
 * request carries {@code perRequest} messages to random rooms (the chat shape's bursts). {@code
 * longpoll}: {@code users} long-poll clients on keep-alive connections, each polling again at once
 * with the position it was given; a round publishes one message to every user (requests of 200) and
 * waits until every client has it, so each long-poll answer carries one message. Options: {@code
 * rounds} / {@code requests} measured after {@code warmup} of the same; {@code transport=sse}
 * (unicast and room) makes the subscribers SSE streams instead of WebSockets. Each thread kind's
 * CPU time is reported whole (user and kernel: the socket writes' kernel part is in it) and its
 * user part alone ({@code ...UserUsPerDelivery}).
 */
public final class NodeCost {
  private static final String SECRET = "nodecost-secret-0123456789abcdef0123456789";
  private static final String API_KEY = "nodecost-key-0123456789";

  private NodeCost() {}

  public static void main(String[] args) throws Exception {
    // As the node's own main: INFO, not Logback's default DEBUG.
    dev.halley.node.HalleyLogging.configure(
        dev.halley.node.HalleyLogging.Format.TEXT, dev.halley.node.HalleyLogging.Level.INFO);
    Map<String, String> o = new TreeMap<>();
    for (String a : args) {
      o.put(a.substring(0, a.indexOf('=')), a.substring(a.indexOf('=') + 1));
    }
    String shape = o.getOrDefault("shape", "unicast");
    int users = Integer.parseInt(o.getOrDefault("users", shape.equals("unicast") ? "2000" : "400"));
    HalleyNode node = WsFanOutBenchmark.startNode(API_KEY, SECRET);
    try (Publisher pub = new Publisher(node.internalPort())) {
      TokenMinter tokens = TokenMinter.hs256(SECRET);
      if (shape.equals("unicast")) {
        subscribers(node, pub, tokens, users, 0, o);
      } else if (shape.equals("room")) {
        subscribers(
            node, pub, tokens, users, Integer.parseInt(o.getOrDefault("roomSize", "200")), o);
      } else {
        longPoll(node, pub, tokens, users, o);
      }
    } finally {
      node.close();
    }
  }

  /**
   * WebSocket (or, {@code transport=sse}, SSE) subscribers; {@code roomSize} 0: unicast, else every
   * user is in room {@code i / roomSize}.
   */
  private static void subscribers(
      HalleyNode node,
      Publisher pub,
      TokenMinter tokens,
      int users,
      int roomSize,
      Map<String, String> o)
      throws Exception {
    int perRequest = Integer.parseInt(o.getOrDefault("perRequest", "3"));
    int requests = Integer.parseInt(o.getOrDefault("requests", "20000"));
    int warmup = Integer.parseInt(o.getOrDefault("warmup", "20000"));
    Selector selector = Selector.open();
    boolean sse = o.getOrDefault("transport", "ws").equals("sse");
    WsFanOutBenchmark.FrameCounter counter = new WsFanOutBenchmark.FrameCounter();
    SseEventCounter sseCounter = new SseEventCounter();
    List<SocketChannel> channels = new ArrayList<>();
    for (int i = 0; i < users; i++) {
      List<String> rooms = roomSize == 0 ? List.of() : List.of("room-" + i / roomSize);
      String token = tokens.mint("u-" + i, Duration.ofHours(1), rooms);
      SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", node.publicPort()));
      String req =
          sse
              ? "GET /v1/sse?token=" + token + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
              : "GET /v1/ws?token="
                  + token
                  + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  + "Sec-WebSocket-Version: 13\r\n\r\n";
      ch.write(ByteBuffer.wrap(req.getBytes(StandardCharsets.US_ASCII)));
      readHead(ch);
      ch.configureBlocking(false);
      ch.register(
          selector,
          SelectionKey.OP_READ,
          sse ? new SseEventCounter.State() : new WsFanOutBenchmark.FrameCounter.State());
      channels.add(ch);
    }
    AtomicLong frames = sse ? sseCounter.events : counter.frames;
    Thread reader =
        new Thread(
            () -> {
              if (sse) {
                sseCounter.run(selector);
              } else {
                counter.run(selector);
              }
            },
            "nodecost-reader");
    reader.setDaemon(true);
    reader.start();
    await(frames, users); // the hellos
    java.util.SplittableRandom random = new java.util.SplittableRandom(1);
    String data = "{\"t\":0,\"room\":\"r\",\"text\":\"a message of about fifty bytes\"}";
    int roomCount = roomSize == 0 ? 0 : (users + roomSize - 1) / roomSize;
    String shape = (roomSize == 0 ? "unicast" : "room") + (sse ? "-sse" : "");
    for (int phase = 0; phase < 2; phase++) {
      int n = phase == 0 ? warmup : requests;
      long before0 = frames.get();
      long deliveries = 0;
      Sample before = Sample.now();
      for (int r = 0; r < n; r++) {
        StringBuilder body = new StringBuilder("{\"messages\":[");
        for (int k = 0; k < perRequest; k++) {
          body.append(k == 0 ? "" : ",");
          if (roomSize == 0) {
            body.append("{\"users\":[\"u-").append(random.nextInt(users)).append("\"]");
            deliveries++;
          } else {
            int room = random.nextInt(roomCount);
            body.append("{\"channel\":\"room-").append(room).append('"');
            deliveries += Math.min(roomSize, users - room * roomSize);
          }
          body.append(",\"data\":").append(data).append('}');
        }
        pub.publish(body.append("]}").toString());
      }
      await(frames, before0 + deliveries);
      Sample after = Sample.now();
      if (phase == 1) {
        after.report(before, shape, deliveries, n);
      }
    }
    for (SocketChannel ch : channels) {
      ch.close();
    }
    selector.close();
  }

  private static void longPoll(
      HalleyNode node, Publisher pub, TokenMinter tokens, int users, Map<String, String> o)
      throws Exception {
    int rounds = Integer.parseInt(o.getOrDefault("rounds", "100"));
    int warmup = Integer.parseInt(o.getOrDefault("warmup", "100"));
    Selector selector = Selector.open();
    AtomicLong answered = new AtomicLong();
    List<Poller> pollers = new ArrayList<>();
    for (int i = 0; i < users; i++) {
      String token = tokens.mint("u-" + i, Duration.ofHours(1), List.of());
      Poller p = new Poller(URLEncoder.encode(token, StandardCharsets.UTF_8), answered);
      p.ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", node.publicPort()));
      p.ch.configureBlocking(false);
      p.key = p.ch.register(selector, SelectionKey.OP_READ, p);
      pollers.add(p);
    }
    Thread loop = new Thread(() -> Poller.run(selector), "nodecost-pollers");
    loop.setDaemon(true);
    // The first request of each (timeoutMs=0) answers at once with the stream's position.
    for (Poller p : pollers) {
      p.send("&timeoutMs=0");
    }
    loop.start();
    await(answered, users);
    LockSupport.parkNanos(200_000_000L); // every client's next request is held
    String data = "{\"t\":0,\"room\":\"longpoll\",\"text\":\"a message of about fifty bytes\"}";
    for (int phase = 0; phase < 2; phase++) {
      int n = phase == 0 ? warmup : rounds;
      Sample before = Sample.now();
      long requests = 0;
      for (int r = 0; r < n; r++) {
        long target = answered.get() + users;
        for (int from = 0; from < users; from += 200) {
          StringBuilder body = new StringBuilder("{\"messages\":[");
          for (int u = from; u < Math.min(users, from + 200); u++) {
            body.append(u == from ? "" : ",")
                .append("{\"users\":[\"u-")
                .append(u)
                .append("\"],\"data\":")
                .append(data)
                .append('}');
          }
          pub.publish(body.append("]}").toString());
          requests++;
        }
        await(answered, target);
        // Every client polls again at once: give the node time to hold the next requests, so
        // that each message of the next round ends one held request.
        LockSupport.parkNanos(20_000_000L);
      }
      Sample after = Sample.now();
      if (phase == 1) {
        after.report(before, "longpoll", (long) n * users, requests);
      }
    }
    selector.close();
  }

  /** One long-poll client: a keep-alive connection, one request at a time. */
  static final class Poller {
    final String token;
    final AtomicLong answered;
    SocketChannel ch;
    SelectionKey key;
    String last;
    final ByteBuffer in = ByteBuffer.allocate(64 * 1024);

    Poller(String token, AtomicLong answered) {
      this.token = token;
      this.answered = answered;
    }

    void send(String extra) throws IOException {
      String q = "token=" + token + (last == null ? "" : "&lastEventId=" + last) + extra;
      ByteBuffer b =
          ByteBuffer.wrap(
              ("GET /v1/longpoll?" + q + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
      while (b.hasRemaining()) {
        ch.write(b);
      }
    }

    static void run(Selector selector) {
      try {
        while (selector.isOpen()) {
          selector.select();
          for (SelectionKey k : selector.selectedKeys()) {
            ((Poller) k.attachment()).readable();
          }
          selector.selectedKeys().clear();
        }
      } catch (IOException | RuntimeException e) {
        // closed
      }
    }

    void readable() throws IOException {
      if (ch.read(in) < 0) {
        key.cancel();
        return;
      }
      while (true) {
        String s = new String(in.array(), 0, in.position(), StandardCharsets.ISO_8859_1);
        int head = s.indexOf("\r\n\r\n");
        if (head < 0) {
          return;
        }
        int cl = s.toLowerCase(java.util.Locale.ROOT).indexOf("content-length:");
        int eol = s.indexOf("\r\n", cl);
        int len = Integer.parseInt(s.substring(cl + 15, eol).trim());
        if (in.position() < head + 4 + len) {
          return;
        }
        String body = s.substring(head + 4, head + 4 + len);
        int at = body.indexOf("\"lastEventId\":\"");
        last = body.substring(at + 15, body.indexOf('"', at + 15));
        int used = head + 4 + len;
        in.flip();
        in.position(used);
        in.compact();
        answered.incrementAndGet();
        send("");
      }
    }
  }

  /**
   * Counts SSE events on many streams from one selector thread: each event has one {@code data:}
   * line, so an event is a {@code "\ndata: "} seen (the response is close-delimited, not chunked:
   * the stream's bytes are the events').
   */
  static final class SseEventCounter {
    private static final byte[] MARK = "\ndata: ".getBytes(StandardCharsets.US_ASCII);
    final AtomicLong events = new AtomicLong();

    /** Per-stream: how much of {@link #MARK} the last bytes matched. */
    static final class State {
      int matched;
    }

    void run(Selector selector) {
      ByteBuffer buf = ByteBuffer.allocate(256 * 1024);
      byte[] a = buf.array();
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
            long seen = 0;
            int m = st.matched;
            for (int i = 0; i < n; i++) {
              byte c = a[i];
              if (c == MARK[m]) {
                if (++m == MARK.length) {
                  seen++;
                  m = 0;
                }
              } else {
                m = c == MARK[0] ? 1 : 0;
              }
            }
            st.matched = m;
            if (seen > 0) {
              events.addAndGet(seen);
            }
          }
          selector.selectedKeys().clear();
        }
      } catch (IOException | RuntimeException e) {
        // closed
      }
    }
  }

  /**
   * A keep-alive publish connection (plain sockets: no client machinery in the way), opened at the
   * first publish: connecting thousands of subscribers first can take longer than the node's idle
   * timeout of a connection.
   */
  static final class Publisher implements AutoCloseable {
    private final int port;
    private Socket socket;
    private OutputStream out;
    private InputStream in;
    private final byte[] buf = new byte[1 << 20];

    Publisher(int port) {
      this.port = port;
    }

    void publish(String body) throws IOException {
      if (socket == null) {
        socket = new Socket("127.0.0.1", port);
        socket.setTcpNoDelay(true);
        out = socket.getOutputStream();
        in = socket.getInputStream();
      }
      byte[] b = body.getBytes(StandardCharsets.UTF_8);
      out.write(
          ("POST /v1/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                  + API_KEY
                  + "\r\nContent-Type: application/json\r\nContent-Length: "
                  + b.length
                  + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      out.write(b);
      out.flush();
      int n = 0;
      while (true) {
        int r = in.read(buf, n, buf.length - n);
        if (r < 0) {
          throw new IOException("publish connection closed");
        }
        n += r;
        String s = new String(buf, 0, n, StandardCharsets.ISO_8859_1);
        int head = s.indexOf("\r\n\r\n");
        if (head < 0) {
          continue;
        }
        if (!s.startsWith("HTTP/1.1 200")) {
          throw new IOException("publish: " + s);
        }
        int cl = s.toLowerCase(java.util.Locale.ROOT).indexOf("content-length:");
        int len = Integer.parseInt(s.substring(cl + 15, s.indexOf("\r\n", cl)).trim());
        if (n >= head + 4 + len) {
          return;
        }
      }
    }

    @Override
    public void close() throws IOException {
      if (socket != null) {
        socket.close();
      }
    }
  }

  /**
   * CPU time (user and kernel: {@code getThreadCpuTime}), its user part ({@code getThreadUserTime})
   * and allocated bytes of the node's threads (names starting with "halley-a"), by thread kind.
   */
  record Sample(Map<String, long[]> threads) {
    static Sample now() {
      com.sun.management.ThreadMXBean mx =
          (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
      Map<String, long[]> m = new TreeMap<>();
      for (Thread t : Thread.getAllStackTraces().keySet()) {
        if (!t.getName().startsWith("halley-a")) {
          continue;
        }
        long id = t.getId();
        String group =
            t.getName().contains("I/O")
                ? "io"
                : t.getName().contains("publish") ? "publish" : "other";
        long[] v = m.computeIfAbsent(group, g -> new long[3]);
        v[0] += mx.getThreadCpuTime(id);
        v[1] += mx.getThreadAllocatedBytes(id);
        v[2] += mx.getThreadUserTime(id);
      }
      return new Sample(m);
    }

    void report(Sample before, String shape, long deliveries, long requests) {
      StringBuilder sb =
          new StringBuilder(
              "{\"shape\":\""
                  + shape
                  + "\",\"deliveries\":"
                  + deliveries
                  + ",\"publishRequests\":"
                  + requests
                  + ",\"loadavg\":\""
                  + loadAverage()
                  + "\"");
      long cpu = 0;
      long user = 0;
      long bytes = 0;
      for (Map.Entry<String, long[]> e : threads.entrySet()) {
        long[] b = before.threads.getOrDefault(e.getKey(), new long[3]);
        long c = e.getValue()[0] - b[0];
        long a = e.getValue()[1] - b[1];
        long u = e.getValue()[2] - b[2];
        cpu += c;
        user += u;
        bytes += a;
        sb.append(
            String.format(
                ",\"%sCpuUsPerDelivery\":%.2f,\"%sUserUsPerDelivery\":%.2f"
                    + ",\"%sBytesPerDelivery\":%.0f",
                e.getKey(),
                c / 1000.0 / deliveries,
                e.getKey(),
                u / 1000.0 / deliveries,
                e.getKey(),
                (double) a / deliveries));
      }
      sb.append(
          String.format(
              ",\"cpuUsPerDelivery\":%.2f,\"userUsPerDelivery\":%.2f"
                  + ",\"bytesPerDelivery\":%.0f,\"bytesPerRequest\":%.0f}",
              cpu / 1000.0 / deliveries,
              user / 1000.0 / deliveries,
              (double) bytes / deliveries,
              (double) bytes / requests));
      System.out.println(sb);
    }
  }

  static String loadAverage() {
    try {
      return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim();
    } catch (IOException e) {
      return "?";
    }
  }

  private static void await(AtomicLong counter, long target) {
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (counter.get() < target) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("only " + counter.get() + " of " + target);
      }
      LockSupport.parkNanos(100_000);
    }
  }

  private static void readHead(SocketChannel ch) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(1);
    int state = 0;
    while (state < 4) {
      b.clear();
      if (ch.read(b) < 0) {
        throw new IOException("closed during handshake");
      }
      byte c = b.get(0);
      state = (c == '\r' && state % 2 == 0) || (c == '\n' && state % 2 == 1) ? state + 1 : 0;
    }
  }
}
