package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.wire.Control;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.Message;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The user stream's resume edge cases, with a fake clock and recording connections. */
public class UserStreamTest {
  private static final String EPOCH = "00112233445566ff";
  private final EventCodec codec = new EventCodec(EPOCH);
  private final FakeClock clock = new FakeClock();

  /** A connection that records what it is handed, in order ("seq:data" or the control type). */
  public static class Recorder extends Connection {
    public final List<String> got = new ArrayList<>();

    public Recorder(UserStream stream, int maxQueued) {
      this(stream, maxQueued, Runnable::run);
    }

    public Recorder(UserStream stream, int maxQueued, java.util.concurrent.Executor io) {
      super(stream, io, maxQueued);
    }

    @Override
    public String transport() {
      return "test";
    }

    @Override
    protected void flush() {
      while (poll()) {
        if (polledItem instanceof Message m) {
          got.add(polledSeq + ":" + new String(m.tail, StandardCharsets.UTF_8));
        } else {
          Control c = (Control) polledItem;
          got.add(c.type + (c.id == null ? "" : "@" + c.id));
        }
      }
    }

    @Override
    protected void closeTransport(int code, String reason) {
      got.add("closed " + code);
    }
  }

  /** A clock tests move by hand. */
  static final class FakeClock extends Clock {
    long millis = 1_000_000;

    @Override
    public long millis() {
      return millis;
    }

    @Override
    public Instant instant() {
      return Instant.ofEpochMilli(millis);
    }

    @Override
    public ZoneOffset getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }

  private Message msg(String text) {
    return msg(text, Long.MAX_VALUE);
  }

  private Message msg(String text, long expiresAt) {
    return new Message(
        ("\"" + text + "\"}").getBytes(StandardCharsets.UTF_8), clock.millis(), expiresAt);
  }

  private UserStream stream(int maxEvents, long maxAgeMs) {
    return new UserStream("alice", 0, maxEvents, maxAgeMs, clock.millis());
  }

  private Recorder connect(UserStream s, String lastEventId) {
    Recorder r = new Recorder(s, 100);
    EventCodec.EventId resume = lastEventId == null ? null : EventCodec.parseId(lastEventId);
    s.open(codec, resume, clock.millis(), replay(r));
    return r;
  }

  private StreamingReplay replay(Connection c) {
    return new StreamingReplay(
        c, null, position -> new Control("hello", null, "{}".getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void replaysEveryMissedEventExactlyOnceInOrder() {
    UserStream s = stream(10, 60_000);
    s.publish(msg("1"), clock.millis());
    s.publish(msg("2"), clock.millis());
    s.publish(msg("3"), clock.millis());
    Recorder r = connect(s, EPOCH + ":1");
    assertEquals(List.of("hello", "2:\"2\"}", "3:\"3\"}"), r.got);
    s.publish(msg("4"), clock.millis());
    assertEquals(List.of("hello", "2:\"2\"}", "3:\"3\"}", "4:\"4\"}"), r.got);
    Recorder upToDate = connect(s, EPOCH + ":4");
    assertEquals(List.of("hello"), upToDate.got);
  }

  @Test
  void aResumeFromAnyCoveredPositionOfAWrappedBufferReplaysExactlyTheEventsAfterIt() {
    UserStream s = stream(7, 60_000);
    for (int i = 1; i <= 23; i++) {
      s.publish(msg("m" + i), clock.millis()); // the ring wraps: its oldest event is not at 0
    }
    for (int from = 16; from <= 23; from++) {
      List<String> expected = new java.util.ArrayList<>(List.of("hello"));
      for (int i = from + 1; i <= 23; i++) {
        expected.add(i + ":\"m" + i + "\"}");
      }
      assertEquals(expected, connect(s, EPOCH + ":" + from).got, "from " + from);
    }
  }

  @Test
  void bufferOverflowGivesAResetAtTheLossFloorThenEverythingStillHeld() {
    UserStream s = stream(3, 60_000);
    for (int i = 1; i <= 5; i++) {
      s.publish(msg("m" + i), clock.millis());
    }
    // 1 and 2 were dropped: a client at 1 missed 2 -> reset at 2, then 3..5; a client at 2 is
    // covered.
    assertEquals(
        List.of("hello", "reset@" + EPOCH + ":2", "3:\"m3\"}", "4:\"m4\"}", "5:\"m5\"}"),
        connect(s, EPOCH + ":1").got);
    assertEquals(
        List.of("hello", "3:\"m3\"}", "4:\"m4\"}", "5:\"m5\"}"), connect(s, EPOCH + ":2").got);
  }

  @Test
  void ageLimitDropsEventsAndResetsClientsThatMissedThem() {
    UserStream s = stream(100, 1_000);
    s.publish(msg("old"), clock.millis());
    clock.millis += 1_000;
    s.publish(msg("new"), clock.millis());
    assertEquals(
        List.of("hello", "reset@" + EPOCH + ":1", "2:\"new\"}"), connect(s, EPOCH + ":0").got);
    assertEquals(List.of("hello", "2:\"new\"}"), connect(s, EPOCH + ":1").got);
  }

  @Test
  void anotherEpochGivesAnEpochResetThenEverythingTheStreamHolds() {
    // Issue 9 item 10: after a restart, events buffered by the new incarnation before the client
    // came back follow the reset; they were reported BUFFERED to the publisher.
    UserStream s = stream(10, 60_000);
    s.publish(msg("x"), clock.millis());
    s.publish(msg("y"), clock.millis());
    Recorder r = connect(s, "ffffffffffffffff:1");
    assertEquals(List.of("hello", "reset@" + EPOCH + ":0", "1:\"x\"}", "2:\"y\"}"), r.got);
  }

  @Test
  void aPositionAheadOfTheStreamIsAGap() {
    UserStream s = stream(10, 60_000);
    assertEquals(List.of("hello", "reset@" + EPOCH + ":0"), connect(s, EPOCH + ":7").got);
  }

  @Test
  void expiredTtlMessagesAreSkippedWithoutAReset() {
    UserStream s = stream(2, 60_000);
    s.publish(msg("short", clock.millis() + 10), clock.millis());
    s.publish(msg("keep"), clock.millis());
    clock.millis += 10;
    s.publish(msg("next"), clock.millis()); // pushes "short" out: expired, so not a loss
    assertEquals(List.of("hello", "2:\"keep\"}", "3:\"next\"}"), connect(s, EPOCH + ":0").got);
  }

  @Test
  void liveOnlyMessagesReachConnectionsButAreNeverReplayed() {
    UserStream s = stream(10, 60_000);
    Recorder live = connect(s, null);
    assertEquals(1, s.publish(msg("now", clock.millis()), clock.millis()));
    assertEquals(List.of("hello", "1:\"now\"}"), live.got);
    assertEquals(List.of("hello"), connect(s, EPOCH + ":0").got);
  }

  @Test
  void everyConnectionReceivesEveryEvent() {
    UserStream s = stream(10, 60_000);
    Recorder a = connect(s, null);
    Recorder b = connect(s, null);
    assertEquals(2, s.publish(msg("x"), clock.millis()));
    assertEquals(List.of("hello", "1:\"x\"}"), a.got);
    assertEquals(List.of("hello", "1:\"x\"}"), b.got);
    a.close(1000, "bye");
    assertEquals(1, s.publish(msg("y"), clock.millis()));
    assertEquals(List.of("hello", "1:\"x\"}", "closed 1000"), a.got);
    assertEquals(List.of("hello", "1:\"x\"}", "2:\"y\"}"), b.got);
  }

  @Test
  void aFullConnectionQueueIsHandedToTheOverflowPolicy() {
    UserStream s = stream(10, 60_000);
    Recorder slow =
        new Recorder(s, 2) {
          @Override
          protected void flush() {} // never drains
        };
    s.open(codec, null, clock.millis(), replay(slow));
    s.publish(msg("1"), clock.millis()); // hello + 1 fill the queue
    assertEquals(0, s.publish(msg("2"), clock.millis()));
    assertTrue(slow.isClosed());
    assertEquals(0, s.connectionCount());
    assertEquals(List.of("closed 4008"), slow.got);
  }

  @Test
  void aRecreatedStreamNeverReusesEventIds() {
    UserStreams streams = new UserStreams(10, 1_000, 100, clock);
    UserStream first = streams.getOrCreate("bob");
    for (int i = 0; i < 5; i++) {
      first.publish(msg("m" + i), clock.millis());
    }
    clock.millis += 1_000;
    assertEquals(1, streams.sweep());
    assertNull(streams.get("bob"));
    UserStream second = streams.getOrCreate("bob");
    second.publish(msg("fresh"), clock.millis());
    assertEquals(7, second.seq()); // above 5, the first incarnation's last ID and position
    // A client holding an ID of the first incarnation that missed events gets a reset, then what
    // the second incarnation holds.
    Recorder r = new Recorder(second, 100);
    second.open(codec, EventCodec.parseId(EPOCH + ":3"), clock.millis(), replay(r));
    assertEquals(List.of("hello", "reset@" + EPOCH + ":6", "7:\"fresh\"}"), r.got);
  }

  @Test
  void atTheStreamLimitAnIdleStreamIsEvictedAndItsSuccessorStartsAboveEveryIssuedId() {
    UserStreams streams = new UserStreams(10, 60_000, 2, clock);
    UserStream a = streams.getOrCreate("a");
    for (int i = 0; i < 3; i++) {
      a.publish(msg("a" + i), clock.millis());
    }
    clock.millis += 1;
    UserStream b = streams.getOrCreate("b");
    connect(b, null); // b has a live connection: never evicted
    clock.millis += 1;
    streams.getOrCreate("c");
    assertEquals(2, streams.size());
    assertNull(streams.get("a"));
    UserStream again = streams.getOrCreate("a");
    // Above a's last ID and above c (evicted to make room for it): 1..4 are never issued again.
    assertEquals(5, again.seq());
    assertEquals(List.of("hello", "reset@" + EPOCH + ":5"), connect(again, EPOCH + ":1").got);
    assertEquals(List.of("hello", "reset@" + EPOCH + ":5"), connect(again, EPOCH + ":3").got);
  }

  @Test
  void aStreamWhoseUserIsOfflineIsEvictedDespiteTrafficOnItsChannels() {
    // Issue 9 item 7: eviction follows connection inactivity, not publish activity.
    UserStreams streams = new UserStreams(10, 1_000, 100, clock);
    UserStream s = streams.getOrCreate("carol");
    Recorder r = new Recorder(s, 100);
    s.open(codec, null, java.util.Set.of("room"), Long.MAX_VALUE, clock.millis(), replay(r));
    r.close(1000, "bye");
    for (int i = 0; i < 6; i++) {
      clock.millis += 300;
      for (UserStream sub : streams.subscribers("room")) {
        sub.publish(
            new Message(
                "1}".getBytes(StandardCharsets.UTF_8), "room", clock.millis(), Long.MAX_VALUE),
            clock.millis());
      }
      streams.sweep();
    }
    assertNull(streams.get("carol"));
    assertEquals(java.util.Set.of(), streams.subscribers("room"));
  }

  @Test
  void aTokenGrantOutlivesItsConnectionUntilTheTokenExpires() {
    UserStreams streams = new UserStreams(10, 60_000, 100, clock);
    UserStream s = streams.getOrCreate("dave");
    Recorder r = new Recorder(s, 100);
    s.open(codec, null, java.util.Set.of("room"), clock.millis() + 500, clock.millis(), replay(r));
    r.close(1000, "bye"); // a long-poll between two requests keeps its channels
    streams.sweep();
    assertEquals(java.util.Set.of(s), streams.subscribers("room"));
    clock.millis += 500;
    streams.sweep();
    assertEquals(java.util.Set.of(), streams.subscribers("room"));
    assertEquals(java.util.Set.of(), s.channels());
  }
}
