package dev.halley.node.transport.poll;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.Message;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** A batch's JSON and its size, and a thread's spare batch given back and taken again. */
class BatchTest {
  private static final EventCodec CODEC = new EventCodec("0123456789abcdef");

  private static Message message(String data, String key) {
    return new Message((data + "}").getBytes(StandardCharsets.UTF_8), 0, Long.MAX_VALUE, key);
  }

  private static String json(Batch b) {
    ByteBuffer buffer = ByteBuffer.allocate(b.jsonSize(CODEC));
    b.putJson(buffer, CODEC);
    assertEquals(0, buffer.remaining(), "jsonSize is what putJson writes");
    return new String(buffer.array(), StandardCharsets.UTF_8);
  }

  @Test
  void aConflatedBatchHasTheSizeOfWhatItWrites() {
    Batch b = new Batch(0);
    b.add(1, message("1", "k"));
    b.add(2, message("2", null));
    b.add(3, message("3", "k"));
    assertEquals(1, b.conflated());
    assertEquals(
        "{\"events\":[{\"type\":\"message\",\"id\":\"0123456789abcdef:2\",\"data\":2},"
            + "{\"type\":\"message\",\"id\":\"0123456789abcdef:3\",\"data\":3}],"
            + "\"lastEventId\":\"0123456789abcdef:3\"}",
        json(b));
  }

  @Test
  void aSpareBatchGivenBackIsTakenEmptyAtItsNewPosition() {
    Batch first = Batch.take(0);
    for (int i = 1; i <= 100; i++) { // grown past the usual size
      first.add(i, message(String.valueOf(i), i % 2 == 0 ? "k" : null));
    }
    first.give();
    Batch again = Batch.take(7);
    assertEquals(first, again, "the spare is reused");
    assertEquals(0, again.size());
    assertEquals(0, again.conflated());
    assertEquals("{\"events\":[],\"lastEventId\":\"0123456789abcdef:7\"}", json(again));
    again.add(8, message("8", "k")); // no key left from before: nothing conflated
    assertEquals(0, again.conflated());
    assertEquals(
        "{\"events\":[{\"type\":\"message\",\"id\":\"0123456789abcdef:8\",\"data\":8}],"
            + "\"lastEventId\":\"0123456789abcdef:8\"}",
        json(again));
    Batch nested = Batch.take(9);
    assertEquals(false, nested == again, "a batch in use is not taken again");
    again.give();
  }
}
