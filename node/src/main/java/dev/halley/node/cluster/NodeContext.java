package dev.halley.node.cluster;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.auth.TokenVerifier;
import dev.halley.node.config.NodeConfig;
import dev.halley.node.stream.LatestValues;
import dev.halley.node.stream.UserStream;
import dev.halley.node.stream.UserStreams;
import dev.halley.node.wire.Control;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import java.time.Clock;
import java.util.function.Function;

/**
 * What every handler of one node shares: configuration, identity (node ID, epoch), the current
 * cluster map, the user streams and the token verifier. Thread-safe; the map is swapped atomically.
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
    this.codec = new EventCodec(EventCodec.newEpoch());
    this.clock = core.clock;
    this.streams = core.streams;
    this.tokens =
        (config.tokenHmacSecret() != null
                ? TokenVerifier.hmac(config.tokenHmacSecret(), clock)
                : TokenVerifier.publicKey(config.tokenPublicKeyPem(), clock))
            .withLeeway(config.tokenLeewayMs());
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

  /** The {@code hello} event for a client at stream {@code position}. */
  public Control hello(long position) {
    return codec.hello(nodeId, core.map().version(), position, config.heartbeatMs());
  }

  /**
   * Opens the stream of {@code principal}'s user (with the token's channels) at {@code resume}
   * (null for none) through the sink that {@code sinkFor} makes for it, and returns that sink. A
   * stream can be evicted between lookup and open; then a fresh stream and a fresh sink are tried,
   * so no connection is left on a dead stream.
   */
  public <S extends UserStream.ReplaySink> S openStream(
      TokenVerifier.Principal principal,
      EventCodec.EventId resume,
      Function<UserStream, S> sinkFor) {
    while (true) {
      UserStream stream = streams.getOrCreate(principal.user());
      streams.setTokenChannels(stream, principal.channels());
      EventCodec.EventId from = resume;
      if (resume == null && latest.enabled()) {
        // Latest-value channels: their last messages go into the stream first, and the client
        // starts just before the first of them (docs/protocol.md, "Latest-value channels").
        long first = latest.deliver(stream, principal.channels(), clock.millis());
        if (first < 0) {
          continue; // evicted meanwhile
        }
        if (first > 0) {
          from = new EventCodec.EventId(codec.epoch(), first - 1);
        }
      }
      S sink = sinkFor.apply(stream);
      if (stream.open(codec, from, clock.millis(), sink)) {
        if (ops.channelEvents() != null) {
          ops.channelEvents().changed(principal.user());
        }
        return sink;
      }
    }
  }

  /** Whether this node owns {@code user} under the current map. */
  public boolean owns(String user) {
    return core.map().owner(user).id().equals(nodeId);
  }

  /** Throws 421 {@code not_owner} naming the owner's public URL unless this node owns the user. */
  public void requireOwner(String user) {
    ClusterMap m = core.map();
    NodeInfo owner = m.owner(user);
    if (!owner.id().equals(nodeId)) {
      ObjectNode extra = Json.MAPPER.createObjectNode();
      ObjectNode o = extra.putObject("owner");
      o.put("id", owner.id());
      o.put("url", owner.publicUrl().toString());
      extra.put("mapVersion", m.version());
      throw new HttpError(
          421,
          ErrorCodes.NOT_OWNER,
          "user is owned by node " + owner.id() + " (map version " + m.version() + ")",
          extra);
    }
  }
}
