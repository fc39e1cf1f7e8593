package dev.halley.node.cluster;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.auth.TokenVerifier;
import dev.halley.node.config.NodeConfig;
import dev.halley.node.stream.Handoff;
import dev.halley.node.stream.LatestValues;
import dev.halley.node.stream.UserStream;
import dev.halley.node.stream.UserStreams;
import dev.halley.node.wire.Control;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import java.time.Clock;
import java.util.concurrent.locks.Lock;
import java.util.function.Function;

/**
 * What every handler of one node shares: configuration, identity (node ID, epoch), the current
 * cluster map, the user streams and the token verifier. Thread-safe; the map is swapped atomically.
 *
 * <p>The map lock: a map switch takes its write lock; whatever decides from the map that this node
 * owns a user and then acts on that user's stream (a connection registering, a publish) holds its
 * read lock across both, so it either completes before the switch (and the map change then finds
 * and moves it) or sees the new map. Read sections are short and never block on I/O.
 */
public final class NodeContext {
  public final NodeConfig config;
  public final String nodeId;
  public final EventCodec codec;
  public final UserStreams streams;
  public final TokenVerifier tokens;

  /** The last message of each latest-value channel (issue #16). */
  public final LatestValues latest;

  /** Disconnect, block and revoke (issue #16). */
  public final AccessControl access;

  public final Clock clock;

  /** Issue #4: limits, presence, metrics, readiness, map changes, drain. */
  public final dev.halley.node.cluster.NodeOperations ops;

  /** Configuration, identity, clock, streams and map, which the services above build on. */
  public final NodeCore core;

  public NodeContext(NodeConfig config) {
    this.core = new NodeCore(config);
    this.config = config;
    this.nodeId = core.nodeId;
    this.codec = new EventCodec(core.epoch);
    this.clock = core.clock;
    this.streams = core.streams;
    this.tokens =
        (config.tokenHmacSecret() != null
                ? TokenVerifier.hmac(config.tokenHmacSecret(), clock)
                : TokenVerifier.publicKey(config.tokenPublicKeyPem(), clock))
            .withLeeway(config.tokenLeewayMs())
            .withCache(config.tokenCacheMaxBytes());
    this.access = new AccessControl(core);
    this.latest = new LatestValues(config.latestValueChannels(), config.latestValueMaxChannels());
    this.ops =
        new dev.halley.node.cluster.NodeOperations(
            core, dev.halley.node.metrics.NodeMetrics.prometheus());
  }

  /** The current cluster map. */
  public ClusterMap map() {
    return core.map();
  }

  /** The read side of the map lock ({@link NodeCore#mapReadLock()}). */
  public Lock mapReadLock() {
    return core.mapReadLock();
  }

  /** The {@code hello} event for a client at stream {@code position}. */
  public Control hello(long position) {
    return codec.hello(nodeId, core.map().version(), position, config.heartbeatMs());
  }

  /**
   * Opens the stream of {@code principal}'s user (with the token's channels) at {@code resume}
   * (null for none) through the sink that {@code sinkFor} makes for it, and returns that sink. A
   * stream can be evicted between lookup and open; then a fresh stream and a fresh sink are tried,
   * so no connection is left on a dead stream.
   *
   * <p>Ownership is checked again here, under the map lock, where the connection registers: a
   * connection admitted under the previous map is refused (the 421 of {@link #requireOwner})
   * instead of being stranded on a node that a map change no longer finds it on.
   *
   * @throws HttpError 421 {@code not_owner} if the map changed since the request was admitted
   */
  public <S extends UserStream.ReplaySink> S openStream(
      TokenVerifier.Principal principal,
      EventCodec.EventId resume,
      Function<UserStream, S> sinkFor) {
    return openStream(principal, resume, null, null, sinkFor);
  }

  /**
   * {@link #openStream(TokenVerifier.Principal, EventCodec.EventId, Function)} with the handoff
   * resume of issue 14 ({@code handoff}: the client's, or null). Returns null when the handoff
   * waits for relays: nothing was opened and {@code onRelay} runs at the next relay (see {@link
   * UserStream#open(EventCodec, EventCodec.EventId, Handoff.Resume, Runnable, java.util.Set, long,
   * long, UserStream.ReplaySink)}). A user whose stream is finishing here is opened too (the caller
   * then sends {@code moved}: {@link #finishingMoved}).
   */
  public <S extends UserStream.ReplaySink> S openStream(
      TokenVerifier.Principal principal,
      EventCodec.EventId resume,
      Handoff.Resume handoff,
      Runnable onRelay,
      Function<UserStream, S> sinkFor) {
    Lock lock = core.mapReadLock();
    lock.lock();
    try {
      UserStream finishing = finishingStream(principal.user());
      if (finishing == null) {
        requireServes(principal.user(), handoff != null && handoff.token != null);
      }
      while (true) {
        UserStream stream = finishing != null ? finishing : streams.getOrCreate(principal.user());
        EventCodec.EventId from = resume;
        if (resume == null && latest.enabled() && finishing == null) {
          // Latest-value channels: their last messages go into the stream first, and the client
          // starts just before the first of them (docs/protocol.md, "Latest-value channels"). The
          // token's grants come first, so the stream takes those channel messages.
          if (!stream.grant(principal.channels(), principal.validUntilMs())) {
            continue; // evicted meanwhile
          }
          long first = latest.deliver(stream, principal.channels(), clock.millis());
          if (first < 0) {
            continue; // evicted meanwhile
          }
          if (first > 0) {
            from = new EventCodec.EventId(codec.epoch(), first - 1);
          }
        }
        S sink = sinkFor.apply(stream);
        int opened =
            stream.open(
                codec,
                from,
                handoff,
                onRelay,
                principal.channels(),
                principal.validUntilMs(),
                clock.millis(),
                sink);
        if (opened == UserStream.WAITING) {
          return null;
        }
        if (opened == UserStream.OPENED) {
          if (ops.channelEvents() != null) {
            ops.channelEvents().changed(principal.user());
          }
          return sink;
        }
        if (finishing != null) {
          // A finishing stream evicted meanwhile: the user is gone from here.
          throw notOwner(principal.user());
        }
      }
    } finally {
      lock.unlock();
    }
  }

  /** The stream of {@code user} if it is finishing here (an activated map moved it away). */
  public UserStream finishingStream(String user) {
    if (owns(user)) {
      return null;
    }
    UserStream s = streams.get(user);
    return s != null && s.finishing() != null ? s : null;
  }

  /**
   * The {@code moved} event (with {@code handoff}) for a connection just opened on a finishing
   * stream, or null if the stream is not finishing.
   */
  public byte[] finishingMoved(UserStream stream) {
    Handoff.Token t = stream.finishing();
    return t == null ? null : movedEvent(stream.user(), t, stream.carried());
  }

  /**
   * Whether a browser connection of {@code user} is let through to its transport: this node owns
   * the user; or the pending map brings the user here and the client resumes with a {@code
   * handoff}; or the user's stream is finishing here; or the last map change moved the user away
   * (the transport then answers {@code moved}, never 421).
   */
  public boolean admits(String user, boolean withHandoff) {
    return owns(user)
        || (withHandoff && gains(user))
        || finishingStream(user) != null
        || movedAway(user);
  }

  /**
   * Issue 14, at a handoff resume: applies the state the old owner carried (verified) to the user's
   * stream and access entries, as if those owner calls had been made here, except what this node's
   * own calls decided since ({@link CarryRecord}): a channel it unsubscribed the user from, or a
   * block after its unblock, is not applied; a channel it subscribes already, or a block it holds,
   * stays as it is; revocations only add. Returns false when the state cannot be applied honestly
   * (over {@code handoffCarryMaxEntries}, the record overflowed, the access list is full): the
   * resume then resets.
   */
  public boolean applyCarried(dev.halley.node.auth.CarriedState c) {
    boolean applied = tryApplyCarried(c);
    ops.metrics().carried(applied ? "applied" : "not_applied");
    return applied;
  }

  private boolean tryApplyCarried(dev.halley.node.auth.CarriedState c) {
    long now = clock.millis();
    if (c.over() || core.carryRecord.overflowed(now)) {
      return false;
    }
    boolean changed = false;
    for (String channel : c.channels()) {
      if (!core.carryRecord.unsubscribedHere(c.user(), channel, now)) {
        streams.subscribe(c.user(), channel);
        changed = true;
      }
    }
    if (changed && ops.channelEvents() != null) {
      ops.channelEvents().changed(c.user());
    }
    try {
      core.accessList.merge(c, core.carryRecord.unblockedHere(c.user(), now), now);
    } catch (HttpError full) {
      return false;
    }
    return true;
  }

  /** Whether the pending map brings {@code user} here (the active map does not). */
  public boolean gains(String user) {
    ClusterMap p = core.pending();
    return p != null && p.owner(user).id().equals(nodeId) && !owns(user);
  }

  /**
   * Whether the pending map brings {@code user} here ({@link #gains}), or the last map change did:
   * this node owns it and the previous map gave it to another node.
   */
  public boolean movedIn(String user) {
    if (gains(user)) {
      return true;
    }
    ClusterMap prev = core.previous();
    return prev != null && !prev.owner(user).id().equals(nodeId) && owns(user);
  }

  /** Whether the last map change moved {@code user} away from this node. */
  public boolean movedAway(String user) {
    ClusterMap prev = core.previous();
    return prev != null && prev.owner(user).id().equals(nodeId) && !owns(user);
  }

  /** 421 unless this node serves the user ({@link #owns}, or gains it with a handoff). */
  private void requireServes(String user, boolean withHandoff) {
    if (!owns(user) && !(withHandoff && gains(user))) {
      throw notOwner(user);
    }
  }

  /**
   * The {@code moved} event naming {@code user}'s owner, with {@code handoff} and {@code carried}
   * ({@link NodeOperations#handoffText}) if not null.
   */
  public byte[] movedEvent(String user, Handoff.Token handoff, String carried) {
    ClusterMap m = core.map();
    NodeInfo owner = m.owner(user);
    return EventCodec.moved(
        owner.id(),
        owner.publicUrl().toString(),
        m.version(),
        NodeOperations.handoffText(handoff, carried));
  }

  /** The {@code moved} event naming {@code user}'s owner under the current map. */
  public byte[] movedEvent(String user) {
    ClusterMap m = core.map();
    NodeInfo owner = m.owner(user);
    return EventCodec.moved(owner.id(), owner.publicUrl().toString(), m.version());
  }

  /** Whether this node owns {@code user} under the current map. */
  public boolean owns(String user) {
    return core.map().owner(user).id().equals(nodeId);
  }

  /** Throws 421 {@code not_owner} naming the owner's public URL unless this node owns the user. */
  public void requireOwner(String user) {
    if (!owns(user)) {
      throw notOwner(user);
    }
  }

  /** 421 {@code not_owner} naming {@code user}'s owner's public URL and the map version. */
  public HttpError notOwner(String user) {
    ClusterMap m = core.map();
    NodeInfo owner = m.owner(user);
    {
      ObjectNode extra = Json.MAPPER.createObjectNode();
      ObjectNode o = extra.putObject("owner");
      o.put("id", owner.id());
      o.put("url", owner.publicUrl().toString());
      extra.put("mapVersion", m.version());
      return new HttpError(
          421,
          ErrorCodes.NOT_OWNER,
          "user is owned by node " + owner.id() + " (map version " + m.version() + ")",
          extra);
    }
  }

  /**
   * Runs {@code change} (an API change to {@code user}'s stream, such as a subscription) while this
   * node owns the user, under the map lock's read side: the change happens before a map switch
   * (which then moves the stream away) or is refused with 421 after it, never applied to a stream
   * of a user the node no longer owns.
   */
  public <T> T whileOwner(String user, java.util.function.Supplier<T> change) {
    return whileServes(user, false, change);
  }

  /**
   * {@link #whileOwner}, also for a user the pending map brings here (issue 14): a dual-mode
   * publisher sends a moving user's subscriptions to both owners, and the new owner must have them
   * after the cut-over.
   */
  public <T> T whileOwnerOrGainer(String user, java.util.function.Supplier<T> change) {
    return whileServes(user, true, change);
  }

  private <T> T whileServes(String user, boolean orGains, java.util.function.Supplier<T> change) {
    Lock lock = core.mapReadLock();
    lock.lock();
    try {
      if (orGains) {
        requireOwnerOrGainer(user);
      } else {
        requireOwner(user);
      }
      return change.get();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Adds {@code "pendingMapVersion": P} to an owner call's reply while this node holds a pending
   * map (as publish replies do): a publisher not yet in dual mode learns of it and sends the call
   * to the user's new owner too.
   */
  public void pendingMapVersion(ObjectNode reply) {
    ClusterMap p = core.pending();
    if (p != null) {
      reply.put("pendingMapVersion", p.version());
    }
  }

  /**
   * Throws 421 {@code not_owner} unless this node owns the user or the pending map brings it here
   * (the owner calls of a dual-mode publisher for a moving user: subscriptions, access).
   */
  public void requireOwnerOrGainer(String user) {
    if (!owns(user) && !gains(user)) {
      throw notOwner(user);
    }
  }
}
