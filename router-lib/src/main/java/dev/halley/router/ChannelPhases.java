package dev.halley.router;

import dev.halley.router.internal.DualRoute;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The phases of one dual-mode channel message (losers, unchanged nodes, gainers; {@link
 * DualRoute#channelPhases}): a phase's fragments are queued when every fragment of the earlier
 * phases is settled, each carrying the relay built from the {@code positions} those returned. All
 * fragments are registered in the {@link RecipientOrder} at publish, so each node's channel order
 * holds although later phases are queued later. Guarded by this object.
 */
final class ChannelPhases {
  private final DualRoute route;
  private final List<List<Fragment>> phases = new ArrayList<>();
  private final Map<String, String> positions = new HashMap<>();
  private final Set<Fragment> done = Collections.newSetFromMap(new IdentityHashMap<>());
  private final Set<Fragment> queued = Collections.newSetFromMap(new IdentityHashMap<>());

  /**
   * A node users move away from (a loser, or an unchanged node when a node is added) answered
   * without holding the pending map: it reported no positions for users it stored the message for.
   */
  private boolean lostPositions;

  private int current;
  private boolean started;

  ChannelPhases(DualRoute route) {
    this.route = route;
  }

  /** Adds {@code f} to phase {@code phase} (before {@link #start}). */
  synchronized void add(Fragment f, int phase) {
    while (phases.size() <= phase) {
      phases.add(new ArrayList<>());
    }
    phases.get(phase).add(f);
    f.phases = this;
    f.phase = phase;
  }

  /**
   * Records the {@code positions} of {@code f}'s node's answer, made with the active map {@code
   * mapVersion} and {@code pendingVersion} (null: none). A node that is not a gainer and held
   * neither the pending map nor a later one as active stored the message for its users without
   * reporting them.
   */
  synchronized void positions(
      Fragment f, Map<String, String> answer, int mapVersion, Integer pendingVersion) {
    positions.putAll(answer);
    int p = route.pending().version();
    boolean held = mapVersion >= p || (pendingVersion != null && pendingVersion >= p);
    if (!held && route.change().phase(f.nodeId) != dev.halley.cluster.MapChange.Phase.GAINER) {
      lostPositions = true;
    }
  }

  /**
   * Called once every fragment is registered in the order and admitted (or failed): the fragments
   * to queue now, those of the first phase with an unsettled fragment.
   */
  synchronized List<Fragment> start() {
    started = true;
    return advance();
  }

  /** {@code f} is settled; returns the fragments of the next phase to queue when one begins. */
  synchronized List<Fragment> settled(Fragment f) {
    done.add(f);
    return started ? advance() : List.of();
  }

  private List<Fragment> advance() {
    for (; current < phases.size(); current++) {
      List<Fragment> live = new ArrayList<>();
      for (Fragment f : phases.get(current)) {
        if (!done.contains(f)) {
          live.add(f);
        }
      }
      if (live.isEmpty()) {
        continue; // every fragment of this phase is settled: on to the next
      }
      if (queued.containsAll(live)) {
        return List.of(); // this phase is still running
      }
      for (Fragment f : live) {
        Map<String, String> relay = route.channelRelay(f.nodeId, positions);
        f.relay = relay.isEmpty() ? null : relay;
        f.relayIncomplete =
            lostPositions
                && route.change().phase(f.nodeId) == dev.halley.cluster.MapChange.Phase.GAINER;
      }
      queued.addAll(live);
      return live;
    }
    return List.of();
  }
}
