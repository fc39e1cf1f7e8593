package dev.halley.node;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.StackTraceElementProxy;
import ch.qos.logback.core.read.ListAppender;
import dev.halley.cluster.ClusterMap;
import dev.halley.node.config.OperationsConfig;
import dev.halley.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Stopping a node while every kind of timer the transports and listeners arm is armed, or keeps
 * being armed: a WebSocket's close grace (armed as the node closes it), a held long-poll's timeout,
 * the frequency limit's wait of polls in a loop ({@code conflationIntervalMs=1}: one comes due at
 * any moment, and opening its poll arms the long-poll timeout), a handoff resume held for its
 * relays, requests waiting for their body (the body deadline), a refused body drained while it
 * keeps coming (the idle close), and sockets over the public limit waiting for their request head.
 * No {@code RejectedExecutionException} of Halley's code reaches the log (each would be a stack
 * trace per task); on the old code the body deadline's close grace and the refused body's idle
 * close threw it while the IO threads stopped. (XNIO's accept loop and Undertow's first dispatch of
 * a connection accepted in that moment can still be refused: printed, not counted.) Real sockets,
 * one in-process node per round.
 */
class ShutdownTimersTest {
  private static final int ROUNDS = 3;
  private static final int PUBLIC_SOCKETS = 300;
  private static final int HELD_POLLS = 5;
  private static final int POLL_LOOPS = 4;
  private static final int DEADLINE_LOOPS = 2;
  private static final int OVER = 3;
  private static final String EPOCH = "00000000000000e1"; // an old owner's, relayed to no one

  @Test
  void stoppingWhileEveryKindOfTimerIsArmedLogsNoRejectedTaskTraces() throws Exception {
    ListAppender<ILoggingEvent> appender = ShutdownLogTest.captureLog();
    try {
      for (int round = 0; round < ROUNDS; round++) {
        stopWithEveryTimerArmed(round);
      }
      List<ILoggingEvent> traces =
          appender.list.stream().filter(ShutdownLogTest::rejected).toList();
      // XNIO's own accept loop, and Undertow's dispatch of a connection accepted just then, are
      // refused the same way: not a task of ours, and nothing of the node to change.
      List<ILoggingEvent> ours =
          traces.stream().filter(e -> halleyFrame(e) != null).collect(Collectors.toList());
      if (ours.size() < traces.size()) {
        System.out.println(
            "rejected tasks of XNIO or Undertow at shutdown (not counted): "
                + where(traces.stream().filter(e -> halleyFrame(e) == null).toList()));
      }
      assertEquals(
          0,
          ours.size(),
          () -> ours.size() + " rejected-task traces at shutdown, by where: " + where(ours));
      assertEquals(
          ROUNDS,
          appender.list.stream()
              .filter(e -> e.getFormattedMessage().startsWith("node c stopped"))
              .count(),
          "a stop line per round");
    } finally {
      ShutdownLogTest.releaseLog(appender);
    }
  }

  /** The first Halley frame of each trace, counted: which timers were refused. */
  private static Map<String, Long> where(List<ILoggingEvent> traces) {
    Map<String, Long> out = new java.util.TreeMap<>();
    for (ILoggingEvent e : traces) {
      String at = halleyFrame(e);
      out.merge(
          at != null ? at : e.getLoggerName() + ": " + e.getFormattedMessage(), 1L, Long::sum);
    }
    return out;
  }

  /**
   * Where the refused task was submitted, if Halley's code submitted it: the frame that called the
   * IO thread's {@code execute} or {@code executeAfter}; null when that was XNIO or Undertow (a
   * connection accepted in that moment, whose first read Undertow dispatches).
   */
  private static String halleyFrame(ILoggingEvent e) {
    for (IThrowableProxy t = e.getThrowableProxy(); t != null; t = t.getCause()) {
      if (!t.getClassName().endsWith("RejectedExecutionException")) {
        continue;
      }
      StackTraceElementProxy[] frames = t.getStackTraceElementProxyArray();
      for (int i = 0; i < frames.length; i++) {
        if (!frames[i].getStackTraceElement().getClassName().startsWith("org.xnio.nio.")) {
          StackTraceElement caller = frames[i].getStackTraceElement();
          return caller.getClassName().startsWith("dev.halley.") ? caller.toString() : null;
        }
      }
    }
    return null;
  }

  private static void stopWithEveryTimerArmed(int round) throws Exception {
    HalleyNode node =
        HalleyNode.start(
            TestNodes.config()
                .nodeId("c")
                .map(
                    ClusterMap.parse(
                        "{\"version\": 3, \"nodes\": [{\"id\": \"a\", \"publicUrl\":"
                            + " \"http://127.0.0.1:1\", \"internalUrl\": \"http://127.0.0.1:2\"}]}"))
                .heartbeatMs(1)
                .maxBodyBytes(1_024)
                .operations(
                    OperationsConfig.builder()
                        .newConnectionsPerSecondPerAddress(1_000_000)
                        .newConnectionBurstPerAddress(1_000_000)
                        .maxConnectionsPerUser(10_000)
                        .handoffWaitMs(60_000)
                        .requestBodyTimeoutMs(5)
                        .maxPublicSockets(PUBLIC_SOCKETS)
                        .overCapacityLingerMs(60_000)
                        .build())
                .build());
    List<Socket> sockets = new ArrayList<>();
    List<Thread> loops = new ArrayList<>();
    AtomicBoolean stopping = new AtomicBoolean();
    AtomicLong answered = new AtomicLong();
    try {
      int pub = node.publicPort();
      int internal = node.internalPort();
      ClusterMap v4 =
          ClusterMap.parse(
              String.format(
                  "{\"version\": 4, \"nodes\": [{\"id\": \"a\", \"publicUrl\":"
                      + " \"http://127.0.0.1:1\", \"internalUrl\": \"http://127.0.0.1:2\"},"
                      + " {\"id\": \"c\", \"publicUrl\": \"http://127.0.0.1:%d\","
                      + " \"internalUrl\": \"http://127.0.0.1:%d\"}]}",
                  pub, internal));
      admin(internal, "/v1/admin/map/pending", v4.toJson());
      admin(internal, "/v1/admin/map/activate", "{\"version\": 4}");
      List<String> users = new ArrayList<>();
      for (int i = 0; users.size() < 40; i++) {
        String u = "stop" + round + "-" + i;
        if (v4.owner(u).id().equals("c")) {
          users.add(u);
        }
      }

      // A handoff resume from a's epoch whose relay never comes: held for handoffWaitMs.
      String x = EPOCH + ":6";
      sockets.add(
          rawWebSocket(
              pub, users.get(0), "&lastEventId=" + enc(x) + "&handoff=" + enc(EPOCH + ":6:6")));
      await("the handoff is held")
          .atMost(Duration.ofSeconds(20))
          .until(() -> metric(internal, "halley_connections{transport=\"websocket\"}") == 1.0);

      // Held long-polls.
      for (int i = 1; i <= HELD_POLLS; i++) {
        Socket s = RawHttp.connect(pub, Duration.ofSeconds(20));
        sockets.add(s);
        write(s, get("/v1/longpoll?token=" + enc(token(users.get(i))) + "&timeoutMs=60000"));
      }
      // Polls in a loop, each waiting 1 ms for the frequency limit.
      for (int i = 1; i <= POLL_LOOPS; i++) {
        String path =
            "/v1/longpoll?token="
                + enc(token(users.get(HELD_POLLS + i)))
                + "&timeoutMs=0&conflationIntervalMs=1";
        Socket s = RawHttp.connect(pub, Duration.ofSeconds(20));
        sockets.add(s);
        loops.add(pollLoop(s, path, stopping, answered));
      }
      // Requests whose body never arrives, one after another: each body deadline (a few ms) comes
      // due, answers 408 and arms the close grace.
      for (int i = 0; i < DEADLINE_LOOPS; i++) {
        loops.add(deadlineLoop(internal, stopping, answered));
      }
      // WebSockets fill the public listener up to its limit, never read: their heartbeats (every
      // millisecond) keep the IO threads busy with due timers while they stop, so the others come
      // due in that window too; and each one's close grace is armed as the node closes it.
      int fixed = 1 + HELD_POLLS + POLL_LOOPS;
      for (int i = fixed; i < PUBLIC_SOCKETS; i++) {
        sockets.add(rawWebSocket(pub, users.get(i % users.size()), ""));
      }
      await("the public listener is full")
          .atMost(Duration.ofSeconds(60))
          .until(() -> openPublic(internal) == PUBLIC_SOCKETS);
      // Over the limit: each waits (overCapacityLingerMs) for a request head that never comes.
      for (int i = 0; i < OVER; i++) {
        sockets.add(RawHttp.connect(pub, Duration.ofSeconds(20)));
      }
      await("the sockets over the limit are refused")
          .atMost(Duration.ofSeconds(20))
          .until(
              () -> metric(internal, "halley_sockets_refused_total{listener=\"public\"}") >= OVER);
      await("the poll and deadline loops run")
          .atMost(Duration.ofSeconds(20))
          .until(() -> answered.get() >= 50);
      // Last (the body deadline closes it a second later): a refused body drained while it keeps
      // coming, its idle close re-armed by every byte.
      Socket big = RawHttp.connect(internal, Duration.ofSeconds(20));
      sockets.add(big);
      write(big, publishHead("Content-Length: 10000000") + " ".repeat(4_096));
      assertEquals(413, RawHttp.readExact(big.getInputStream(), false).status());
      loops.add(trickle(big, stopping));
    } finally {
      node.close();
      stopping.set(true);
      for (Socket s : sockets) {
        try {
          s.close();
        } catch (IOException ignored) {
          // closing anyway
        }
      }
      for (Thread t : loops) {
        t.join(20_000);
      }
    }
  }

  private static String token(String user) {
    return TestNodes.token(user, List.of());
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  private static Socket rawWebSocket(int port, String user, String query) throws IOException {
    Socket s = RawHttp.connect(port, Duration.ofSeconds(20));
    StringBuilder head =
        new StringBuilder("GET /v1/ws?token=")
            .append(enc(token(user)))
            .append(query)
            .append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    RawHttp.upgradeHeaders(null)
        .forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
    write(s, head.append("\r\n").toString());
    return s;
  }

  private static String get(String target) {
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  }

  private static String publishHead(String length) {
    return "POST /v1/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + TestNodes.API_KEY
        + "\r\nContent-Type: application/json\r\n"
        + length
        + "\r\n\r\n";
  }

  private static void write(Socket s, String bytes) throws IOException {
    OutputStream out = s.getOutputStream();
    out.write(bytes.getBytes(StandardCharsets.ISO_8859_1));
    out.flush();
  }

  private static void admin(int internal, String path, String body) throws IOException {
    RawHttp.Response r =
        RawHttp.exchange(
            internal,
            "POST "
                + path
                + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                + TestNodes.API_KEY
                + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
                + body.getBytes(StandardCharsets.UTF_8).length
                + "\r\n\r\n"
                + body);
    assertEquals(200, r.status(), path + ": " + r);
  }

  private static double metric(int internal, String series) {
    return Scrape.sample(Scrape.get(internal, "/metrics").body(), series);
  }

  private static int openPublic(int internal) {
    return (int) metric(internal, "halley_sockets_open{listener=\"public\"}");
  }

  /** Polls {@code path} on {@code s} again as soon as each answer is read, until the node stops. */
  private static Thread pollLoop(
      Socket s, String path, AtomicBoolean stopping, AtomicLong answered) {
    Thread t =
        new Thread(
            () -> {
              try {
                InputStream in = s.getInputStream();
                while (!stopping.get()) {
                  write(s, get(path));
                  int status = RawHttp.readExact(in, false).status();
                  if (status != 200) {
                    return; // not a poll answer: the count below stays short
                  }
                  answered.incrementAndGet();
                }
              } catch (IOException | RuntimeException ended) {
                // the node stopped (or the test closed the socket)
              }
            },
            "poll-loop");
    t.setDaemon(true);
    t.start();
    return t;
  }

  /** Sends publish heads without their body, one at a time, each read to its 408. */
  private static Thread deadlineLoop(int internal, AtomicBoolean stopping, AtomicLong answered) {
    Thread t =
        new Thread(
            () -> {
              try {
                while (!stopping.get()) {
                  try (Socket s = RawHttp.connect(internal, Duration.ofSeconds(20))) {
                    write(s, publishHead("Content-Length: 100") + "{\"mess");
                    int status = RawHttp.readExact(s.getInputStream(), false).status();
                    if (status != 408) {
                      return;
                    }
                    answered.incrementAndGet();
                  }
                }
              } catch (IOException | RuntimeException ended) {
                // the node stopped
              }
            },
            "deadline-loop");
    t.setDaemon(true);
    t.start();
    return t;
  }

  /** Sends one more byte of the refused body every 50 ms until the node stops. */
  private static Thread trickle(Socket s, AtomicBoolean stopping) {
    Thread t =
        new Thread(
            () -> {
              try {
                while (!stopping.get()) {
                  write(s, " ");
                  Thread.sleep(50); // the trickle's pace, not a wait for a condition
                }
              } catch (IOException | InterruptedException ended) {
                // the node stopped
              }
            },
            "body-trickle");
    t.setDaemon(true);
    t.start();
    return t;
  }
}
