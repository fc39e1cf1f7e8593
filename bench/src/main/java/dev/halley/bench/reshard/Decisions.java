package dev.halley.bench.reshard;

import java.util.BitSet;

/**
 * The two pure decisions of issue 14 the simulation runs: router-lib's dual-mode routing of one
 * message to a moving user, and the new owner's handoff resume ({@code Handoff.decide}). Written
 * against docs/reshard-contract (rules 1-4 of "handoff resume", the three outcomes of "dual mode")
 * while the node's and router-lib's classes are not on main; the simulation calls only these two
 * methods, so they are where the real classes plug in.
 */
final class Decisions {
  private Decisions() {}

  /** What the old owner answered for one moving user. */
  enum OldResult {
    /** stored, with a position (the old owner holds the pending map) */
    ACCEPTED,
    /** stored, without a position (the old owner has no pending map yet: the event is before S) */
    ACCEPTED_WITHOUT_POSITION,
    /** not stored: the old owner activated and the stream is finishing */
    MISDIRECTED,
    /** no answer (timeout, 5xx) */
    FAILED
  }

  enum Resume {
    COVERED,
    WAIT,
    RESET_GAP,
    RESET_EPOCH
  }

  /**
   * The handoff resume on the new owner.
   *
   * @param x the client's last old seq
   * @param handoff whether the client brought a {@code handoff}
   * @param s its S (0: none was added while pending), {@code f} its F
   * @param oldSeqs old seqs (of the client's epoch) the new owner's stream holds
   * @param uncovered an event with an unknown old position, or one dropped for room or age
   * @param waitExpired {@code handoffWaitMs} passed since the connect
   * @param channelsRelayed every channel the connecting token grants is relay-subscribed on the
   *     stream (contract change 5: else a channel message may have reached neither owner)
   * @param publishersDual no publisher this node saw has left dual mode
   */
  static Resume handoff(
      long x,
      boolean handoff,
      long s,
      long f,
      BitSet oldSeqs,
      boolean uncovered,
      boolean waitExpired,
      boolean channelsRelayed,
      boolean publishersDual) {
    if (uncovered) {
      return Resume.RESET_GAP;
    }
    // With a handoff, the finishing stream stored every channel message while publishers were
    // dual, and they relayed it; without one (after retention) only relay-subscribed channels
    // reached the new owner.
    if (!channelsRelayed && !(handoff && publishersDual)) {
      return Resume.RESET_GAP;
    }
    if (handoff && s > 0) {
      if (x > f || x < s - 1) {
        return Resume.RESET_GAP;
      }
      int missing = oldSeqs.nextClearBit((int) s);
      if (missing > f) {
        return Resume.COVERED;
      }
      return waitExpired ? Resume.RESET_GAP : Resume.WAIT;
    }
    if (handoff) {
      // No event was added while pending before moved (no S): covered iff the client has all the
      // old owner had (X == F). Relayed events after F (stored by the finishing stream, contract
      // change 1) are new to the client either way.
      return x == f ? Resume.COVERED : oldSeqs.isEmpty() ? Resume.RESET_EPOCH : Resume.RESET_GAP;
    }
    if (oldSeqs.isEmpty()) {
      return Resume.RESET_EPOCH;
    }
    int highest = oldSeqs.length() - 1;
    if (x >= highest) {
      return Resume.COVERED;
    }
    return oldSeqs.nextClearBit((int) x + 1) > highest ? Resume.COVERED : Resume.RESET_GAP;
  }
}
