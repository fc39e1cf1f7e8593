package dev.halley.node.stream;

import dev.halley.node.wire.EventCodec;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Set;
import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.jetbrains.lincheck.datastructures.StringGen;
import org.jetbrains.lincheck.datastructures.Validate;
import org.junit.jupiter.api.Test;

/**
 * Model-checked linearizability (Lincheck) of the stream registry and the channel index (issue 9
 * item 4; the specific join-versus-last-leave race is stressed in {@link ChannelIndexStressTest}):
 * API subscriptions, token grants, map-change drops and channel lookups run concurrently for two
 * users on one channel. After every execution the index must equal the channel sets of the
 * registered streams: no subscriber lost by a join racing the last member's leave, no evicted
 * stream indexed again.
 */
@Param(name = "user", gen = StringGen.class, conf = "1:ab")
public class StreamRegistryModelTest {
  private static final String CHANNEL = "room";
  private static final EventCodec CODEC = new EventCodec("00112233445566ff");
  private static final Clock CLOCK = Clock.fixed(Instant.ofEpochMilli(1_000), ZoneOffset.UTC);

  private final UserStreams streams = new UserStreams(10, 60_000, 100, CLOCK);

  public StreamRegistryModelTest() {}

  @Operation
  public Set<String> subscribe(@Param(name = "user") String user) {
    return streams.subscribe(user, CHANNEL);
  }

  @Operation
  public Set<String> unsubscribe(@Param(name = "user") String user) {
    return streams.unsubscribe(user, CHANNEL);
  }

  /** A connection whose token grants the channel registers, then ends. */
  @Operation
  public void connectWithGrant(@Param(name = "user") String user) {
    while (true) {
      UserStream s = streams.getOrCreate(user);
      UserStreamTest.Recorder c = new UserStreamTest.Recorder(s, 10);
      if (s.open(
          CODEC, null, Set.of(CHANNEL), Long.MAX_VALUE, 1_000, (p, cur, r, q, m, n, t) -> c)) {
        c.close(1000, "bye");
        return;
      }
    }
  }

  /**
   * A map change drops the user's stream. Its result is not compared: a drop racing a connection's
   * close may see the connection still attached, which the map change handles by finishing it.
   */
  @Operation
  public void drop(@Param(name = "user") String user) {
    UserStream s = streams.get(user);
    if (s != null) {
      streams.drop(s);
    }
  }

  @Operation
  public boolean indexed(@Param(name = "user") String user) {
    UserStream s = streams.get(user);
    return s != null && streams.subscribers(CHANNEL).contains(s);
  }

  @Validate
  public void indexEqualsTheRegisteredStreamsChannels() {
    for (UserStream s : streams.snapshot().values()) {
      boolean member = streams.subscribers(CHANNEL).contains(s);
      if (s.channels().contains(CHANNEL) != member) {
        throw new IllegalStateException("index disagrees with " + s + " " + s.channels());
      }
    }
    for (UserStream s : streams.subscribers(CHANNEL)) {
      if (s.isEvicted() || streams.get(s.user()) != s) {
        throw new IllegalStateException("indexed but not registered: " + s);
      }
    }
  }

  @Test
  void registryAndChannelIndexAreLinearizable() {
    new ModelCheckingOptions()
        .iterations(8)
        .invocationsPerIteration(150)
        .threads(2)
        .actorsPerThread(2)
        .actorsBefore(1)
        .actorsAfter(1)
        .invocationTimeout$lincheck(120_000)
        .check(StreamRegistryModelTest.class);
  }
}
