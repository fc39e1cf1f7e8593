package dev.halley.bench.reshard;

import dev.halley.cluster.ClusterMap;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The fleet-scale resharding simulation of issue 14: {@code nodes} -> {@code nodes + 1} -> {@code
 * nodes} with {@code users} users, each change run with {@code movedSpreadMs} as configured and
 * with 0 (moved at once), printing what moved, the reconnect peak at the new owner, lost /
 * duplicated / reset counts, pre-stream memory at the peak and the times of the phases.
 * Deterministic: the same arguments print the same figures (but the wall-clock line).
 *
 * <p>Usage ({@code name=value} arguments override {@link SimConfig#defaults()}; {@code
 * only=scale-out} runs the scale-out with the configured spread only):
 *
 * <pre>
 * ./mvnw -q -B -ntp -pl bench -am package -DskipTests
 * java -Xmx2g -cp bench/target/benchmarks.jar dev.halley.bench.reshard.ReshardSim [users=10000000] [nodes=100] ...
 * </pre>
 */
public final class ReshardSim {
  private ReshardSim() {}

  public static void main(String[] args) {
    List<String> model = new ArrayList<>();
    boolean outOnly = false;
    for (String a : args) {
      if (a.equals("only=scale-out")) {
        outOnly = true;
      } else {
        model.add(a);
      }
    }
    SimConfig c = SimConfig.parse(SimConfig.defaults(), model.toArray(new String[0]));
    if (outOnly) {
      String changed = FleetMaps.nodeId(c.nodes());
      change(
          "scale-out",
          FleetMaps.fleet(1, c.nodes()),
          FleetMaps.fleet(2, c.nodes() + 1),
          changed,
          c,
          System.out,
          false);
    } else {
      run(c, System.out);
    }
  }

  /** One scale-out and one scale-in, each with the spread on and off. */
  public static List<Result> run(SimConfig c, PrintStream out) {
    long start = System.nanoTime();
    ClusterMap a = FleetMaps.fleet(1, c.nodes());
    ClusterMap p = FleetMaps.fleet(2, c.nodes() + 1);
    ClusterMap q = FleetMaps.fleet(3, c.nodes());
    out.printf(Locale.ROOT, "assumptions: %s%n", c);
    double deliveries =
        c.users() * c.userMessagesPerUserSecond()
            + c.channels()
                * c.channelMessagesPerSecond()
                * ((double) c.users() * c.channelsPerUser() / c.channels());
    out.printf(
        Locale.ROOT,
        "fleet traffic: %,.0f user messages/s + %,.0f channel messages/s (fan-out %.0f) = %,.0f"
            + " deliveries/s, %,.0f per node; %,.0f clients online%n",
        c.users() * c.userMessagesPerUserSecond(),
        c.channels() * c.channelMessagesPerSecond(),
        (double) c.users() * c.channelsPerUser() / c.channels(),
        deliveries,
        deliveries / c.nodes(),
        c.users() * c.onlineFraction());
    String changed = FleetMaps.nodeId(c.nodes());
    Result out1 = change("scale-out", a, p, changed, c, out, true);
    Result in1 = change("scale-in", p, q, changed, c, out, true);
    Runtime rt = Runtime.getRuntime();
    out.printf(
        Locale.ROOT,
        "heap: %,d MB used of %,d MB max at the end; wall time %.1f s%n",
        (rt.totalMemory() - rt.freeMemory()) >> 20,
        rt.maxMemory() >> 20,
        (System.nanoTime() - start) / 1e9);
    return List.of(out1, in1);
  }

  /** The owner pass and the models of one change. */
  public record Result(
      FleetMaps.Move move, ReshardModel.Figures spread, ReshardModel.Figures atOnce) {}

  static Result change(
      String name,
      ClusterMap before,
      ClusterMap after,
      String changed,
      SimConfig c,
      PrintStream out,
      boolean bothSpreads) {
    FleetMaps.Move m = FleetMaps.move(before, after, c.users());
    int changedIndex = m.index(changed);
    double expected = 1.0 / (Math.max(before.nodes().size(), after.nodes().size()));
    out.printf(
        Locale.ROOT,
        "%n== %s: %d -> %d nodes (map %d -> %d), %,d users%n",
        name,
        before.nodes().size(),
        after.nodes().size(),
        before.version(),
        after.version(),
        m.users());
    out.printf(
        Locale.ROOT,
        "users moved: %,d = %.5f of all (1/%d = %.5f; %.1f standard deviations off); moves not"
            + " to/from %s: %d; owner lookups %.1f s (wall)%n",
        m.moved(),
        (double) m.moved() / m.users(),
        Math.round(1 / expected),
        expected,
        ((double) m.moved() - expected * m.users())
            / Math.sqrt(m.users() * expected * (1 - expected)),
        changed,
        m.movesNotInvolving(changedIndex),
        m.lookupNanos() / 1e9);
    ReshardModel.Figures on = new ReshardModel(c, m, before, after).run();
    print(out, "movedSpreadMs=" + c.movedSpreadMs(), on);
    ReshardModel.Figures at = null;
    if (bothSpreads) {
      SimConfig off = c.with("movedSpreadMs", "0");
      at = new ReshardModel(off, m, before, after).run();
      print(out, "movedSpreadMs=0", at);
    }
    return new Result(m, on, at);
  }

  static void print(PrintStream out, String label, ReshardModel.Figures f) {
    out.printf(Locale.ROOT, "-- %s%n", label);
    out.printf(
        Locale.ROOT,
        "  messages to moving users: %,d (%,d deliveries); lost %d, duplicated %d, out of"
            + " publisher order %d%n",
        f.messagesToMovingUsers,
        f.deliveriesToMovingUsers,
        f.lost,
        f.duplicated,
        f.outOfOrder);
    out.printf(
        Locale.ROOT,
        "  handoffs: %,d covered (%,d after waiting for relays, longest %.1f ms; %,d waited in all), resets: %d of clients"
            + " online at the cut-over, %d of clients that dropped during it, %d of clients offline through it (gap %d, epoch %d;"
            + " %,d messages covered by them; %,d came after retention); resets of clients that reached the new owner while every publisher was dual: %d; resets because a skipped event followed a delivered one: %d; by the channel check (change 5): %d; handoffs before the new owner's activation: %d; relays refused %d%n",
        f.covered,
        f.coveredAfterWait,
        f.maxCoveredWaitMs,
        f.waited,
        f.resetsOfConnected,
        f.resetsOfChurned,
        f.resetsOfReturning,
        f.resetGap,
        f.resetEpoch,
        f.coveredByReset,
        f.afterRetention,
        f.resetsWhileDual,
        f.resetSkippedAfterDelivered,
        f.resetChannelCheck,
        f.resetBeforeNewOwnersActivation,
        f.relaysRefused);
    out.printf(
        Locale.ROOT,
        "  moving clients online %,d (%,d dropped and came back), offline through it %,d;"
            + " moved sent %,d%n",
        f.onlineMovers,
        f.churners,
        f.returners,
        f.movedSent);
    out.printf(
        Locale.ROOT,
        "  peak reconnects at a new owner: %,d in one second (%s)%n",
        f.peakReconnectsPerSecond,
        f.peakReconnectNode);
    out.printf(
        Locale.ROOT,
        "  pre-streams at the peak: %,d users, %,d events, %,d bytes (%.1f MB); stored in"
            + " finishing streams after activation: %,d events, %,d bytes%n",
        f.peakPreStreamUsers,
        f.peakPreStreamEvents,
        f.peakPreStreamBytes,
        f.peakPreStreamBytes / 1e6,
        f.finishingEvents,
        f.finishingBytes);
    out.printf(
        Locale.ROOT,
        "  phases (simulated ms): install %.0f-%.0f, all publishers dual %.0f, step 3 passed %.0f,"
            + " activate %.0f-%.0f, last moved %.0f, last online client handed off %.0f,"
            + " publishers single %.0f, publishing stops %.0f, last returning client %.0f"
            + " (%,d events)%n",
        f.installStartMs,
        f.installDoneMs,
        f.allDualMs,
        f.step3Ms,
        f.activateStartMs,
        f.activateDoneMs,
        f.movedDoneMs,
        f.connectedHandedOffMs,
        f.publishersSingleMs,
        f.stopMs,
        f.lastHandoffMs,
        f.events);
  }
}
