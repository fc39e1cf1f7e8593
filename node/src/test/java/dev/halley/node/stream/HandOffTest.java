package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.halley.node.wire.Control;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.Message;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** One publish hands each IO thread one task for all of its connections (issue 12). */
class HandOffTest {
  private final EventCodec codec = new EventCodec("00112233445566ff");

  /** An IO thread stand-in that counts the tasks it was handed and runs them at once. */
  static final class CountingIo implements Executor {
    final AtomicInteger tasks = new AtomicInteger();

    @Override
    public void execute(Runnable r) {
      tasks.incrementAndGet();
      r.run();
    }
  }

  static final class Recording extends Connection {
    final List<String> got = new ArrayList<>();

    Recording(UserStream s, Executor io) {
      super(s, io, 100);
    }

    @Override
    public String transport() {
      return "ws";
    }

    @Override
    protected void flush() {
      while (poll()) {
        got.add(polledItem instanceof Message ? "message" : ((Control) polledItem).type);
      }
    }

    @Override
    protected void closeTransport(int code, String reason) {}
  }

  private Recording connect(String user, Executor io) {
    UserStream s = new UserStream(user, 0, 100, 60_000, 0);
    Recording c = new Recording(s, io);
    s.open(
        codec,
        null,
        0,
        new StreamingReplay(
            c, null, p -> new Control("hello", null, "{}".getBytes(StandardCharsets.UTF_8))));
    return c;
  }

  @Test
  void aPublishHandsEachIoThreadOneTaskForAllItsConnections() {
    CountingIo io1 = new CountingIo();
    CountingIo io2 = new CountingIo();
    List<Recording> conns = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      conns.add(connect("u" + i, i % 2 == 0 ? io1 : io2));
    }
    io1.tasks.set(0);
    io2.tasks.set(0);
    Message m = new Message("1}".getBytes(StandardCharsets.UTF_8), 0, Long.MAX_VALUE);
    HandOff batch = HandOff.begin();
    try {
      for (int k = 0; k < 3; k++) { // three messages of one request
        for (Recording c : conns) {
          c.stream.publish(m, 0);
        }
      }
      assertEquals(0, io1.tasks.get() + io2.tasks.get(), "nothing is handed off before the end");
    } finally {
      batch.end();
    }
    assertEquals(1, io1.tasks.get());
    assertEquals(1, io2.tasks.get());
    for (Recording c : conns) {
      assertEquals(List.of("hello", "message", "message", "message"), c.got);
    }
    // Without a batch each connection schedules its own flush, as before.
    conns.get(0).stream.publish(m, 0);
    assertEquals(2, io1.tasks.get());
  }
}
