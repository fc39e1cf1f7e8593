package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.wire.Message;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The connection queue's conflation, under a concurrent producer and consumer (bounded stress). */
class ConnectionConflationTest {
  private static Message message(long i, String key) {
    return new Message((i + "}").getBytes(StandardCharsets.UTF_8), 0, Long.MAX_VALUE, key);
  }

  @Test
  void unkeyedMessagesAllArriveInOrderAndEachKeyEndsWithItsLatestValue() throws Exception {
    for (int round = 0; round < 20; round++) {
      QueueOnly q = new QueueOnly(100_000);
      int n = 20_000;
      AtomicBoolean done = new AtomicBoolean();
      Thread producer =
          new Thread(
              () -> {
                for (long i = 1; i <= n; i++) {
                  String key = i % 3 == 0 ? null : "k" + (i % 5);
                  assertTrue(q.offer(i, message(i, key)));
                }
                done.set(true);
              });
      List<Long> got = new ArrayList<>();
      producer.start();
      while (true) {
        boolean finished = done.get();
        if (q.poll()) {
          got.add(q.polledSeq);
        } else if (finished) {
          break;
        } else {
          Thread.onSpinWait();
        }
      }
      producer.join();
      long last = 0;
      Map<Long, Long> lastOfKey = new HashMap<>();
      int unkeyed = 0;
      for (long seq : got) {
        assertTrue(seq > last, "out of order: " + seq + " after " + last);
        last = seq;
        if (seq % 3 == 0) {
          unkeyed++;
        } else {
          lastOfKey.put(seq % 5, seq);
        }
      }
      assertEquals(n / 3, unkeyed, "a message without a key was lost");
      for (long k = 0; k < 5; k++) {
        long latest = 0;
        for (long i = n; i >= 1; i--) {
          if (i % 3 != 0 && i % 5 == k) {
            latest = i;
            break;
          }
        }
        assertEquals(latest, lastOfKey.get(k), "key k" + k + " does not end with its latest value");
      }
      assertEquals(0, q.queued());
      assertEquals(n - got.size(), q.conflated());
    }
  }
}
