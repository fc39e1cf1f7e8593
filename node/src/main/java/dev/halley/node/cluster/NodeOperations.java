package dev.halley.node.cluster;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.admission.ConnectionLimits;
import dev.halley.node.admission.Readiness;
import dev.halley.node.config.OperationsConfig;
import dev.halley.node.metrics.NodeMetrics;
import dev.halley.node.presence.ChannelEvents;
import dev.halley.node.presence.Presence;
import dev.halley.node.presence.PresenceWebhook;
import dev.halley.node.stream.Connection;
import dev.halley.node.stream.ConnectionObserver;
import dev.halley.node.stream.UserStream;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.EventTypes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operations side of one node (issue #4): admission limits, presence and its webhook, metrics,
 * readiness, live cluster map changes with {@code moved}, and graceful drain.
 *
 * <pre>{@code
 * NodeOperations ops = node.ops;                 // one per NodeContext
 * ops.applyMap(newMap);                          // users no longer owned get moved + 4009
 * ops.startDrain(Duration.ofSeconds(30));        // readiness false, reconnect + 4010 to everyone
 * }</pre>
 *
 * <p>Threading: the observer methods run on IO threads and never block; {@link #applyMap} and
 * {@link #startDrain} are serialized by this object's lock and only queue events and schedule
 * closes on the connections' IO threads. Logs one line per lifecycle event.
 */
public final class NodeOperations implements ConnectionObserver, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NodeOperations.class);

  private final NodeCore node;
  private final OperationsConfig config;
  private final NodeMetrics metrics;
  private final Readiness readiness = new Readiness();
  private final Presence presence;
  private final PresenceWebhook webhook;
  private final ChannelEvents channelEvents;
  private final java.util.concurrent.ScheduledExecutorService presenceTimer;
  private final ConnectionLimits limits;
  private final Publishers publishers;

  public NodeOperations(NodeCore node, NodeMetrics metrics) {
    this.node = node;
    this.config = node.config.operations();
    this.metrics = metrics;
    PresenceWebhook.Options w = PresenceWebhook.Options.of(config);
    this.webhook = w == null ? null : new PresenceWebhook(w, node.nodeId, node.clock);
    this.channelEvents =
        webhook == null
            ? null
            : new ChannelEvents(
                webhook,
                user -> {
                  UserStream s = node.streams.get(user);
                  return s == null ? java.util.Set.of() : s.channels();
                });
    long offlineDelayMs = webhook == null ? 0 : config.presenceOfflineDelayMs();
    this.presenceTimer =
        offlineDelayMs == 0
            ? null
            : java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
                r -> {
                  Thread t = new Thread(r, "halley-" + node.nodeId + "-presence");
                  t.setDaemon(true);
                  return t;
                });
    this.presence =
        new Presence(
            webhook == null ? Presence.Listener.NONE : withChannels(webhook),
            offlineDelayMs,
            presenceTimer == null
                ? null
                : (task, delayMs) -> {
                  java.util.concurrent.Future<?> f =
                      presenceTimer.schedule(
                          task, delayMs, java.util.concurrent.TimeUnit.MILLISECONDS);
                  return () -> f.cancel(false);
                });
    if (webhook != null) {
      metrics.bindPresenceWebhook(webhook);
    }
    this.limits =
        new ConnectionLimits(
            ConnectionLimits.Options.of(config), node.clock, readiness, presence, metrics);
    this.publishers =
        new Publishers(config.publisherSeenWindowMs(), config.maxTrackedPublishers(), node.clock);
    metrics.resharding(this::preStreams, this::finishingStreams);
    node.streams.bufferDrops(metrics::droppedFromBuffer);
    metrics.mapVersion(node.config.map().version());
    readiness.mapLoaded();
  }

  public String nodeId() {
    return node.nodeId;
  }

  public NodeMetrics metrics() {
    return metrics;
  }

  public Readiness readiness() {
    return readiness;
  }

  /** Channel join/leave webhook events, or null without a webhook. */
  public ChannelEvents channelEvents() {
    return channelEvents;
  }

  /** Also reports {@code user}'s channel joins and leaves with its online and offline events. */
  private Presence.Listener withChannels(PresenceWebhook webhook) {
    Presence.Listener users = Presence.Listener.of(webhook);
    return new Presence.Listener() {
      @Override
      public void online(String user) {
        users.online(user);
        channelEvents.online(user);
      }

      @Override
      public void offline(String user) {
        users.offline(user);
        channelEvents.offline(user);
      }
    };
  }

  /** The publishers seen ({@code Halley-Publisher}, {@code Halley-Map-Versions}). */
  public Publishers publishers() {
    return publishers;
  }

  public Presence presence() {
    return presence;
  }

  public ConnectionLimits limits() {
    return limits;
  }

  public OperationsConfig config() {
    return config;
  }

  /**
   * IO thread, under the connection's lock: an event accepted at {@code acceptedAtNanos} ({@link
   * System#nanoTime()}) was taken to be written to the socket.
   */
  @Override
  public void delivered(String transport, long acceptedAtNanos) {
    metrics.delivered(transport, 1);
    // Issue 12: the latency histogram samples one delivery in LATENCY_SAMPLE_EVERY (the first
    // included): recording every delivery cost ~8% of the node's CPU on a busy fan-out.
    if (latencySamples.getAndIncrement() % LATENCY_SAMPLE_EVERY == 0) {
      metrics.publishLatency(System.nanoTime() - acceptedAtNanos);
    }
  }

  /** One delivery in this many is recorded in {@code halley_publish_latency_seconds}. */
  public static final int LATENCY_SAMPLE_EVERY = 16;

  private final java.util.concurrent.atomic.AtomicLong latencySamples =
      new java.util.concurrent.atomic.AtomicLong();

  /** Counts a {@code reset} event taken for writing ({@code reason}: epoch or gap). */
  @Override
  public void reset(String reason) {
    metrics.reset(reason);
  }

  @Override
  public void conflated(String transport, int n) {
    metrics.conflated(transport, n);
  }

  /** A connection went over its queue bound and is being cut (WebSocket: 4008). */
  @Override
  public void slowConsumer(String transport, String user) {
    metrics.slowConsumerDisconnected(transport);
    log.info("event=slow_consumer node={} transport={} user={}", node.nodeId, transport, user);
  }

  @Override
  public long tokenExpiredGraceMs() {
    return node.config.tokenExpiredGraceMs();
  }

  private final java.util.concurrent.atomic.AtomicLong timersDropped =
      new java.util.concurrent.atomic.AtomicLong();

  /** Counted only: the node logs the total once when it has stopped. */
  @Override
  public void timerDropped() {
    timersDropped.incrementAndGet();
  }

  /** Connection timers refused by IO threads that were stopping (see {@link #timerDropped}). */
  public long timersDropped() {
    return timersDropped.get();
  }

  private final java.util.concurrent.atomic.AtomicLong writeFailureLoggedAt =
      new java.util.concurrent.atomic.AtomicLong(Long.MIN_VALUE);

  /**
   * A connection's write path threw and the connection is being closed: counted always, logged at
   * most once a minute (a node short of memory may see it on thousands of connections at once, and
   * logging must not add to that).
   */
  @Override
  public void writeFailed(String transport, Throwable t) {
    metrics.connectionError(transport);
    long now = System.nanoTime();
    long last = writeFailureLoggedAt.get();
    if ((last == Long.MIN_VALUE || now - last > 60_000_000_000L)
        && writeFailureLoggedAt.compareAndSet(last, now)) {
      log.warn(
          "event=connection_error node={} transport={} error={} (counted in"
              + " halley_connection_errors_total; logged at most once a minute)",
          node.nodeId,
          transport,
          t.toString());
    }
  }

  /** Counts a publish reply's accepted messages and their buffered and misdirected users. */
  public void published(int messages, int buffered, int misdirected) {
    try {
      metrics.published(messages);
      metrics.buffered(buffered);
      metrics.misdirected(misdirected);
    } catch (RuntimeException e) {
      log.debug("event=metrics_failure", e);
    }
  }

  /** The result of a map change. */
  public record MapChange(
      int previousVersion, int version, boolean changed, int movedUsers, int movedConnections) {
    public ObjectNode toJson(String nodeId) {
      ObjectNode o = Json.MAPPER.createObjectNode();
      o.put("node", nodeId);
      o.put("mapVersion", version);
      o.put("previousVersion", previousVersion);
      o.put("changed", changed);
      o.put("movedUsers", movedUsers);
      o.put("movedConnections", movedConnections);
      return o;
    }
  }

  /**
   * Serves {@code next} from now on. Every user this node held a stream for and no longer owns gets
   * a {@code moved} event naming its new owner's public URL on each connection, which then closes
   * with 4009; its buffer and API subscriptions are dropped. A map with a lower version, or the
   * same version with other contents, is refused; the same map again changes nothing.
   *
   * @throws HttpError 400 {@code invalid_field} for a refused map
   */
  public synchronized MapChange applyMap(ClusterMap next) {
    ClusterMap prev = node.map();
    if (next.equals(prev)) {
      return new MapChange(prev.version(), next.version(), false, 0, 0);
    }
    ClusterMap pending = node.pending();
    boolean lossless = next.equals(pending);
    if (pending != null && next.version() >= pending.version() && !lossless) {
      // Superseded by a newer map: the pre-streams are dropped. (An activation, the same
      // document, clears the pending map in the switch's own write section, below: its
      // pre-streams become the users' streams.)
      clearPending(true);
    }
    if (next.version() <= prev.version()) {
      metrics.mapReload(next.version(), false);
      log.warn(
          "event=map_rejected node={} version={} currentVersion={}",
          node.nodeId,
          next.version(),
          prev.version());
      throw new HttpError(
          400,
          ErrorCodes.INVALID_FIELD,
          "version must be greater than the current map's version "
              + prev.version()
              + ": "
              + next.version());
    }
    if (next.node(node.nodeId).isEmpty()) {
      log.warn(
          "event=map_without_this_node node={} version={} message=\"this node owns no user now\"",
          node.nodeId,
          next.version());
    }
    long now = node.clock.millis();
    // A lossless activation clears the pending map and marks the streams of the users it moves
    // away finishing in the same write section as the switch: a connect never sees the new map
    // and an unmarked stream, and a publish never sees neither map pending with the old one
    // active (it then appended a channel message to a moving user's stream without reporting
    // its position, so the new owner kept a plain copy the client already had: a duplicate).
    node.map(
        next,
        () -> {
          if (lossless) {
            node.pending(null);
            for (UserStream s : node.streams.snapshot().values()) {
              if (!next.owner(s.user()).id().equals(node.nodeId) && s.finishing() == null) {
                s.finish(node.epoch);
                // In the same write section: no connect sees the stream finishing without it.
                carry(s, next.version(), now);
                finishing.put(s.user(), now + config.handoffRetentionMs());
                newlyFinishing.add(s);
              }
            }
          }
        });
    int users = 0;
    int conns = 0;
    int droppedEvents = 0;
    List<UserStream> told = new ArrayList<>();
    for (UserStream s : node.streams.snapshot().values()) {
      NodeInfo owner = next.owner(s.user());
      if (owner.id().equals(node.nodeId)) {
        if (s.finishing() != null) {
          // Moved away by an earlier activation and back now: a fresh stream starts above it.
          finishing.remove(s.user());
          forceDrop(s);
        }
        continue;
      }
      if (newlyFinishing.remove(s)) {
        // Issue 14: the stream finishes here; its clients get what is queued, then moved with
        // the handoff, spread over movedSpreadMs.
        users++;
        told.add(s);
        conns += s.connectionCount();
        continue;
      }
      if (s.finishing() != null) {
        continue; // finishing since an earlier activation
      }
      users++;
      byte[] moved = movedEvent(owner, next.version());
      for (Connection c : s.connections()) {
        c.finish(EventTypes.MOVED, moved, CloseCodes.MOVED, "moved", config.finishGraceMs());
        metrics.clientMoved(c.transport());
        metrics.movedSent();
        conns++;
      }
      int dropped = node.streams.drop(s);
      if (dropped > 0) {
        droppedEvents += dropped;
      }
    }
    newlyFinishing.clear();
    if (lossless) {
      spreadMoved(told, next);
      scheduleRetention();
    }
    metrics.mapReload(next.version(), true);
    metrics.dropped(NodeMetrics.DROP_MOVED, droppedEvents);
    log.info(
        "event=map_applied node={} previousVersion={} version={} movedUsers={}"
            + " movedConnections={} droppedEvents={}",
        node.nodeId,
        prev.version(),
        next.version(),
        users,
        conns,
        droppedEvents);
    return new MapChange(prev.version(), next.version(), true, users, conns);
  }

  // ---- the pending map (issue 14) ----

  /** What the pending-map endpoints answer: {@code {"node", "active", "pending"}}. */
  public ObjectNode mapVersions() {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("node", node.nodeId);
    o.put("active", node.map().version());
    ClusterMap p = node.pending();
    if (p == null) {
      o.putNull("pending");
    } else {
      o.put("pending", p.version());
    }
    return o;
  }

  /**
   * Installs {@code next} as the pending map: from now on this node accepts publishes for the users
   * it gains under it (pre-streams) and reports the positions of the users it loses. The same
   * document again changes nothing.
   *
   * @throws HttpError 409 {@code map_version_conflict} if its version is not above the active one,
   *     or another pending map is installed
   */
  public synchronized ObjectNode installPending(ClusterMap next) {
    ClusterMap active = node.map();
    ClusterMap pending = node.pending();
    if (next.equals(pending)) {
      return mapVersions();
    }
    if (next.version() <= active.version()) {
      throw new HttpError(
          409,
          ErrorCodes.MAP_VERSION_CONFLICT,
          "a pending map's version must be above the active map's version "
              + active.version()
              + ": "
              + next.version());
    }
    if (pending != null) {
      throw new HttpError(
          409,
          ErrorCodes.MAP_VERSION_CONFLICT,
          "another pending map (version "
              + pending.version()
              + ") is installed; DELETE /v1/admin/map/pending first");
    }
    java.util.concurrent.locks.Lock w = node.mapWriteLock();
    w.lock();
    try {
      node.pending(next);
      publishers.pendingInstalled(next.version());
      // Positions are reported from now on (the handoff's S is the first of them).
      for (UserStream s : node.streams.snapshot().values()) {
        s.resetReported();
      }
    } finally {
      w.unlock();
    }
    log.info(
        "event=pending_map_installed node={} active={} pending={}",
        node.nodeId,
        active.version(),
        next.version());
    return mapVersions();
  }

  /**
   * {@code GET /v1/admin/map/state}: the map versions, the publishers seen with the versions they
   * declared, what the pre-streams hold, and the handoffs.
   */
  public ObjectNode state() {
    ObjectNode o = mapVersions();
    o.set("publishers", publishers.toJson());
    long[] pre = preStreams();
    ObjectNode p = o.putObject("preStreams");
    p.put("users", pre[0]);
    p.put("events", pre[1]);
    p.put("bytes", pre[2]);
    ObjectNode h = o.putObject("handoffs");
    h.put("finishing", finishingStreams());
    h.put("served", handoffsServed.get());
    h.put("reset", handoffsReset.get());
    return o;
  }

  /** Handoff resumes covered on this node. */
  final java.util.concurrent.atomic.AtomicLong handoffsServed =
      new java.util.concurrent.atomic.AtomicLong();

  /** Handoff resumes that got a reset on this node. */
  final java.util.concurrent.atomic.AtomicLong handoffsReset =
      new java.util.concurrent.atomic.AtomicLong();

  /** Streams of users this node keeps after an activated map moved them away. */
  public int finishingStreams() {
    return finishing.size();
  }

  // Under this object's lock (applyMap): the streams the current activation marked finishing.
  private final java.util.Set<UserStream> newlyFinishing =
      java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());

  // Users whose stream is finishing -> when its retention ends (epoch ms).
  private final java.util.concurrent.ConcurrentHashMap<String, Long> finishing =
      new java.util.concurrent.ConcurrentHashMap<>();

  // Retention timers and spread moved sends without an IO thread (tests' executors).
  private final java.util.concurrent.ScheduledExecutorService reshardTimer =
      java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "halley-reshard");
            t.setDaemon(true);
            return t;
          });

  /**
   * Sends {@code moved} with the handoff to the live connections of the finishing streams {@code
   * told}, each user's at one instant spread over {@code movedSpreadMs} ({@link DrainPlan}).
   */
  private void spreadMoved(List<UserStream> told, ClusterMap next) {
    long spread = config.movedSpreadMs();
    long[] delays =
        spread == 0
            ? new long[told.size()]
            : new DrainPlan(spread, new SplittableRandom()).delays(told.size());
    for (int i = 0; i < told.size(); i++) {
      UserStream s = told.get(i);
      if (s.connectionCount() == 0) {
        continue;
      }
      byte[] moved = movedEvent(next.owner(s.user()), next.version(), s.finishing(), s.carried());
      Runnable send =
          () -> {
            for (Connection c : s.connections()) {
              tellMoved(c, moved);
            }
          };
      if (delays[i] == 0) {
        send.run();
      } else {
        reshardTimer.schedule(send, delays[i], java.util.concurrent.TimeUnit.MILLISECONDS);
      }
    }
  }

  private void tellMoved(Connection c, byte[] moved) {
    c.finish(EventTypes.MOVED, moved, CloseCodes.MOVED, "moved", config.finishGraceMs());
    metrics.clientMoved(c.transport());
    metrics.movedSent();
  }

  /**
   * A connection just opened on a finishing stream (a reconnect after the activation): after its
   * replay, {@code moved} with the handoff at once.
   */
  public void finishIfMoved(Connection c) {
    dev.halley.node.stream.Handoff.Token t = c.stream.finishing();
    if (t != null) {
      ClusterMap m = node.map();
      tellMoved(c, movedEvent(m.owner(c.user()), m.version(), t, c.stream.carried()));
    }
  }

  /** A {@code moved} event was answered without a connection (a poll). */
  public void movedSent(String transport) {
    metrics.clientMoved(transport);
    metrics.movedSent();
  }

  /** A handoff resume was decided ({@code expired}: after {@code handoffWaitMs}). */
  public void handoff(dev.halley.node.stream.Handoff.Decision d, boolean expired) {
    switch (d.outcome()) {
      case COVERED -> {
        handoffsServed.incrementAndGet();
        metrics.handoff("covered");
      }
      case RESET_EPOCH -> {
        handoffsReset.incrementAndGet();
        metrics.handoff("reset_epoch");
      }
      default -> {
        handoffsReset.incrementAndGet();
        metrics.handoff(expired ? "wait_timeout" : "reset_gap");
      }
    }
  }

  private void scheduleRetention() {
    reshardTimer.schedule(
        this::sweepFinishing,
        config.handoffRetentionMs() + 10,
        java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  /** Drops the finishing streams whose retention ended (a later connect gets moved without it). */
  public void sweepFinishing() {
    long now = node.clock.millis();
    boolean left = false;
    for (var e : finishing.entrySet()) {
      if (e.getValue() > now) {
        left = true;
        continue;
      }
      UserStream s = node.streams.get(e.getKey());
      if (s == null || s.finishing() == null || forceDrop(s)) {
        finishing.remove(e.getKey(), e.getValue());
      } else {
        left = true;
      }
    }
    if (left) {
      reshardTimer.schedule(
          this::sweepFinishing, 1_000, java.util.concurrent.TimeUnit.MILLISECONDS);
    }
  }

  /** Drops {@code s}, closing connections still on it; false if one is still detaching. */
  private boolean forceDrop(UserStream s) {
    for (Connection c : s.connections()) {
      c.close(CloseCodes.MOVED, "moved");
    }
    int dropped = node.streams.drop(s);
    if (dropped > 0) {
      metrics.dropped(NodeMetrics.DROP_MOVED, dropped);
    }
    return dropped >= 0;
  }

  /**
   * {users, events, bytes} of the pre-streams: streams of users the pending map brings here that
   * the active map does not (none without a pending map).
   */
  public long[] preStreams() {
    ClusterMap pending = node.pending();
    long[] out = new long[3];
    if (pending == null) {
      return out;
    }
    ClusterMap active = node.map();
    for (UserStream s : node.streams.snapshot().values()) {
      if (!active.owner(s.user()).id().equals(node.nodeId)
          && pending.owner(s.user()).id().equals(node.nodeId)) {
        out[0]++;
        out[1] += s.bufferedEvents();
        out[2] += s.bufferedBytes();
      }
    }
    return out;
  }

  /**
   * Contract change 5's "every publisher still dual", as this node knows it: it installed the
   * pending map it holds (or, after the activation, the one it activated) and no request declaring
   * only that version ({@code Halley-Map-Versions: P}) has reached it since. False without a
   * pending map installed here (a map switched at once). Any thread; lock-free.
   */
  public boolean publishersStillDual() {
    ClusterMap pending = node.pending();
    return publishers.stillDual(pending != null ? pending.version() : node.map().version());
  }

  /** Removes the pending map, dropping the pre-streams of the users it would have brought here. */
  public synchronized ObjectNode abortPending() {
    ClusterMap pending = node.pending();
    if (pending != null) {
      publishers.pendingInstalled(-1);
      int dropped = clearPending();
      log.info(
          "event=pending_map_aborted node={} pending={} droppedPreStreams={}",
          node.nodeId,
          pending.version(),
          dropped);
    }
    return mapVersions();
  }

  /** Under this object's lock: no pending map; returns the pre-streams dropped. */
  private int clearPending() {
    return clearPending(true);
  }

  /** {@link #clearPending()}; {@code dropPreStreams} false keeps them (an activation). */
  private int clearPending(boolean dropPreStreams) {
    ClusterMap active = node.map();
    ClusterMap pending = node.pending();
    java.util.concurrent.locks.Lock w = node.mapWriteLock();
    w.lock();
    try {
      node.pending(null);
    } finally {
      w.unlock();
    }
    int dropped = 0;
    if (pending == null || !dropPreStreams) {
      return 0; // an activation: the finishing streams take their S from what was reported
    }
    for (UserStream s : node.streams.snapshot().values()) {
      s.resetReported();
    }
    for (UserStream s : node.streams.snapshot().values()) {
      if (!active.owner(s.user()).id().equals(node.nodeId)
          && pending.owner(s.user()).id().equals(node.nodeId)
          && node.streams.drop(s) >= 0) {
        dropped++;
      }
    }
    return dropped;
  }

  /**
   * Activates the pending map of {@code version} ({@link #applyMap}); the same version already
   * active changes nothing.
   *
   * @throws HttpError 409 {@code map_version_conflict} if no pending map of that version is held
   */
  public synchronized MapChange activate(int version) {
    ClusterMap active = node.map();
    ClusterMap pending = node.pending();
    if (pending == null || pending.version() != version) {
      if (active.version() == version) {
        return new MapChange(version, version, false, 0, 0);
      }
      throw new HttpError(
          409,
          ErrorCodes.MAP_VERSION_CONFLICT,
          "no pending map of version "
              + version
              + " (active "
              + active.version()
              + (pending == null ? ", none pending)" : ", pending " + pending.version() + ")"));
    }
    return applyMap(pending);
  }

  /**
   * Reads the configured {@code pendingMapFile}: a map there with a version above the active one is
   * installed as pending (a lower or equal version is an activated or stale one: ignored). Never
   * throws: a file that cannot be read, or a map refused, is logged as {@code
   * event=pending_map_rejected}.
   */
  public void reloadPendingMapFile(String source) {
    Path file = node.config.pendingMapFile();
    if (file == null) {
      return;
    }
    try {
      ClusterMap next = ClusterMap.load(file);
      if (next.version() > node.map().version()) {
        installPending(next);
      }
    } catch (IOException | RuntimeException e) {
      log.warn(
          "event=pending_map_rejected node={} source={} error=\"{}\"",
          node.nodeId,
          source,
          e instanceof IOException io
              ? file + ": " + dev.halley.node.config.NodeConfig.ioReason(io)
              : e.getMessage());
    }
  }

  /** Re-reads the configured {@code mapFile} and applies it (SIGHUP). */
  public MapChange reloadMapFile() throws IOException {
    Path file = node.config.mapFile();
    if (file == null) {
      throw new IllegalStateException("no mapFile configured; use POST /v1/admin/map");
    }
    return applyMap(ClusterMap.load(file));
  }

  /**
   * {@link #reloadMapFile()} for SIGHUP and the {@code mapFile} watcher ({@code source} names which
   * in the log): never throws. A file that cannot be read or is not a valid map, and a map that is
   * refused (lower version, same version with other contents), keep the current map, are logged as
   * {@code event=map_rejected node=.. source=.. error=".."} and counted as rejected reloads; an
   * applied map is logged as {@code map_applied} by {@link #applyMap}. Returns the change, or empty
   * when the file was rejected.
   */
  public java.util.Optional<MapChange> reloadMapFile(String source) {
    try {
      return java.util.Optional.of(reloadMapFile());
    } catch (HttpError e) {
      // applyMap refused it, and counted and logged the versions already
      log.warn(
          "event=map_rejected node={} source={} error=\"{}\"", node.nodeId, source, e.getMessage());
    } catch (IOException | RuntimeException e) {
      metrics.mapReload(node.map().version(), false);
      log.warn(
          "event=map_rejected node={} source={} error=\"{}\"",
          node.nodeId,
          source,
          e instanceof IOException io
              ? node.config.mapFile() + ": " + dev.halley.node.config.NodeConfig.ioReason(io)
              : e.getMessage());
    }
    return java.util.Optional.empty();
  }

  private static byte[] movedEvent(NodeInfo owner, int version) {
    return dev.halley.node.wire.EventCodec.moved(owner.id(), owner.publicUrl().toString(), version);
  }

  private static byte[] movedEvent(
      NodeInfo owner, int version, dev.halley.node.stream.Handoff.Token handoff, String carried) {
    return dev.halley.node.wire.EventCodec.moved(
        owner.id(), owner.publicUrl().toString(), version, handoffText(handoff, carried));
  }

  /** Between the handoff string and the carried state in {@code moved}'s {@code handoff}. */
  public static final char CARRY_SEPARATOR = '~';

  /**
   * {@code moved}'s {@code handoff}: the token, then {@link #CARRY_SEPARATOR} and the carried state
   * when there is one (protocol.md, "Carried state"); null without a token.
   */
  public static String handoffText(dev.halley.node.stream.Handoff.Token handoff, String carried) {
    if (handoff == null) {
      return null;
    }
    return carried == null ? handoff.encode() : handoff.encode() + CARRY_SEPARATOR + carried;
  }

  /**
   * Issue 14, at the activation that finishes {@code s}: its user's API subscriptions and access
   * entries, signed for map version {@code version}, expiring when no handoff to them can come any
   * more ({@code handoffRetentionMs + handoffWaitMs}); {@link
   * dev.halley.node.auth.CarriedState#over} when its JWS would take more than half of {@code
   * maxHeaderBytes} (the request carrying it back would not be parsed). Nothing without {@code
   * tokenHmacSecret} (a node in public-key mode shares no secret to sign with) or with nothing to
   * carry.
   */
  private void carry(UserStream s, int version, long now) {
    String secret = node.config.tokenHmacSecret();
    if (secret == null) {
      return;
    }
    dev.halley.node.auth.CarriedState c =
        node.accessList.carry(
            s.user(),
            s.apiChannels(),
            version,
            now + config.handoffRetentionMs() + config.handoffWaitMs(),
            config.handoffCarryMaxEntries(),
            now);
    if (c != null) {
      String jws = c.sign(secret);
      if (jws.length() > config.maxHeaderBytes() / 2) {
        // The client could not bring it back in a request the node parses: an honest reset there.
        jws =
            new dev.halley.node.auth.CarriedState(
                    s.user(),
                    version,
                    c.expiresAtMs(),
                    true,
                    java.util.List.of(),
                    0,
                    null,
                    Long.MIN_VALUE,
                    0,
                    java.util.Map.of())
                .sign(secret);
      }
      s.carried(jws);
      metrics.carried("sent");
    }
  }

  /**
   * Starts draining: readiness turns false, new connections are refused with 503 {@code draining},
   * and every connection gets a {@code reconnect} event with its own delay spread over {@code
   * period} (see {@link DrainPlan}), then closes with 4010. Returns the number of connections told;
   * a second call returns 0.
   */
  public synchronized int startDrain(Duration period) {
    if (!readiness.startDraining()) {
      return 0;
    }
    List<Connection> all = new ArrayList<>();
    for (UserStream s : node.streams.snapshot().values()) {
      for (Connection c : s.connections()) {
        all.add(c);
      }
    }
    long periodMs = Math.max(1, period.toMillis());
    long[] delays = new DrainPlan(periodMs, new SplittableRandom()).delays(all.size());
    for (int i = 0; i < all.size(); i++) {
      Connection c = all.get(i);
      byte[] json =
          ("{\"type\":\"" + EventTypes.RECONNECT + "\",\"delayMs\":" + delays[i] + "}")
              .getBytes(java.nio.charset.StandardCharsets.US_ASCII);
      c.finish(
          EventTypes.RECONNECT, json, CloseCodes.RECONNECT, "draining", config.finishGraceMs());
      metrics.clientDrained(c.transport());
    }
    log.info(
        "event=drain_started node={} connections={} periodMs={}",
        node.nodeId,
        all.size(),
        periodMs);
    return all.size();
  }

  /** Waits up to {@code timeout} for every counted connection to end; true if they all did. */
  public boolean awaitNoConnections(Duration timeout) {
    return await(() -> limits.connections() == 0, timeout);
  }

  /** Stops the webhook (after up to 2 s for its queue to empty). Idempotent. */
  @Override
  public void close() {
    reshardTimer.shutdownNow();
    if (presenceTimer != null) {
      presenceTimer.shutdownNow();
      presence.flushPendingOffline(); // the node is going away: report them now
    }
    if (webhook != null) {
      await(() -> webhook.queued() == 0, Duration.ofSeconds(2));
      webhook.close();
    }
    metrics.close();
  }

  @Override
  public String toString() {
    return "NodeOperations{" + node.nodeId + ", " + readiness + ", " + limits + "}";
  }

  private static boolean await(BooleanSupplier done, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
    return true;
  }
}
