package dev.halley.node.stream;

import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.Message;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;

/**
 * Measures the node's per-delivery CPU cost on one thread, without sockets: a channel message is
 * serialized once, appended to each subscriber's stream and queued on its connection, and each
 * connection encodes it as an SSE frame into a reused buffer (what the IO thread does before the
 * socket write). Not a test; run:
 *
 * <pre>
 * ./mvnw -q -o -pl node test-compile
 * java -cp "node/target/test-classes:node/target/classes:$(cat /tmp/cp.txt)" \
 *   dev.halley.node.stream.FanOutBenchmark
 * </pre>
 *
 * (with {@code ./mvnw -q -o -pl node dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt}).
 */
public final class FanOutBenchmark {
  /** A connection that encodes every event into one reused buffer, as SSE does per write. */
  static final class EncodingConnection extends Connection {
    private final EventCodec codec;
    private static final ByteBuffer out = ByteBuffer.allocateDirect(64 * 1024); // one per IO thread
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
        if (out.remaining() < codec.sseSize(polledSeq, polledItem)) {
          bytes += out.position();
          out.clear();
        }
        codec.putSse(out, polledSeq, polledItem);
      }
    }

    @Override
    protected void closeTransport(int code, String reason) {}
  }

  public static void main(String[] args) {
    int users = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 300;
    EventCodec codec = new EventCodec(EventCodec.newEpoch());
    UserStreams streams = new UserStreams(1000, 300_000, users * 2, Clock.systemUTC());
    EncodingConnection[] conns = new EncodingConnection[users];
    for (int i = 0; i < users; i++) {
      UserStream s = streams.getOrCreate("user-" + i);
      streams.subscribe(s.user, "room");
      EncodingConnection c = new EncodingConnection(s, codec);
      s.open(codec, null, 0, (p, cur, r, seqs, msgs, n, now) -> c);
      conns[i] = c;
    }
    byte[] data =
        "{\"text\":\"hello, a message of about a hundred bytes in a chat room\",\"from\":\"alice\"}"
            .getBytes(StandardCharsets.UTF_8);
    for (int pass = 0; pass < 2; pass++) {
      long deliveries = 0;
      long t0 = System.nanoTime();
      for (int r = 0; r < rounds; r++) {
        long now = System.currentTimeMillis();
        byte[] tail = new byte[data.length + 16];
        System.arraycopy(data, 0, tail, 0, data.length);
        byte[] suffix = ",\"channel\":\"room\"}".getBytes(StandardCharsets.US_ASCII);
        tail = java.util.Arrays.copyOf(tail, data.length + suffix.length);
        System.arraycopy(suffix, 0, tail, data.length, suffix.length);
        Message m = new Message(tail, now, Long.MAX_VALUE);
        for (UserStream s : streams.subscribers("room")) {
          deliveries += s.publish(m, now);
        }
      }
      long ns = System.nanoTime() - t0;
      System.out.printf(
          "%s: %d deliveries in %.2f s: %.0f deliveries/s, %.2f us per delivery (one thread)%n",
          pass == 0 ? "warm-up" : "measured",
          deliveries,
          ns / 1e9,
          deliveries / (ns / 1e9),
          ns / 1e3 / deliveries);
    }
  }
}
