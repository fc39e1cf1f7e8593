package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.wire.Message;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The queue's slots ({@link OutboundRing}) against a plain list as the model: random adds (keyed
 * and not), conflations, takes and clears, from fixed seeds, with a small and a large bound so the
 * ring wraps, grows, compacts its tombstones when full and shrinks when emptied. The ring is used
 * under its connection's lock; its concurrent use is checked in {@link OutboundQueueModelTest}.
 */
class OutboundRingTest {
  private record Entry(long seq, Message m) {}

  private static Message message(long seq, String key) {
    return new Message((seq + "}").getBytes(StandardCharsets.UTF_8), 0, Long.MAX_VALUE, key);
  }

  @Test
  void takesWhatWasAddedInOrderLessWhatWasConflated() {
    for (int max : new int[] {1, 3, 7, 200}) {
      for (long seed = 1; seed <= 20; seed++) {
        run(max, new Random(seed), "max " + max + ", seed " + seed);
      }
    }
  }

  private static void run(int max, Random random, String label) {
    OutboundRing ring = new OutboundRing(max);
    List<Entry> model = new ArrayList<>();
    long seq = 0;
    int peakCapacity = 0;
    for (int step = 0; step < 5_000; step++) {
      // Phases of 500 steps, mostly adds then mostly takes, so the queue fills and empties.
      boolean filling = step % 1_000 < 500;
      int op = random.nextInt(100);
      String at = label + ", step " + step;
      if (op < (filling ? 85 : 15)) {
        // A publisher's offer: a keyed message first replaces the queued one with its key.
        String key = random.nextBoolean() ? null : "k" + random.nextInt(8);
        Message m = message(++seq, key);
        if (key != null) {
          Entry old = null;
          for (Entry e : model) {
            if (key.equals(e.m.conflationKey)) {
              old = e;
            }
          }
          model.remove(old);
          assertSame(old == null ? null : old.m, ring.supersede(key), at);
        }
        boolean full = model.size() == max;
        assertEquals(full, ring.isFull(), at);
        if (!full) {
          ring.add(seq, m);
          model.add(new Entry(seq, m));
        }
      } else if (op < 99) {
        Object head = ring.peek();
        if (model.isEmpty()) {
          assertNull(head, at);
          assertEquals(0, ring.slots(), at);
        } else {
          Entry first = model.remove(0);
          assertSame(first.m, head, at);
          assertEquals(first.seq, ring.peekSeq(), at);
          ring.removeHead();
        }
      } else {
        ring.clear();
        model.clear();
      }
      assertEquals(model.size(), ring.live(), at);
      assertTrue(ring.slots() <= max, at + ": " + ring.slots() + " slots");
      peakCapacity = Math.max(peakCapacity, ring.capacity());
      assertTrue(ring.capacity() <= Math.max(4, max), at + ": capacity " + ring.capacity());
    }
    while (ring.peek() != null) {
      ring.removeHead();
    }
    assertEquals(0, ring.live(), label);
    assertTrue(ring.capacity() <= 64, label + ": an emptied ring keeps " + ring.capacity());
    if (max == 200) {
      assertTrue(peakCapacity > 64, label + ": the ring never grew past 64: " + peakCapacity);
    }
  }

  @Test
  void aFullRingOfTombstonesIsCompactedBeforeItRefuses() {
    OutboundRing ring = new OutboundRing(2);
    ring.add(1, message(1, "a"));
    ring.add(2, message(2, "b"));
    assertTrue(ring.isFull());
    assertEquals(1, ((Message) ring.supersede("a")).tail[0] - '0');
    assertEquals(2, ring.slots());
    assertEquals(1, ring.live());
    assertTrue(!ring.isFull(), "a tombstone takes no place once the ring is full");
    ring.add(3, message(3, "a"));
    assertEquals(2, ring.peekSeq() == 2 && ring.peek() != null ? 2 : -1);
    ring.removeHead();
    assertEquals(3, ring.peek() == null ? -1 : ring.peekSeq());
  }
}
