package dev.halley.node.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.halley.node.wire.HttpError;
import java.util.Set;
import org.junit.jupiter.api.Test;

class AccessListTest {
  private static TokenVerifier.Principal token(String user, String jti, long iat) {
    return new TokenVerifier.Principal(user, Set.of(), 10_000_000, 10_000_000, jti, iat);
  }

  @Test
  void aBlockRefusesUntilItsInstantAndThenIsForgotten() {
    AccessList list = new AccessList(10);
    list.block("alice", 2_000, "spam", 1_000);
    AccessList.Refusal r = list.check(token("alice", null, 0), 1_999);
    assertEquals("user_blocked", r.code());
    assertEquals(2_000, r.untilMs());
    assertEquals("spam", r.reason());
    assertNull(list.check(token("alice", null, 0), 2_000));
    assertNull(list.check(token("bob", null, 0), 1_500));
    assertEquals(1, list.size());
    assertEquals(0, list.sweep(2_000));
  }

  @Test
  void revocationsMatchTheirJtiOrTokensIssuedBeforeTheInstant() {
    AccessList list = new AccessList(10);
    list.revokeJti("alice", "phone", 5_000, 1_000);
    list.revokeIssuedBefore("bob", 3_000, 9_000, 1_000);
    assertEquals("token_revoked", list.check(token("alice", "phone", 0), 1_000).code());
    assertNull(list.check(token("alice", "laptop", 0), 1_000));
    assertNull(list.check(token("alice", null, 0), 1_000));
    assertEquals("token_revoked", list.check(token("bob", null, 2_999), 1_000).code());
    assertEquals(
        "token_revoked",
        list.check(token("bob", null, TokenVerifier.Principal.NO_IAT), 1_000).code());
    assertNull(list.check(token("bob", null, 3_000), 1_000));
    // An earlier instant does not shorten a later one.
    list.revokeIssuedBefore("bob", 2_000, 9_000, 1_000);
    assertEquals("token_revoked", list.check(token("bob", null, 2_500), 1_000).code());
    assertEquals(2, list.size());
    assertNull(list.check(token("alice", "phone", 0), 5_000));
    assertEquals(1, list.sweep(5_000));
    assertEquals(0, list.sweep(9_000));
  }

  @Test
  void aFullListForgetsExpiredEntriesBeforeRefusingANewOne() {
    AccessList list = new AccessList(2);
    list.block("a", 2_000, null, 1_000);
    list.revokeJti("b", "x", 10_000, 1_000);
    list.block("a", 3_000, null, 1_000); // a replacement, not a new entry
    HttpError full = assertThrows(HttpError.class, () -> list.revokeJti("c", "y", 9_000, 1_500));
    assertEquals(507, full.status());
    assertEquals("access_list_full", full.code());
    list.revokeJti("c", "y", 9_000, 3_000); // a's block expired at 3000: room again
    assertEquals(2, list.size());
    assertEquals(true, list.unblock("a", 3_000) == false);
  }
}
