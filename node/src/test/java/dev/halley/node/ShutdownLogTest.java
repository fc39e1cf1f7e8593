package dev.halley.node;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.core.read.ListAppender;
import dev.halley.testing.RawHttp;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Stopping a node with many open WebSocket and SSE connections: their heartbeat and other timers
 * that come due while the IO threads shut down are dropped quietly, not each logged with a stack
 * trace of the {@code RejectedExecutionException}; the node logs one summary line instead.
 */
class ShutdownLogTest {
  private static final int CONNECTIONS = 400;

  /** Starts recording everything the root logger logs. */
  static ListAppender<ILoggingEvent> captureLog() {
    ListAppender<ILoggingEvent> appender = new ListAppender<>();
    appender.setContext((LoggerContext) LoggerFactory.getILoggerFactory());
    appender.start();
    root().addAppender(appender);
    return appender;
  }

  static void releaseLog(ListAppender<ILoggingEvent> appender) {
    root().detachAppender(appender);
  }

  private static Logger root() {
    return (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
  }

  /** Whether {@code e} is a rejected task's trace (or names the exception). */
  static boolean rejected(ILoggingEvent e) {
    for (IThrowableProxy t = e.getThrowableProxy(); t != null; t = t.getCause()) {
      if (t.getClassName().endsWith("RejectedExecutionException")) {
        return true;
      }
    }
    return e.getFormattedMessage().contains("RejectedExecutionException");
  }

  @Test
  void stoppingWithManyConnectionsLogsNoRejectedTimerTraces() throws Exception {
    ListAppender<ILoggingEvent> appender = ShutdownLogTest.captureLog();
    List<Socket> sockets = new ArrayList<>();
    try {
      // Heartbeats every millisecond: some are always due while the IO threads stop.
      HalleyNode node = HalleyNode.start(TestNodes.config().heartbeatMs(1).build());
      try {
        for (int i = 0; i < CONNECTIONS; i++) {
          String token = TestNodes.token(TestNodes.userOwnedBy("a", "stop", i), List.of());
          Socket s = new Socket();
          s.connect(new InetSocketAddress("127.0.0.1", node.publicPort()), 10_000);
          StringBuilder head =
              new StringBuilder("GET /v1/")
                  .append(i % 2 == 0 ? "ws" : "sse")
                  .append("?token=")
                  .append(token)
                  .append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
          if (i % 2 == 0) {
            RawHttp.upgradeHeaders(null)
                .forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
          }
          s.getOutputStream()
              .write(head.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
          sockets.add(s); // never read: the beats queue up and keep the timers busy
        }
        await()
            .atMost(Duration.ofSeconds(60))
            .until(() -> node.stats().connections() >= CONNECTIONS);
      } finally {
        node.close();
      }
      List<ILoggingEvent> traces =
          appender.list.stream().filter(ShutdownLogTest::rejected).toList();
      assertEquals(
          0,
          traces.size(),
          () ->
              traces.size()
                  + " rejected-task traces at shutdown, the first: "
                  + traces.get(0).getLoggerName()
                  + ": "
                  + traces.get(0).getFormattedMessage());
      assertTrue(
          appender.list.stream()
              .anyMatch(e -> e.getFormattedMessage().startsWith("node a stopped")),
          "no stop line");
    } finally {
      ShutdownLogTest.releaseLog(appender);
      for (Socket s : sockets) {
        try {
          s.close();
        } catch (IOException ignored) {
          // closing anyway
        }
      }
    }
  }
}
