package dev.halley.node.publish;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.MutableClock;
import java.util.List;
import org.junit.jupiter.api.Test;

class IdempotencyTest {
  private static final boolean[] OWNED = {true};
  private final MutableClock clock = new MutableClock(1_000_000);

  @Test
  void outcomesAreRememberedPerRecipientForTheWindow() {
    Idempotency keys = new Idempotency(1_000, 100, 1 << 20, clock);
    int[] first = keys.reserveUsers("k1", List.of("alice"), OWNED);
    assertArrayEquals(new int[] {Idempotency.NEW}, first);
    assertArrayEquals(
        new int[] {Idempotency.IN_FLIGHT, Idempotency.NEW},
        keys.reserveUsers("k1", List.of("alice", "bob"), new boolean[] {true, true}));
    assertArrayEquals(
        new int[] {Idempotency.IN_FLIGHT, Idempotency.IN_FLIGHT, Idempotency.NEW},
        keys.reserveUsers("k1", List.of("bob", "alice", "carol"), new boolean[] {true, true, true}),
        "users added later keep their places");
    keys.completeUsers("k1", List.of("alice"), first, new int[] {Idempotency.delivered(3)});
    int[] again = keys.reserveUsers("k1", List.of("alice"), OWNED);
    assertTrue(Idempotency.isDelivered(again[0]));
    assertEquals(3, Idempotency.connections(again[0]));
    clock.advanceMillis(1_000);
    assertArrayEquals(
        new int[] {Idempotency.NEW},
        keys.reserveUsers("k1", List.of("alice"), OWNED),
        "the window passed");
  }

  @Test
  void aRecipientNotOwnedIsNeverRemembered() {
    Idempotency keys = new Idempotency(1_000, 100, 1 << 20, clock);
    assertArrayEquals(
        new int[] {Idempotency.MISDIRECTED},
        keys.reserveUsers("k", List.of("carol"), new boolean[] {false}));
    assertArrayEquals(new int[] {Idempotency.NEW}, keys.reserveUsers("k", List.of("carol"), OWNED));
  }

  @Test
  void channelsAreRecipientsToo() {
    Idempotency keys = new Idempotency(1_000, 100, 1 << 20, clock);
    assertNull(keys.reserveChannel("k", "room:1"));
    assertEquals(0, keys.reserveChannel("k", "room:1").length, "in flight");
    keys.completeChannel("k", "room:1", 4, 7);
    assertArrayEquals(new long[] {4, 7}, keys.reserveChannel("k", "room:1"));
    assertNull(keys.reserveChannel("k", "room:2"));
  }

  @Test
  void boundedByKeysAndByBytesOldestFirst() {
    Idempotency byCount = new Idempotency(60_000, 2, 1 << 20, clock);
    byCount.reserveUsers("k1", List.of("u"), OWNED);
    byCount.reserveUsers("k2", List.of("u"), OWNED);
    byCount.reserveUsers("k3", List.of("u"), OWNED);
    assertEquals(2, byCount.keys());
    assertArrayEquals(new int[] {Idempotency.NEW}, byCount.reserveUsers("k1", List.of("u"), OWNED));

    long perKey = Idempotency.KEY_BYTES + 2 + Idempotency.USER_BYTES;
    Idempotency byBytes = new Idempotency(60_000, 1000, 3 * perKey, clock);
    for (int i = 0; i < 10; i++) {
      byBytes.reserveUsers("k" + i, List.of("u"), OWNED);
      assertTrue(byBytes.bytes() <= 3 * perKey, "bytes " + byBytes.bytes());
    }
    assertEquals(3, byBytes.keys());
    assertEquals(3 * perKey, byBytes.bytes());
    // A key with many recipients counts each of them (30 users: it fits alone, not with others).
    List<String> many = new java.util.ArrayList<>();
    for (int i = 0; i < 30; i++) {
      many.add("user-" + i);
    }
    boolean[] owned = new boolean[many.size()];
    java.util.Arrays.fill(owned, true);
    byBytes.reserveUsers("big", many, owned);
    assertEquals(1, byBytes.keys(), "the big key pushed out the others");
    assertEquals(Idempotency.KEY_BYTES + 3 + 30 * Idempotency.USER_BYTES, byBytes.bytes());
  }

  @Test
  void positionsOfTheFirstOutcomeAreKeptOnlyForReportedUsersAndCountedInBytes() {
    Idempotency keys = new Idempotency(60_000, 100, 1 << 20, clock);
    List<String> users = List.of("mover", "stayer", "other-mover");
    boolean[] owned = {true, true, true};
    int[] reserved = keys.reserveUsers("k", users, owned);
    long before = keys.bytes();
    int b = Idempotency.BUFFERED;
    keys.completeUsers(
        "k",
        keys.digests(users),
        reserved,
        new int[] {b, b, b},
        new long[] {17, Idempotency.NO_POSITION, 40});
    assertEquals(before + 2 * Idempotency.USER_POSITION_BYTES, keys.bytes(), "two positions");
    assertArrayEquals(
        new long[] {40, Idempotency.NO_POSITION, 17},
        keys.positions("k", List.of("other-mover", "stayer", "mover")));
    assertNull(keys.positions("unknown-key", List.of("mover")));

    assertNull(keys.reserveChannel("c", "room"));
    long channelBefore = keys.bytes();
    keys.completeChannel(
        "c",
        "room",
        3,
        4,
        new Idempotency.ChannelPositions(new String[] {"mover"}, new long[] {9}));
    assertEquals(
        channelBefore + Idempotency.CHANNEL_POSITION_BYTES + "mover".length(), keys.bytes());
    Idempotency.ChannelPositions kept = keys.channelPositions("c", "room");
    assertArrayEquals(new String[] {"mover"}, kept.users());
    assertArrayEquals(new long[] {9}, kept.seqs());
    assertArrayEquals(new long[] {3, 4}, keys.reserveChannel("c", "room"));
  }
}
