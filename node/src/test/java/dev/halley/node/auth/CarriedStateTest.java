package dev.halley.node.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Issue 14: the carried state's JWS round trip and each refusal, with the time given. */
class CarriedStateTest {
  private static final String SECRET = "test-secret-0123456789abcdef-0123456789";
  private static final long NOW = 1_800_000_000_000L;

  private static CarriedState state() {
    return new CarriedState(
        "alice",
        4,
        NOW + 60_000,
        false,
        List.of("room:1", "room:2"),
        NOW + 3_600_000,
        "spam",
        NOW - 1_000,
        NOW + 86_400_000,
        Map.of("d7", NOW + 600_000));
  }

  @Test
  void aSignedStateVerifiesToTheSameEntries() throws Exception {
    CarriedState s = CarriedState.verify(state().sign(SECRET), SECRET, "alice", 4, NOW);
    assertEquals(state(), s);
    assertEquals(5, s.entries());
  }

  @Test
  void anotherSecretOrUserIsInvalidAnExpiredOrOtherVersionIsStale() {
    String jws = state().sign(SECRET);
    String other = "another-secret-0123456789abcdef-012345";
    assertTrue(
        assertThrows(
                CarriedState.Refused.class, () -> CarriedState.verify(jws, other, "alice", 4, NOW))
            .invalid);
    assertTrue(
        assertThrows(
                CarriedState.Refused.class, () -> CarriedState.verify(jws, SECRET, "bob", 4, NOW))
            .invalid);
    assertTrue(
        assertThrows(
                CarriedState.Refused.class,
                () -> CarriedState.verify("not.a.jws", SECRET, "alice", 4, NOW))
            .invalid);
    assertFalse(
        assertThrows(
                CarriedState.Refused.class,
                () -> CarriedState.verify(jws, SECRET, "alice", 4, NOW + 60_000))
            .invalid);
    assertFalse(
        assertThrows(
                CarriedState.Refused.class, () -> CarriedState.verify(jws, SECRET, "alice", 5, NOW))
            .invalid);
  }

  @Test
  void anUnsignedStateIsInvalid() {
    String[] parts = state().sign(SECRET).split("\\.");
    // {"alg":"none"} with the same claims and no signature.
    String none =
        java.util.Base64.getUrlEncoder()
                .withoutPadding()
                .encodeToString("{\"alg\":\"none\"}".getBytes())
            + "."
            + parts[1]
            + ".";
    assertTrue(
        assertThrows(
                CarriedState.Refused.class,
                () -> CarriedState.verify(none, SECRET, "alice", 4, NOW))
            .invalid);
  }

  @Test
  void aUserOverTheBoundCarriesNothingButOver() {
    AccessList list = new AccessList(10);
    list.revokeJti("alice", "d1", NOW + 1_000, NOW);
    CarriedState s = list.carry("alice", List.of("room:1"), 4, NOW + 1_000, 1, NOW);
    assertTrue(s.over());
    assertEquals(0, s.entries());
    assertEquals(2, list.carry("alice", List.of("room:1"), 4, NOW + 1_000, 2, NOW).entries());
    assertEquals(null, list.carry("bob", List.of(), 4, NOW + 1_000, 2, NOW));
  }

  @Test
  void mergeKeepsTheLocalBlockAndAnUnblockWinsRevocationsAdd() {
    AccessList list = new AccessList(10);
    list.block("alice", NOW + 5_000, "local", NOW);
    list.merge(state(), false, NOW);
    assertEquals(NOW + 5_000, list.describe("alice", NOW).get("blockedUntil").asLong());
    assertEquals("[\"d7\"]", list.describe("alice", NOW).get("revokedJtis").toString());
    AccessList unblocked = new AccessList(10);
    unblocked.merge(state(), true, NOW);
    assertTrue(unblocked.describe("alice", NOW).get("blockedUntil").isNull());
    AccessList fresh = new AccessList(10);
    fresh.merge(state(), false, NOW);
    assertEquals(NOW + 3_600_000, fresh.describe("alice", NOW).get("blockedUntil").asLong());
  }
}
