package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.Control;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.Message;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Issue 11 item 5, the write path's two failure modes: an {@link Error} thrown while writing (the
 * out-of-memory case) must close that connection and leave its IO thread serving the others, and
 * the bytes a transport holds for frames in flight must count against the byte bound, so that a
 * stalled connection is cut instead of pinning unbounded memory.
 */
class ConnectionWritePathTest {
  private static final String EPOCH = "00112233445566ff";
  private final EventCodec codec = new EventCodec(EPOCH);

  /** Records what the connection reports; the write path's observer. */
  static final class Observer implements ConnectionObserver {
    final List<String> events = new ArrayList<>();

    @Override
    public void delivered(String transport, long acceptedAtNanos) {}

    @Override
    public void reset(String reason) {}

    @Override
    public void slowConsumer(String transport, String user) {
      events.add("slow " + user);
    }

    @Override
    public void writeFailed(String transport, Throwable t) {
      events.add("failed " + t.getClass().getSimpleName());
    }
  }

  /** A transport whose writes throw {@code error} after {@code okWrites} successful ones. */
  static final class Throwing extends Connection {
    final List<String> got = new ArrayList<>();
    final Error error;
    int okWrites;

    Throwing(UserStream s, Executor io, Error error, int okWrites) {
      super(s, io, 100);
      this.error = error;
      this.okWrites = okWrites;
    }

    @Override
    public String transport() {
      return "ws";
    }

    @Override
    protected void flush() {
      while (poll()) {
        if (okWrites-- <= 0) {
          throw error;
        }
        got.add(polledItem instanceof Message ? "message" : ((Control) polledItem).type);
      }
    }

    @Override
    protected void closeTransport(int code, String reason) {
      got.add("closed " + code);
    }
  }

  /** A transport that takes every event into "flight" and never hears that it was written. */
  static final class Stalled extends Connection {
    int taken;

    Stalled(UserStream s) {
      super(s, Runnable::run, 1000);
    }

    @Override
    public String transport() {
      return "ws";
    }

    @Override
    protected void flush() {
      while (poll()) {
        taken++;
        pinned(16 * 1024); // one pooled buffer per frame, as WsConnection counts it
      }
    }

    @Override
    protected void closeTransport(int code, String reason) {}
  }

  private static Message msg(String text) {
    return new Message(
        ("\"" + text + "\"}").getBytes(StandardCharsets.UTF_8),
        System.currentTimeMillis(),
        Long.MAX_VALUE);
  }

  private static UserStream stream(String user) {
    return new UserStream(user, 0, 100, 60_000, System.currentTimeMillis());
  }

  private void open(UserStream s, Connection c) {
    s.open(
        codec,
        null,
        System.currentTimeMillis(),
        new StreamingReplay(
            c,
            null,
            position -> new Control("hello", null, "{}".getBytes(StandardCharsets.UTF_8))));
  }

  @Test
  void anErrorWhileWritingClosesTheConnectionWith4011AndIsReported() {
    UserStream s = stream("alice");
    Throwing c = new Throwing(s, Runnable::run, new OutOfMemoryError("test: direct buffer"), 1);
    Observer obs = new Observer();
    c.operations(obs, 1 << 20);
    open(s, c); // hello is written
    s.publish(msg("1"), System.currentTimeMillis()); // its write throws the Error
    assertTrue(c.isClosed());
    assertEquals(List.of("hello", "closed " + CloseCodes.SERVER_ERROR), c.got);
    assertEquals(List.of("failed OutOfMemoryError"), obs.events);
    assertEquals(0, s.connectionCount(), "the closed connection left its stream");
    // The stream goes on: a new connection of the same user gets the next event.
    Throwing next = new Throwing(s, Runnable::run, new OutOfMemoryError(), 100);
    open(s, next);
    s.publish(msg("2"), System.currentTimeMillis());
    assertEquals(List.of("hello", "message"), next.got);
  }

  @Test
  void theIoThreadSurvivesAnErrorAndServesTheNextConnection() throws Exception {
    // One thread that, like an event loop, dies if a task lets an Error escape.
    BlockingQueue<Runnable> tasks = new ArrayBlockingQueue<>(100);
    Thread loop =
        new Thread(
            () -> {
              try {
                while (true) {
                  tasks.take().run();
                }
              } catch (InterruptedException e) {
                // stopped
              }
            },
            "fake-io");
    loop.setDaemon(true);
    loop.start();
    try {
      Executor io = tasks::add;
      UserStream bad = stream("bad");
      Throwing failing = new Throwing(bad, io, new StackOverflowError(), 0);
      open(bad, failing);
      UserStream good = stream("good");
      Throwing fine = new Throwing(good, io, new OutOfMemoryError(), 100);
      open(good, fine);
      CountDownLatch after = new CountDownLatch(1);
      tasks.add(after::countDown);
      assertTrue(after.await(10, TimeUnit.SECONDS), "the IO thread stopped running tasks");
      assertTrue(loop.isAlive());
      assertTrue(failing.isClosed());
      assertFalse(fine.isClosed());
      assertEquals(List.of("hello"), fine.got);
    } finally {
      loop.interrupt();
    }
  }

  @Test
  void bytesPinnedByFramesInFlightCountAgainstTheByteBound() {
    UserStream s = stream("stalled");
    Stalled c = new Stalled(s);
    Observer obs = new Observer();
    c.operations(obs, 64 * 1024); // connectionQueueMaxBytes: four pooled buffers
    open(s, c);
    for (int i = 0; i < 50 && !c.isClosed(); i++) {
      s.publish(msg("m" + i), System.currentTimeMillis());
    }
    assertTrue(c.isClosed(), "a connection pinning more than its byte bound is a slow consumer");
    assertEquals(List.of("slow stalled"), obs.events);
    assertTrue(c.pinnedBytes() <= 64 * 1024 + 16 * 1024, "pinned " + c.pinnedBytes());
    assertTrue(c.taken <= 6, "frames taken into flight: " + c.taken);
  }
}
