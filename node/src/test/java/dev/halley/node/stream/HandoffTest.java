package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.stream.Handoff.Decision;
import dev.halley.node.stream.Handoff.Outcome;
import dev.halley.node.stream.Handoff.Positions;
import dev.halley.node.stream.Handoff.Token;
import org.junit.jupiter.api.Test;

/** Every rule of the handoff decision (docs/protocol.md, "Handoff resume"), one by one. */
class HandoffTest {
  private static final String E = "00112233445566aa";
  private static final String OTHER = "ffeeddccbbaa9988";

  private static Positions held(long... seqs) {
    Positions p = new Positions(1000);
    for (long s : seqs) {
      p.add(E, s);
    }
    return p;
  }

  private static Outcome decide(long x, Token t, Positions p) {
    return Handoff.decide(E, x, t, p).outcome();
  }

  @Test
  void tokenRoundTripsAndRefusesWhatTheNodeNeverIssues() {
    assertEquals(new Token(E, 5, 9), Token.parse(E + ":5:9"));
    assertEquals(new Token(E, -1, 9), Token.parse(E + "::9"));
    assertEquals(E + ":5:9", new Token(E, 5, 9).encode());
    assertEquals(E + "::9", new Token(E, -1, 9).encode());
    for (String bad :
        new String[] {
          "",
          E,
          E + ":9",
          E + ":a:9",
          E + ":5:",
          E + ":9:5",
          E + ":-1:5",
          E + ":1:2:3",
          "0011223344556g:1:2",
          "0011223344556677AA:1:2",
          E + ":+1:2",
          E + ":1:9999999999999999999999"
        }) {
      assertNull(Token.parse(bad), bad);
    }
    assertNull(Token.parse(null));
    assertThrows(IllegalArgumentException.class, () -> new Token(E, 7, 3));
  }

  @Test
  void theSeqsAHandoffListsAsUnreportedAreNotWaitedFor() {
    Token t = new Token(E, 5, 9, new long[] {7});
    assertEquals(E + ":5:9:7", t.encode());
    assertEquals(t, Token.parse(E + ":5:9:7"));
    assertEquals(new Token(E, 5, 9, new long[] {6, 8}), Token.parse(E + ":5:9:6.8"));
    for (String bad :
        new String[] {
          E + ":5:9:",
          E + ":5:9:5",
          E + ":5:9:10",
          E + ":5:9:8.7",
          E + ":5:9:7.7",
          E + "::9:7",
          E + ":5:9:7:8",
          E + ":5:9:7..8",
          E + ":1:99:2.3.4.5.6.7.8.9.10"
        }) {
      assertNull(Token.parse(bad), bad);
    }
    assertEquals(Outcome.COVERED, decide(9, t, held(5, 6, 8, 9)));
    assertEquals(Outcome.COVERED, decide(7, t, held(5, 6, 8, 9)));
    assertEquals(Outcome.WAIT, decide(9, new Token(E, 5, 9), held(5, 6, 8, 9)), "7 expected");
    assertEquals(Outcome.WAIT, decide(9, t, held(5, 8, 9)), "6 is still missing");
  }

  @Test
  void rule1NothingRelayedAndTheClientHasTheLastEventIsCoveredWithNothingToSkip() {
    Decision d = Handoff.decide(E, 9, new Token(E, -1, 9), held());
    assertEquals(Outcome.COVERED, d.outcome());
    assertEquals(9, d.skipThrough());
    assertEquals("1", d.rule());
  }

  @Test
  void rule1NothingHeldWithoutHandoffOrBehindTheLastEventIsAnEpochReset() {
    assertEquals(Outcome.RESET_EPOCH, decide(9, null, held()));
    assertEquals(Outcome.RESET_EPOCH, decide(8, new Token(E, -1, 9), held()));
    // Positions of another epoch do not count.
    Positions other = new Positions(10);
    other.add(OTHER, 10);
    assertEquals(Outcome.RESET_EPOCH, decide(9, null, other));
  }

  @Test
  void rule2BehindTheFirstRelayedEventIsNotCovered() {
    assertEquals(Outcome.RESET_GAP, decide(3, new Token(E, 5, 9), held(5, 6, 7, 8, 9)));
    assertEquals(Outcome.COVERED, decide(4, new Token(E, 5, 9), held(5, 6, 7, 8, 9)));
  }

  @Test
  void rule2WaitsUntilEverySeqFromFirstToLastIsHeldNotOnlyThoseAfterX() {
    Token t = new Token(E, 5, 9);
    // The client has 7; 6 is still on its way: it would arrive later and be delivered twice.
    assertEquals(Outcome.WAIT, decide(7, t, held(5, 7, 8, 9)));
    assertEquals(Outcome.WAIT, decide(9, t, held(5, 6, 7, 8)));
    // Nothing held yet but relays are due: wait too.
    assertEquals(Outcome.WAIT, decide(9, t, held()));
    Decision d = Handoff.decide(E, 7, t, held(5, 6, 7, 8, 9));
    assertEquals(Outcome.COVERED, d.outcome());
    assertEquals(7, d.skipThrough());
  }

  @Test
  void rule2AnExpiredWaitIsAGapReset() {
    assertEquals(
        Outcome.RESET_GAP, Handoff.decide(E, 7, new Token(E, 5, 9), held(5, 7), true).outcome());
    assertEquals(
        Outcome.RESET_GAP, Handoff.decide(E, 9, new Token(E, 5, 9), held(), true).outcome());
    // Covered needs no wait, expired or not.
    assertEquals(
        Outcome.COVERED,
        Handoff.decide(E, 7, new Token(E, 5, 9), held(5, 6, 7, 8, 9), true).outcome());
  }

  @Test
  void rule2AHandoffWithoutRelaysIsCoveredOnlyAtTheLastEvent() {
    // Positions of epoch E held although the handoff says none were added meanwhile: only X == F
    // is safe (the events X+1..F were never relayed).
    assertEquals(Outcome.COVERED, decide(9, new Token(E, -1, 9), held(3)));
    assertEquals(Outcome.RESET_GAP, decide(8, new Token(E, -1, 9), held(3)));
  }

  @Test
  void aHandoffOfAnotherEpochOrBehindTheClientCountsAsNone() {
    // Rule 3 decides then.
    assertEquals(Outcome.COVERED, decide(7, new Token(OTHER, 5, 9), held(5, 6, 7, 8, 9)));
    assertEquals(Outcome.RESET_GAP, decide(7, new Token(OTHER, 5, 9), held(5, 6, 9)));
    assertEquals(Outcome.COVERED, decide(10, new Token(E, 5, 9), held(5, 6, 7, 8, 9)));
  }

  @Test
  void rule3WithoutHandoffTheHeldPositionsMustBeContiguousAfterX() {
    assertEquals(Outcome.COVERED, decide(6, null, held(5, 6, 7, 8, 9)));
    assertEquals(Outcome.COVERED, decide(4, null, held(5, 6, 7, 8, 9)));
    assertEquals(Outcome.RESET_GAP, decide(3, null, held(5, 6, 7, 8, 9)));
    assertEquals(Outcome.RESET_GAP, decide(6, null, held(5, 6, 8, 9)));
    // X past everything held: nothing to deliver of the old owner's, covered.
    assertEquals(Outcome.COVERED, decide(12, null, held(5, 6)));
    assertEquals("3", Handoff.decide(E, 6, null, held(5, 6, 7)).rule());
  }

  @Test
  void rule4AnUnknownOldPositionOrALossIsNeverCovered() {
    Positions unknown = held(5, 6, 7, 8, 9);
    unknown.unknown();
    assertEquals(Outcome.RESET_GAP, decide(9, new Token(E, 5, 9), unknown));
    assertEquals(Outcome.RESET_GAP, decide(9, null, unknown));
    Positions lost = held(5, 6, 7, 8, 9);
    lost.lost();
    assertEquals(Outcome.RESET_GAP, decide(9, new Token(E, 5, 9), lost));
    Positions lostNothingHeld = held();
    lostNothingHeld.lost();
    assertEquals(Outcome.RESET_GAP, decide(9, new Token(E, -1, 9), lostNothingHeld));
    // A wait that cannot end covered is a reset at once.
    Positions waiting = held(5);
    waiting.unknown();
    assertEquals(Outcome.RESET_GAP, decide(9, new Token(E, 5, 9), waiting));
  }

  @Test
  void positionsAreASetBoundedByTheirEntries() {
    Positions p = new Positions(3);
    assertTrue(p.add(E, 9));
    assertTrue(p.add(E, 7));
    assertFalse(p.add(E, 7));
    assertTrue(p.add(OTHER, 1));
    assertFalse(p.hasLost());
    assertFalse(p.add(E, 8));
    assertTrue(p.hasLost(), "over the bound counts as a loss");
    assertEquals(2, p.count(E));
    assertEquals(9, p.max(E));
    assertEquals(-1, p.max("0000000000000000"));
    assertTrue(p.contains(E, 7));
    assertFalse(p.contains(E, 8));
    assertTrue(p.coversAll(E, 9, 9));
    assertFalse(p.coversAll(E, 7, 9));
    assertTrue(p.coversAll(E, 10, 9), "an empty range is covered");
  }

  /**
   * Contract change 5: a decision that would be covered needs the token's channels
   * relay-subscribed, or (with a handoff) every publisher still dual; anything else is unchanged.
   */
  @Test
  void aCoveredHandoffAlsoNeedsItsChannelsRelayedOrEveryPublisherStillDual() {
    Token t = new Token(E, 5, 9);
    Positions all = held(5, 6, 7, 8, 9);
    // With a handoff: relayed channels, or dual publishers, suffice.
    assertEquals(Outcome.COVERED, Handoff.decide(E, 7, t, all, false, true, false).outcome());
    assertEquals(Outcome.COVERED, Handoff.decide(E, 7, t, all, false, false, true).outcome());
    Decision gap = Handoff.decide(E, 7, t, all, false, false, false);
    assertEquals(Outcome.RESET_GAP, gap.outcome());
    assertEquals(Handoff.CHANNELS_RULE, gap.rule());
    // Rule 1 (nothing relayed, X == F) the same.
    Token none = new Token(E, -1, 9);
    assertEquals(Outcome.COVERED, Handoff.decide(E, 9, none, held(), false, false, true).outcome());
    assertEquals(
        Outcome.RESET_GAP, Handoff.decide(E, 9, none, held(), false, false, false).outcome());
    // Without a handoff (rule 3): only relayed channels; dual publishers do not help.
    assertEquals(Outcome.COVERED, Handoff.decide(E, 7, null, all, false, true, false).outcome());
    assertEquals(Outcome.RESET_GAP, Handoff.decide(E, 7, null, all, false, false, true).outcome());
    // A handoff of another epoch counts as none.
    assertEquals(
        Outcome.RESET_GAP,
        Handoff.decide(E, 7, new Token(OTHER, 5, 9), all, false, false, true).outcome());
    // Not covered anyway: unchanged (a wait stays a wait, a reset a reset).
    assertEquals(Outcome.WAIT, Handoff.decide(E, 7, t, held(5, 6), false, false, false).outcome());
    assertEquals(
        Outcome.RESET_EPOCH, Handoff.decide(E, 7, null, held(), false, false, false).outcome());
  }
}
