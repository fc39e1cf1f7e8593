package dev.halley.bench.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The invariants of lossless resharding on a small fleet (5 -> 6 -> 5 nodes, 50,000 users), in the
 * deterministic simulation that bench's {@code ReshardSim} runs at fleet scale: what the owner
 * function moves, and that no moving user's client loses, repeats or reorders a message or gets a
 * reset while it is connected. The variants with a contract rule switched off show that the checks
 * can fail (each loses messages or resets clients).
 */
class ReshardSimTest {
  private static final SimConfig SMALL =
      // The contract's first dualGraceMs (10 s) keeps the runs short; the grace's own test uses
      // router-lib's default (60 s).
      SimConfig.parse(
          SimConfig.defaults(), "users=50000", "nodes=5", "channels=500", "dualGraceMs=10000");
  private static final ClusterMap FIVE = FleetMaps.fleet(1, 5);
  private static final ClusterMap SIX = FleetMaps.fleet(2, 6);
  private static final ClusterMap FIVE_AGAIN = FleetMaps.fleet(3, 5);
  private static final String CHANGED = FleetMaps.nodeId(5);

  private static FleetMaps.Move out;
  private static FleetMaps.Move in;

  @BeforeAll
  static void ownerPass() {
    out = FleetMaps.move(FIVE, SIX, SMALL.users());
    in = FleetMaps.move(SIX, FIVE_AGAIN, SMALL.users());
  }

  private static ReshardModel.Figures run(String direction, SimConfig c) {
    return direction.equals("out")
        ? new ReshardModel(c, out, FIVE, SIX).run()
        : new ReshardModel(c, in, SIX, FIVE_AGAIN).run();
  }

  @Test
  void movesAboutOneSixthOfTheUsersAllToOrFromTheChangedNode() {
    int n = SMALL.users();
    double sigma = Math.sqrt(n * (1.0 / 6) * (5.0 / 6));
    for (FleetMaps.Move m : new FleetMaps.Move[] {out, in}) {
      assertTrue(
          Math.abs(m.moved() - n / 6.0) <= 4 * sigma,
          "moved " + m.moved() + " of " + n + ", expected about " + n / 6);
      assertEquals(0, m.movesNotInvolving(m.index(CHANGED)));
    }
    int changedOut = out.index(CHANGED);
    for (int i = 0; i < out.moved(); i++) {
      assertEquals(changedOut, out.newNode()[i], "scale-out moves users only to the new node");
    }
    int changedIn = in.index(CHANGED);
    for (int i = 0; i < in.moved(); i++) {
      assertEquals(changedIn, in.oldNode()[i], "scale-in moves users only from the removed node");
    }
    // Scaling back in returns exactly the users that moved, each to the node it came from.
    assertTrue(Arrays.equals(out.user(), in.user()));
    for (int i = 0; i < out.moved(); i++) {
      assertEquals(
          out.nodeIds().get(out.oldNode()[i]), in.nodeIds().get(in.newNode()[i]), "user " + i);
    }
  }

  @ParameterizedTest(name = "scale-{0}, movedSpreadMs={1}")
  @CsvSource({"out, 2000", "out, 0", "in, 2000", "in, 0"})
  void connectedClientsGetEveryMessageOnceInOrderWithoutReset(String direction, long spread) {
    ReshardModel.Figures f = run(direction, SMALL.with("movedSpreadMs", Long.toString(spread)));
    assertTrue(f.messagesToMovingUsers > 1_000, "too little traffic: " + f.messagesToMovingUsers);
    assertTrue(f.covered > f.onlineMovers / 2, "covered handoffs: " + f.covered);
    assertEquals(0, f.lost, "lost");
    assertEquals(0, f.duplicated, "duplicated");
    assertEquals(0, f.outOfOrder, "out of publisher order");
    assertEquals(0, f.resetsOfConnected, "resets of clients connected through the cut-over");
    // A client that dropped during the cut-over and came back after publishers left dual mode may
    // be reset (honestly); one that reaches the new owner while they are dual never is.
    assertEquals(0, f.resetsWhileDual, "resets of clients that came while publishers were dual");
    assertEquals(0, f.relaysRefused, "relays to a node without the pending map");
    // The CLI activates every new owner before any old owner (rule 4 never has to reset).
    assertEquals(0, f.resetBeforeNewOwnersActivation, "handoffs before the new owner activated");
  }

  @Test
  void reconnectPeakAtTheNewNodeIsBoundedByTheSpread() {
    SimConfig c = SMALL.with("churnFraction", "0");
    ReshardModel.Figures spread = run("out", c);
    ReshardModel.Figures atOnce = run("out", c.with("movedSpreadMs", "0"));
    // Online clients reconnect over movedSpreadMs; clients offline at the start come back over
    // returnWindowMs (a background rate, Poisson, so allow it three times).
    double bound =
        spread.onlineMovers * 1000.0 / c.movedSpreadMs()
            + 3.0 * spread.returners * 1000 / c.returnWindowMs();
    assertTrue(
        spread.peakReconnectsPerSecond <= bound * 1.1,
        "peak " + spread.peakReconnectsPerSecond + " > bound " + bound);
    assertTrue(
        atOnce.peakReconnectsPerSecond >= 0.9 * atOnce.onlineMovers,
        "without the spread nearly every online client comes within one second: "
            + atOnce.peakReconnectsPerSecond
            + " of "
            + atOnce.onlineMovers);
  }

  @Test
  void dualGraceAsLongAsRetentionCoversClientsOfflineThroughTheCutOver() {
    ReshardModel.Figures f = run("out", SMALL.with("dualGraceMs", "60000"));
    assertTrue(f.returners > 1_000);
    assertEquals(0, f.lost);
    assertEquals(0, f.duplicated);
    assertEquals(0, f.resetsOfConnected + f.resetsOfChurned + f.resetsOfReturning, "resets");
  }

  @Test
  void withAShortGraceClientsReturningAfterDualModeGetAnHonestReset() {
    ReshardModel.Figures f = run("out", SMALL);
    assertTrue(f.resetsOfReturning > 0, "returning clients reset: " + f.resetsOfReturning);
    assertEquals(0, f.lost, "a reset, never a silent loss");
  }

  @Test
  void finishingStreamsThatDropChannelMessagesLoseThem() {
    // The contract as first written (finishing streams store no channel message).
    ReshardModel.Figures f = run("out", SMALL.with("finishingKeepsChannels", "false"));
    assertTrue(f.lost > 0, "lost " + f.lost);
  }

  @Test
  void positionsReceivedBeforeDualModeMustBeRelayed() {
    // Publishers that discover the pending map slowly (5 requests/s) get positions first.
    SimConfig slow = SMALL.with("requestsPerPublisherSecond", "5");
    ReshardModel.Figures without = run("out", slow.with("relayEarlyPositions", "false"));
    assertTrue(without.resetsOfConnected > 0, "resets " + without.resetsOfConnected);
    ReshardModel.Figures with = run("out", slow);
    assertEquals(0, with.resetsOfConnected);
    assertEquals(0, with.lost);
  }

  @Test
  void lateClientsAreResetUnlessTheirChannelsWereRelayed() {
    // Clients coming back after handoffRetentionMs resume by rule 3 (no handoff).
    SimConfig late = SMALL.with("returnWindowMs", "90000");
    ReshardModel.Figures unchecked = run("out", late.with("checkChannels", "false"));
    assertTrue(unchecked.afterRetention > 0);
    assertTrue(unchecked.lost > 0, "lost " + unchecked.lost);
    ReshardModel.Figures checked = run("out", late);
    assertEquals(0, checked.lost);
    assertEquals(0, checked.duplicated);
    // The node's own check (Handoff.decide with the channel inputs) is what resets them.
    assertTrue(checked.resetChannelCheck > 0, "channel-check resets " + checked.resetChannelCheck);
  }

  @Test
  void theSameSeedGivesTheSameRun() {
    SimConfig shorter = SMALL.with("returnWindowMs", "5000");
    ReshardModel.Figures a = run("in", shorter);
    ReshardModel.Figures b = run("in", shorter);
    assertEquals(a.events, b.events);
    assertEquals(a.deliveriesToMovingUsers, b.deliveriesToMovingUsers);
    assertEquals(a.peakReconnectsPerSecond, b.peakReconnectsPerSecond);
    assertEquals(a.peakPreStreamEvents, b.peakPreStreamEvents);
  }
}
