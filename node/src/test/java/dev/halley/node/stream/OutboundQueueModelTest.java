package dev.halley.node.stream;

import dev.halley.node.wire.Message;
import java.nio.charset.StandardCharsets;
import org.jetbrains.lincheck.datastructures.IntGen;
import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.jetbrains.lincheck.datastructures.Validate;
import org.junit.jupiter.api.Test;

/**
 * Model-checked linearizability (Lincheck) of a connection's outbound queue: publishers offer keyed
 * and unkeyed messages while the IO thread takes them and the transport pins and releases bytes in
 * flight, in every interleaving. The queue's parts ({@link OutboundRing}, {@link QueueBytes}) are
 * guarded by the connection's lock, so each operation must look atomic: conflation, the event bound
 * (2), the byte bound (180 bytes beyond the replay; a message pins 66) and the overflow that ends
 * the queue. Afterwards the queue drains to nothing left queued.
 */
@Param(name = "seq", gen = IntGen.class, conf = "1:4")
@Param(name = "key", gen = IntGen.class, conf = "0:2")
public class OutboundQueueModelTest {
  private final QueueOnly queue = new QueueOnly(2);

  public OutboundQueueModelTest() {
    queue.operations(null, 180);
    queue.replayQueued();
  }

  /** A publisher's message: key 0 is none, else {@code k1} or {@code k2}. */
  @Operation
  public boolean offer(@Param(name = "seq") int seq, @Param(name = "key") int key) {
    byte[] tail = (seq + "}").getBytes(StandardCharsets.UTF_8);
    return queue.offer(seq, new Message(tail, 0, Long.MAX_VALUE, key == 0 ? null : "k" + key));
  }

  /** The IO thread takes the next event: its seq and key, or nothing. */
  @Operation(nonParallelGroup = "io")
  public String poll() {
    if (!queue.poll()) {
      return "none";
    }
    return queue.polledSeq + "/" + ((Message) queue.polledItem).conflationKey;
  }

  /** The transport holds a frame of 100 bytes, then releases it. */
  @Operation(nonParallelGroup = "io")
  public long pinAndRelease(@Param(name = "key") int pin) {
    queue.pinned(pin == 0 ? -100 : 100);
    return queue.pinnedBytes();
  }

  @Operation
  public int queued() {
    return queue.queued();
  }

  @Operation
  public long conflated() {
    return queue.conflated();
  }

  @Validate
  public void drainsToNothingQueued() {
    int n = queue.queued();
    int taken = 0;
    while (queue.poll()) {
      taken++;
    }
    if (taken != n || queue.queued() != 0) {
      throw new IllegalStateException("queued " + n + " but took " + taken + ": " + queue);
    }
  }

  @Test
  void offersTakesAndPinsAreLinearizable() {
    new ModelCheckingOptions()
        .iterations(20)
        .invocationsPerIteration(200)
        .threads(3)
        .actorsPerThread(2)
        .actorsBefore(1)
        .actorsAfter(1)
        .invocationTimeout$lincheck(120_000)
        .check(OutboundQueueModelTest.class);
  }
}
