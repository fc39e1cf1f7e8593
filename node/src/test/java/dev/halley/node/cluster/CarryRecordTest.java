package dev.halley.node.cluster;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Issue 14: the new owner's record of unsubscribes and unblocks, its lifetime and its bound. */
class CarryRecordTest {
  @Test
  void aCallIsRecordedForTtlThenForgotten() {
    CarryRecord r = new CarryRecord(1_000, 10);
    r.unsubscribed("alice", "room", 0);
    r.unblocked("bob", 0);
    assertTrue(r.unsubscribedHere("alice", "room", 999));
    assertFalse(r.unsubscribedHere("alice", "other", 999));
    assertFalse(r.unsubscribedHere("bob", "room", 999));
    assertTrue(r.unblockedHere("bob", 999));
    assertFalse(r.unblockedHere("alice", 999));
    assertFalse(r.unsubscribedHere("alice", "room", 1_000));
    assertFalse(r.unblockedHere("bob", 1_000));
  }

  @Test
  void aFullRecordOverflowsForTtlInsteadOfDroppingACall() {
    CarryRecord r = new CarryRecord(1_000, 2);
    r.unsubscribed("a", "x", 0);
    r.unsubscribed("b", "x", 0);
    assertFalse(r.overflowed(0));
    r.unsubscribed("c", "x", 10);
    assertTrue(r.overflowed(10));
    assertTrue(r.overflowed(1_009));
    assertFalse(r.overflowed(1_010));
    // Expired calls make room again.
    r.unsubscribed("d", "x", 1_010);
    assertTrue(r.unsubscribedHere("d", "x", 1_010));
  }
}
