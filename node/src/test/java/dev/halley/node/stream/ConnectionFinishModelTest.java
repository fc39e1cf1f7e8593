package dev.halley.node.stream;

import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.EventTypes;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Validate;
import org.junit.jupiter.api.Test;

/**
 * Model-checked (Lincheck): a connection's last control event and its finish code are set together,
 * so the IO thread's flush can never close a finishing connection before writing the event (issue 9
 * item 6). {@code finish} (a map change or drain thread) runs against the connection's IO thread
 * (running what is scheduled, then ending the connection if it is finished) in every interleaving;
 * afterwards the IO thread runs to quiescence and the connection must have written {@code moved}
 * and then closed with 4009.
 */
public class ConnectionFinishModelTest {
  private static final byte[] MOVED = "{\"type\":\"moved\"}".getBytes(StandardCharsets.US_ASCII);

  /** A recorder whose flush, like the transports', ends a finishing connection once drained. */
  static final class Flushing extends UserStreamTest.Recorder {
    Flushing(UserStream stream, ConcurrentLinkedQueue<Runnable> io) {
      super(stream, 10, io::add);
    }

    @Override
    protected void flush() {
      super.flush();
      closeIfFinished();
    }
  }

  private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private final UserStream stream = new UserStream("alice", 0, 10, 60_000, 0);
  private final Flushing conn = new Flushing(stream, tasks);
  private volatile boolean finished;

  public ConnectionFinishModelTest() {
    stream.open(new EventCodec("00112233445566ff"), null, 0, (p, c, r, s, m, n, t) -> conn);
    runAll(); // hello... nothing: the sink queued nothing
  }

  private void runAll() {
    for (Runnable r; (r = tasks.poll()) != null; ) {
      r.run();
    }
  }

  /** The map change: the user moved away. */
  @Operation(nonParallelGroup = "finish")
  public void finish() {
    conn.finish(EventTypes.MOVED, MOVED, CloseCodes.MOVED, "moved", 5_000);
    finished = true;
  }

  /** One round of the connection's IO thread. */
  @Operation(nonParallelGroup = "io")
  public void ioRound() {
    runAll();
    conn.closeIfFinished();
  }

  @Validate
  public void movedIsWrittenBeforeTheClose() {
    runAll();
    conn.closeIfFinished();
    if (!finished) {
      return;
    }
    List<String> got = conn.got;
    if (got.isEmpty() || !got.get(0).equals("moved") || !got.contains("closed 4009")) {
      throw new IllegalStateException("the last event was lost: " + got);
    }
  }

  @Test
  void aFlushRacingFinishNeverClosesBeforeTheMovedEventIsWritten() {
    new ModelCheckingOptions()
        .iterations(10)
        .invocationsPerIteration(200)
        .threads(2)
        .actorsPerThread(1)
        .actorsBefore(0)
        .actorsAfter(0)
        .invocationTimeout$lincheck(120_000)
        .check(ConnectionFinishModelTest.class);
  }
}
