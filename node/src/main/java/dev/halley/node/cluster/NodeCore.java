package dev.halley.node.cluster;

import dev.halley.cluster.ClusterMap;
import dev.halley.node.config.NodeConfig;
import dev.halley.node.stream.BufferBudget;
import dev.halley.node.stream.UserStreams;
import java.time.Clock;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The part of a node's shared state that its services ({@link NodeOperations}, {@link
 * AccessControl}) build on: configuration, node ID, clock, the user streams and the current cluster
 * map. {@link NodeContext} holds one and adds the services, so they never depend on it.
 * Thread-safe; the map is swapped atomically.
 */
public final class NodeCore {
  public final NodeConfig config;
  public final String nodeId;
  public final Clock clock;
  public final UserStreams streams;

  /** Issue 14: the unsubscribes and unblocks a carried state must not undo. */
  public final CarryRecord carryRecord;

  /** Blocks and revocations ({@link AccessControl} acts on them; the activation carries them). */
  public final dev.halley.node.auth.AccessList accessList;

  /** This node incarnation's epoch, the prefix of its event IDs (16 random hex characters). */
  public final String epoch = dev.halley.node.wire.EventCodec.newEpoch();

  private volatile ClusterMap map;
  // Issue 14: the pending map (null: none) and the map before the last switch (null: none yet);
  // both swapped under the write side of the map lock, like the map.
  private volatile ClusterMap pending;
  private volatile ClusterMap previous;
  // The map lock: the switch takes the write side; whatever acts on an ownership decision (a
  // connection registering on a stream, a publish) holds the read side across check and action.
  private final ReentrantReadWriteLock mapLock = new ReentrantReadWriteLock();

  public NodeCore(NodeConfig config) {
    this.config = config;
    this.nodeId = config.nodeId();
    this.clock = config.clock();
    this.streams =
        new UserStreams(
            config.bufferMaxEvents(),
            config.bufferMaxBytes(),
            config.bufferMaxAgeMs(),
            config.maxUserStreams(),
            clock,
            new BufferBudget(config.bufferBudgetBytes()));
    this.map = config.map();
    this.accessList = new dev.halley.node.auth.AccessList(config.accessMaxEntries());
    this.carryRecord =
        new CarryRecord(
            config.operations().handoffRetentionMs() + config.operations().handoffWaitMs(),
            config.accessMaxEntries());
  }

  /** The current cluster map. */
  public ClusterMap map() {
    return map;
  }

  /**
   * Serves {@code map} from now on (only {@link NodeOperations#applyMap} calls this), under the map
   * lock's write side.
   */
  void map(ClusterMap map) {
    map(map, () -> {});
  }

  /** {@link #map(ClusterMap)}, running {@code alsoUnderLock} in the same write section. */
  void map(ClusterMap map, Runnable alsoUnderLock) {
    mapLock.writeLock().lock();
    try {
      this.previous = this.map;
      this.map = map;
      alsoUnderLock.run();
    } finally {
      mapLock.writeLock().unlock();
    }
  }

  /** The pending map (issue 14), or null when none is installed. */
  public ClusterMap pending() {
    return pending;
  }

  /** The map served before the last switch, or null. */
  public ClusterMap previous() {
    return previous;
  }

  /** Installs ({@code null}: removes) the pending map; caller holds the map lock's write side. */
  void pending(ClusterMap pending) {
    this.pending = pending;
  }

  /** The write side of the map lock: held while the maps (active, pending) change. */
  java.util.concurrent.locks.Lock mapWriteLock() {
    return mapLock.writeLock();
  }

  /** The read side of the map lock: held while an ownership decision is acted on. */
  public Lock mapReadLock() {
    return mapLock.readLock();
  }
}
