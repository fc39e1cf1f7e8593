package dev.halley.bench;

import dev.halley.node.stream.Connection;
import dev.halley.node.stream.UserStream;
import dev.halley.node.stream.UserStreams;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.Message;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * The node's CPU cost of one channel message to {@code users} subscribers on one thread, without
 * sockets: the message is serialized once, appended to each subscriber's stream and queued on its
 * connection, and each connection encodes it as an SSE frame into a reused buffer (what the IO
 * thread does before the socket write). The score is per channel message; divided by {@code users}
 * it is per delivery. Was node's hand-written {@code FanOutBenchmark} main.
 *
 * <pre>
 * ./mvnw -q -pl bench -am package -DskipTests
 * java -jar bench/target/benchmarks.jar FanOut
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class FanOutBenchmark {
  @Param({"10000"})
  int users;

  private static final byte[] DATA =
      "{\"text\":\"hello, a message of about a hundred bytes in a chat room\",\"from\":\"alice\"}"
          .getBytes(StandardCharsets.UTF_8);
  private static final byte[] SUFFIX = ",\"channel\":\"room\"}".getBytes(StandardCharsets.US_ASCII);

  private UserStreams streams;

  /** A connection that encodes every event into one reused buffer, as SSE does per write. */
  static final class EncodingConnection extends Connection {
    private static final ByteBuffer OUT = ByteBuffer.allocateDirect(64 * 1024); // one per IO thread
    private final EventCodec codec;
    long bytes;

    EncodingConnection(UserStream s, EventCodec codec) {
      super(s, Runnable::run, 4096);
      this.codec = codec;
    }

    @Override
    public String transport() {
      return "bench";
    }

    @Override
    protected void flush() {
      while (poll()) {
        if (OUT.remaining() < codec.sseSize(polledSeq, polledItem)) {
          bytes += OUT.position();
          OUT.clear();
        }
        codec.putSse(OUT, polledSeq, polledItem);
      }
    }

    @Override
    protected void closeTransport(int code, String reason) {}
  }

  @Setup
  public void setUp(BenchmarkParams params) {
    EventCodec codec = new EventCodec(EventCodec.newEpoch());
    streams = new UserStreams(1000, 300_000, users * 2, Clock.systemUTC());
    for (int i = 0; i < users; i++) {
      UserStream s = streams.getOrCreate("user-" + i);
      streams.subscribe(s.user(), "room");
      EncodingConnection c = new EncodingConnection(s, codec);
      s.open(codec, null, 0, (p, cur, r, seqs, msgs, n, now) -> c);
    }
  }

  /**
   * One channel message to every subscriber; the score divided by {@code users} is per delivery.
   */
  @Benchmark
  public long channelMessageToEverySubscriber() {
    long now = System.currentTimeMillis();
    byte[] tail = Arrays.copyOf(DATA, DATA.length + SUFFIX.length);
    System.arraycopy(SUFFIX, 0, tail, DATA.length, SUFFIX.length);
    Message m = new Message(tail, now, Long.MAX_VALUE);
    long deliveries = 0;
    for (UserStream s : streams.subscribers("room")) {
      deliveries += s.publish(m, now);
    }
    return deliveries;
  }
}
