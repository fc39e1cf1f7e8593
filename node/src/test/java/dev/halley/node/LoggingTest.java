package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.AsyncAppender;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.core.OutputStreamAppender;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;

/**
 * The node's Logback configuration ({@link HalleyLogging.LogbackConfigurator}), applied to a
 * context of its own: a thread that logs (an Undertow IO thread, say) never waits for the output,
 * even when the output is stuck.
 */
class LoggingTest {
  private LoggerContext context;

  @AfterEach
  void stop() {
    if (context != null) {
      context.stop();
    }
  }

  /** A stream whose writes block until {@link #release}; counts the bytes that got through. */
  private static final class StuckStream extends OutputStream {
    final CountDownLatch released = new CountDownLatch(1);
    final CountDownLatch firstWrite = new CountDownLatch(1);
    final ByteArrayOutputStream written = new ByteArrayOutputStream();

    @Override
    public void write(int b) {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) {
      firstWrite.countDown();
      try {
        released.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      synchronized (written) {
        written.write(b, off, len);
      }
    }

    void release() {
      released.countDown();
    }
  }

  /**
   * The node's configuration, with the console appender's stream (the process's stderr in a real
   * node: a pipe that blocks when nobody reads it) replaced by {@code err}.
   */
  private Logger configure(OutputStream err) {
    context = new LoggerContext();
    context.setMDCAdapter(new ch.qos.logback.classic.util.LogbackMDCAdapter());
    HalleyLogging.LogbackConfigurator.apply(context, "text", "INFO", err);
    AsyncAppender async = (AsyncAppender) context.getLogger("ROOT").getAppender("async");
    assertTrue(async.isNeverBlock());
    assertTrue(async.getAppender("out") instanceof OutputStreamAppender<?>);
    return context.getLogger("dev.halley.node.LoggingTest");
  }

  @Test
  void aThreadThatLogsNeverWaitsForAStuckOutput() throws Exception {
    StuckStream stuck = new StuckStream();
    Logger log = configure(stuck);
    int lines =
        50_000; // far more than the queue (8192) holds: the rest are dropped, not waited for
    AtomicInteger logged = new AtomicInteger();
    Thread io =
        new Thread(
            () -> {
              for (int i = 0; i < lines; i++) {
                log.info("event=slow_consumer node=a transport=websocket user=u{}", i);
                logged.incrementAndGet();
              }
            },
            "halley-a I/O-1");
    io.start();
    try {
      assertTrue(stuck.firstWrite.await(60, TimeUnit.SECONDS), "the appender never wrote");
      // The output is stuck in its first write; the logging thread must still get through all of
      // its lines. (A synchronous appender, like slf4j-simple before, blocks it at the first line;
      // with neverBlock false this fails at 8193 lines: the queue plus the one being written.)
      io.join(TimeUnit.SECONDS.toMillis(60));
      assertEquals(lines, logged.get(), "the logging thread was blocked by the stuck output");
    } finally {
      stuck.release();
    }
    context.stop(); // flushes what the queue holds
    String out;
    synchronized (stuck.written) {
      out = stuck.written.toString(StandardCharsets.UTF_8);
    }
    assertTrue(out.contains("event=slow_consumer node=a transport=websocket user=u0"), out);
  }

  @Test
  void eachEventIsOneLine() throws Exception {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    Logger log = configure(err);
    log.warn("event=map_rejected node=a error=\"first\nsecond\"", new RuntimeException("x\ny"));
    log.info("event=drain_started node=a connections=0");
    context.stop();
    String[] lines = err.toString(StandardCharsets.UTF_8).split("\n", -1);
    assertEquals(3, lines.length, err.toString(StandardCharsets.UTF_8)); // two lines and ""
    assertTrue(
        lines[0].contains(
            " WARN  [main] dev.halley.node.LoggingTest - event=map_rejected node=a"
                + " error=\"first | second\" | java.lang.RuntimeException: x | y | at "),
        lines[0]);
    assertTrue(lines[1].endsWith(" - event=drain_started node=a connections=0"), lines[1]);
  }
}
