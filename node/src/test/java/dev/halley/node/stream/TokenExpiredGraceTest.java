package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.xnio.OptionMap;
import org.xnio.Options;
import org.xnio.Xnio;
import org.xnio.XnioIoThread;
import org.xnio.XnioWorker;

/**
 * The wait for a {@code token_expired} event that cannot be written is the node's {@code
 * tokenExpiredGraceMs} (it was a fixed 5 s): a connection whose socket takes nothing is cut after
 * that grace, on a real XNIO IO thread.
 */
class TokenExpiredGraceTest {
  private static XnioWorker worker;

  @BeforeAll
  static void start() throws Exception {
    worker = Xnio.getInstance().createWorker(OptionMap.create(Options.WORKER_IO_THREADS, 1));
  }

  @AfterAll
  static void stop() {
    worker.shutdownNow();
  }

  /** An SSE-like connection whose socket is full: it never takes an event to write. */
  static final class Unwritable extends Connection {
    final CountDownLatch closed = new CountDownLatch(1);
    volatile int code;

    Unwritable(UserStream s, XnioIoThread io) {
      super(s, io, 100);
    }

    @Override
    public String transport() {
      return "sse";
    }

    @Override
    protected void flush() {}

    @Override
    protected void tokenExpired() {
      finishWithTokenExpired();
    }

    @Override
    protected void closeTransport(int code, String reason) {
      this.code = code;
      closed.countDown();
    }
  }

  /** The node side as seen by a connection: only the grace matters here. */
  record Grace(long graceMs) implements ConnectionObserver {
    @Override
    public void delivered(String transport, long acceptedAtNanos) {}

    @Override
    public void reset(String reason) {}

    @Override
    public void slowConsumer(String transport, String user) {}

    @Override
    public long tokenExpiredGraceMs() {
      return graceMs;
    }
  }

  @Test
  void aConnectionThatCannotWriteTokenExpiredIsCutAfterTheConfiguredGrace() throws Exception {
    XnioIoThread io = worker.getIoThread();
    Unwritable c =
        new Unwritable(new UserStream("u", 0, 100, 60_000, System.currentTimeMillis()), io);
    c.operations(new Grace(200), Long.MAX_VALUE);
    long now = System.currentTimeMillis();
    io.execute(() -> c.closeAtTokenExpiry(now, now)); // expired now
    // 200 ms configured; the old fixed grace was 5 s, so this bound separates the two
    assertTrue(c.closed.await(4, TimeUnit.SECONDS), "not cut within 4 s of a 200 ms grace");
    assertEquals(dev.halley.node.wire.CloseCodes.UNAUTHORIZED, c.code);
  }

  @Test
  void withoutAnObserverTheGraceIsFiveSeconds() {
    assertEquals(5_000, new ConnectionWritePathTest.Observer().tokenExpiredGraceMs());
  }
}
