package dev.halley.bench.reshard;

import dev.halley.node.stream.Handoff;

/**
 * The node-side decision the simulation runs: the new owner's handoff resume, the node's own {@link
 * Handoff#decide} plus the channel check the contract added later (change 5). The routing decision
 * is router-lib's {@code DualRoute}, called directly.
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
   * The node's handoff resume: {@link Handoff#decide} (rules 1-4 of the contract, and the channel
   * check of contract change 5: a client whose token grants a channel that is not relay-subscribed
   * on the stream is covered only with a handoff while every publisher is still dual, else a
   * channel message may have reached neither owner).
   *
   * @param epoch the old owner's epoch (X's)
   * @param x the client's last old seq
   * @param handoff the client's handoff, or null
   * @param held the old positions the new owner's stream holds
   * @param waitExpired {@code handoffWaitMs} passed since the connect
   * @param channelsRelayed every channel the token grants is relay-subscribed on the stream
   * @param publishersDual no request declaring only the pending version has reached the node
   */
  static Resume handoff(
      String epoch,
      long x,
      Handoff.Token handoff,
      Handoff.Positions held,
      boolean waitExpired,
      boolean channelsRelayed,
      boolean publishersDual) {
    return switch (Handoff.decide(
            epoch, x, handoff, held, waitExpired, channelsRelayed, publishersDual)
        .outcome()) {
      case COVERED -> Resume.COVERED;
      case WAIT -> Resume.WAIT;
      case RESET_GAP -> Resume.RESET_GAP;
      case RESET_EPOCH -> Resume.RESET_EPOCH;
    };
  }
}
