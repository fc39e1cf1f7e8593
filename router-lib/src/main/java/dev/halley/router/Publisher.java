package dev.halley.router;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Collection;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Publishes messages to users and channels of a Halley cluster, each to the node that owns it; also
 * presence, subscriptions and the connect info a page needs. The one object an app server keeps.
 *
 * <pre>{@code
 * Publisher publisher = Publisher.builder()
 *     .mapSource(MapSource.file(Path.of("cluster.json")))
 *     .apiKey(System.getenv("HALLEY_API_KEY"))
 *     .build();
 * publisher.publish("alice", Map.of("text", "hi"))
 *     .thenAccept(r -> log.info("alice: {}", r.outcome("alice").status()));
 * publisher.publish(List.of("alice", "bob"), data);   // one request per owner node, in parallel
 * publisher.publishToChannel("room:1", data);         // every node
 * publisher.close();
 * }</pre>
 *
 * <p><b>Routing.</b> A user batch is grouped by owner node and sent as one request per node (split
 * into chunks of {@link Builder#maxUsersPerRequest}); a channel message goes to every node. Users a
 * node reports as misdirected trigger a map refresh and are re-sent to their new owner.
 *
 * <p><b>Order.</b> Messages reach each recipient (a user; a channel's subscribers on a node) in the
 * order of the {@code publish} calls that sent them, with retries, batching and re-routes: among a
 * recipient's messages whose outcome is DELIVERED or BUFFERED, the stream holds them in call order.
 * A message whose outcome is UNKNOWN may still land later than messages after it.
 *
 * <p><b>Delivery and retries.</b> Every message carries an idempotency key (the caller's or a
 * generated unique key). A request that times out, cannot connect, loses its connection or gets a
 * 5xx is retried with exponential backoff and full jitter, with the same keys, so the node never
 * delivers twice. Every publish future completes within {@code requestTimeout × maxAttempts} plus
 * the backoff ceilings of its {@code publish} call; a message sent whose fate no node stated is
 * UNKNOWN (retry it with {@link PublishResult#id()} as its key), one never sent is FAILED. A node
 * that is down or hanging affects only its own recipients; requests to the other nodes proceed
 * independently (one queue and in-flight window per node).
 *
 * <p><b>Batching and backpressure.</b> Each node has at most {@link Builder#maxInFlightRequests}
 * requests in flight. When the window is full, new messages for that node wait in its queue, and
 * the next request carries up to {@link Builder#maxBatchMessages} of them: under load, many small
 * publishes become few requests; when idle, a publish is sent at once. The queue holds at most
 * {@link Builder#maxQueuedMessages}; when it is full, publish waits up to {@link Builder#maxBlock}
 * (default: not at all) and then fails that node's recipients with {@code backlog_full}.
 *
 * <p><b>Threads.</b> Thread-safe; share one instance. Methods never do network I/O on the calling
 * thread (except waiting for queue room when {@code maxBlock} is set). Futures complete on internal
 * threads: don't block inside their callbacks. A publish future completes normally, with per
 * recipient outcomes, even when nodes fail; it completes exceptionally only if the data cannot be
 * serialized. Presence and subscription futures fail with {@link NodeRequestException}.
 */
public interface Publisher extends AutoCloseable {

  /** A builder; {@link Builder#mapSource} and {@link Builder#apiKey} are required. */
  static Builder builder() {
    return new Builder();
  }

  /** Publishes {@code data} (any Jackson-serializable value, or a JsonNode) to one user. */
  default CompletableFuture<PublishResult> publish(String user, Object data) {
    return publish(Message.toUsers(user).data(data));
  }

  /** Publishes {@code data} to these users: one request per owner node, in parallel. */
  default CompletableFuture<PublishResult> publish(Collection<String> users, Object data) {
    return publish(Message.toUsers(users).data(data));
  }

  /** Publishes {@code data} to every subscriber of {@code channel}, on every node. */
  default CompletableFuture<PublishResult> publishToChannel(String channel, Object data) {
    return publish(Message.toChannel(channel).data(data));
  }

  /** Publishes a message with its options (idempotency key, TTL). */
  CompletableFuture<PublishResult> publish(Message message);

  /** Asks the user's owner node whether the user is connected and how often. */
  CompletableFuture<Presence> presence(String user);

  /** True when the user has at least one live connection on their owner node. */
  default CompletableFuture<Boolean> isOnline(String user) {
    return presence(user).thenApply(Presence::online);
  }

  /** The user's live connection count on their owner node. */
  default CompletableFuture<Integer> connections(String user) {
    return presence(user).thenApply(Presence::connections);
  }

  /**
   * The members of {@code channel} online across the cluster: asks every node at once for the
   * channel's subscribers with a live connection there and merges the answers that come within
   * {@code deadline}, naming the nodes that did not answer ({@link ChannelPresence#missing()}).
   * Each node lists at most {@code limit} members (1..10000; counts are always complete). Never
   * fails because of a node: a node that is down is reported, not thrown.
   */
  CompletableFuture<ChannelPresence> channelPresence(String channel, Duration deadline, int limit);

  /** {@link #channelPresence(String, Duration, int)} within 2 seconds, 1000 members per node. */
  default CompletableFuture<ChannelPresence> channelPresence(String channel) {
    return channelPresence(channel, Duration.ofSeconds(2), 1000);
  }

  /**
   * Subscribes the user to {@code channel} on their owner node (in memory there; lost if the node
   * restarts: put lasting channels in the token). Completes with the user's channels.
   */
  CompletableFuture<Set<String>> subscribe(String user, String channel);

  /** Removes an API subscription; completes with the user's remaining channels. */
  CompletableFuture<Set<String>> unsubscribe(String user, String channel);

  /**
   * Ends every live connection of {@code user} now, on their owner node (WebSocket, SSE, held
   * long-poll): each gets a {@code disconnect} event ({@code code: "disconnected"}, WebSocket close
   * 4030) and js-client stops instead of reconnecting. The next connect is admitted: to keep the
   * user out, {@link #block} them. {@code reason} (nullable, at most 256 characters) is passed to
   * the client. Completes with the user's access state and how many connections were ended.
   */
  CompletableFuture<UserAccess> disconnect(String user, String reason);

  /**
   * Refuses {@code user}'s connects (403 {@code user_blocked}) until {@code until} and ends their
   * live connections ({@code user_blocked}, close 4031). A new block replaces the old one. Held in
   * the owner node's memory only: after a node restart or a move, block again (docs/protocol.md,
   * "Access").
   */
  CompletableFuture<UserAccess> block(String user, java.time.Instant until, String reason);

  /** Lifts a block. */
  CompletableFuture<UserAccess> unblock(String user);

  /**
   * Refuses {@code user}'s token with this {@code jti} (401 {@code token_revoked}; see {@link
   * TokenMinter#mint(String, Duration, Collection, String)}) and ends the connections using it
   * (close 4032; js-client asks its {@code getToken} once). Remembered until {@code expiresAt}
   * (nullable: the node's {@code revocationTtlMs} from now); pass the token's expiry.
   */
  CompletableFuture<UserAccess> revokeToken(String user, String jti, java.time.Instant expiresAt);

  /**
   * Refuses {@code user}'s tokens issued ({@code iat}) before {@code before}, and tokens without
   * {@code iat}, and ends the connections using them. {@code iat} has whole seconds: a token minted
   * in the same second after {@code before} is refused too.
   */
  CompletableFuture<UserAccess> revokeTokensIssuedBefore(String user, java.time.Instant before);

  /** The user's blocks and revocations as their owner node holds them. */
  CompletableFuture<UserAccess> access(String user);

  /**
   * What a page needs to connect {@code user}: owner's public URL, a token minted now with {@code
   * minter}, and the public map. No I/O: uses the current map.
   */
  ConnectInfo connectInfo(
      String user, TokenMinter minter, Duration ttl, Collection<String> channels);

  /** {@link #connectInfo(String, TokenMinter, Duration, Collection)} with no channels. */
  default ConnectInfo connectInfo(String user, TokenMinter minter, Duration ttl) {
    return connectInfo(user, minter, ttl, Set.of());
  }

  /** The node that owns {@code user} under the current map. */
  NodeInfo ownerOf(String user);

  /** The map in use. */
  ClusterMap map();

  /**
   * Loads the map from the source now (joining a load already under way); completes with the map in
   * use afterwards, or exceptionally if the load failed (the old map stays in use).
   */
  CompletableFuture<ClusterMap> refreshMap();

  /**
   * The map versions this publisher publishes with, as it declares them to nodes in the {@code
   * Halley-Map-Versions} header: {@code [A]} normally, {@code [A, P]} in dual mode (while nodes
   * hold a pending map P next to the active map A, and for {@code dualGrace} after P became
   * active). See docs/router-lib.md, "Dual mode".
   */
  java.util.List<Integer> mapVersions();

  /**
   * This publisher's ID, sent to nodes as {@code Halley-Publisher} (see {@link
   * Builder#publisherId}).
   */
  String publisherId();

  /**
   * Stops the refresh schedule and rejects new calls; queued messages fail with {@code closed},
   * requests already sent complete normally (without further retries). Idempotent.
   */
  @Override
  void close();

  /**
   * Options of a {@link Publisher}. Not thread-safe; {@link #build()} loads the map once and throws
   * {@link UncheckedIOException} if it cannot.
   */
  final class Builder {
    private MapSource mapSource;
    private String apiKey;
    private Duration requestTimeout = Duration.ofSeconds(2);
    private Duration connectTimeout = Duration.ofSeconds(1);
    private int maxAttempts = 3;
    private Duration retryBaseDelay = Duration.ofMillis(100);
    private Duration retryMaxDelay = Duration.ofSeconds(2);
    private int maxInFlightRequests = 8;
    private int maxBatchMessages = 256;
    private int maxUsersPerRequest = 1000;
    private int maxRequestBytes = 512 * 1024;
    private int maxQueuedMessages = 10_000;
    private Duration maxBlock = Duration.ZERO;
    private Duration mapRefreshInterval = Duration.ofSeconds(30);
    private int maxReroutes = 2;
    private PublisherListener listener = new PublisherListener() {};
    private ObjectMapper objectMapper = new ObjectMapper();
    private String publisherId;
    private Duration dualGrace = Duration.ofSeconds(60);
    private MapSource pendingMapSource;

    Builder() {}

    /** Where the map comes from (required). */
    public Builder mapSource(MapSource source) {
      this.mapSource = Objects.requireNonNull(source, "source");
      return this;
    }

    /** The internal API key sent as {@code Authorization: Bearer} (required). */
    public Builder apiKey(String apiKey) {
      Objects.requireNonNull(apiKey, "apiKey");
      if (apiKey.isBlank()) {
        throw new IllegalArgumentException("apiKey must not be blank");
      }
      this.apiKey = apiKey;
      return this;
    }

    /**
     * How long one request to a node may take before it counts as timed out (and is retried);
     * default 2 seconds. A hanging node fails its recipients after about {@code maxAttempts} times
     * this, plus backoff.
     */
    public Builder requestTimeout(Duration timeout) {
      this.requestTimeout = positive(timeout, "requestTimeout");
      return this;
    }

    /** TCP connect timeout to a node; default 1 second. */
    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = positive(timeout, "connectTimeout");
      return this;
    }

    /** Tries per publish request, the first included (1 = no retries); default 3. */
    public Builder maxAttempts(int attempts) {
      this.maxAttempts = atLeast(1, attempts, "maxAttempts");
      return this;
    }

    /**
     * Retry backoff: before attempt n (n >= 2) the publisher waits a uniformly random time in [0,
     * min(max, base * 2^(n-2))]; defaults 100 milliseconds and 2 seconds.
     */
    public Builder retryBackoff(Duration base, Duration max) {
      this.retryBaseDelay = positive(base, "retry base");
      this.retryMaxDelay = positive(max, "retry max");
      if (max.compareTo(base) < 0) {
        throw new IllegalArgumentException("retry max must be >= base: " + max + " < " + base);
      }
      return this;
    }

    /** Publish requests in flight per node at once; default 8. */
    public Builder maxInFlightRequests(int requests) {
      this.maxInFlightRequests = atLeast(1, requests, "maxInFlightRequests");
      return this;
    }

    /**
     * Messages coalesced into one publish request when a node's in-flight window is full; default
     * 256. 1 disables batching (one request per message per node).
     */
    public Builder maxBatchMessages(int messages) {
      this.maxBatchMessages = atLeast(1, messages, "maxBatchMessages");
      return this;
    }

    /**
     * Users in one publish request (summed over its messages); a larger group is split. Keep it at
     * or under the node's recipient limit; default 1000.
     */
    public Builder maxUsersPerRequest(int users) {
      this.maxUsersPerRequest = atLeast(1, users, "maxUsersPerRequest");
      return this;
    }

    /**
     * Bytes of message data coalesced into one publish request (a bigger single message is still
     * sent, alone). Keep it under the node's body limit; default 524288 (512 KiB).
     */
    public Builder maxRequestBytes(int bytes) {
      this.maxRequestBytes = atLeast(1024, bytes, "maxRequestBytes");
      return this;
    }

    /** Messages waiting per node while its window is full; default 10000. */
    public Builder maxQueuedMessages(int messages) {
      this.maxQueuedMessages = atLeast(1, messages, "maxQueuedMessages");
      return this;
    }

    /**
     * How long {@code publish} may block the caller waiting for room in a full node queue before
     * failing that node's recipients with {@code backlog_full}; default zero (never blocks).
     */
    public Builder maxBlock(Duration maxBlock) {
      Objects.requireNonNull(maxBlock, "maxBlock");
      if (maxBlock.isNegative()) {
        throw new IllegalArgumentException("maxBlock must be >= 0: " + maxBlock);
      }
      this.maxBlock = maxBlock;
      return this;
    }

    /** How often the map is reloaded from the source; default 30 seconds; zero disables. */
    public Builder mapRefreshInterval(Duration interval) {
      Objects.requireNonNull(interval, "interval");
      if (interval.isNegative()) {
        throw new IllegalArgumentException("mapRefreshInterval must be >= 0: " + interval);
      }
      this.mapRefreshInterval = interval;
      return this;
    }

    /** How many times misdirected users are re-routed under a newer map; default 2. */
    public Builder maxReroutes(int reroutes) {
      this.maxReroutes = atLeast(0, reroutes, "maxReroutes");
      return this;
    }

    /** Receives request, retry and failure events; default none. */
    public Builder listener(PublisherListener listener) {
      this.listener = Objects.requireNonNull(listener, "listener");
      return this;
    }

    /**
     * The ID nodes know this publisher by ({@code Halley-Publisher}; {@code GET
     * /v1/admin/map/state} lists it with its map versions): 1 to 64 characters from {@code
     * [A-Za-z0-9_.:-]}; default {@code pub-} and 12 random hex digits, new per instance. Give each
     * app server a stable one (its host name) so an operator recognizes it.
     */
    public Builder publisherId(String id) {
      Objects.requireNonNull(id, "id");
      if (!id.matches("[A-Za-z0-9_.:-]{1,64}")) {
        throw new IllegalArgumentException(
            "publisherId must be 1 to 64 characters from [A-Za-z0-9_.:-]: " + id);
      }
      this.publisherId = id;
      return this;
    }

    /**
     * How long dual mode lasts after the pending map became active (a node answered with its
     * version, or the map source loaded it); default 60 seconds (the nodes' {@code
     * handoffRetentionMs}); zero leaves at once.
     */
    public Builder dualGrace(Duration grace) {
      Objects.requireNonNull(grace, "grace");
      if (grace.isNegative()) {
        throw new IllegalArgumentException("dualGrace must be >= 0: " + grace);
      }
      this.dualGrace = grace;
      return this;
    }

    /**
     * Where a pending map may come from besides the nodes' replies (e.g. {@code
     * MapSource.file(Path.of("/etc/halley/pending.json"))}, the nodes' {@code pendingMapFile}):
     * read with the map, and watched; a map there with a version above the active one puts the
     * publisher in dual mode. Default none: the publisher learns pending maps from the nodes.
     */
    public Builder pendingMapSource(MapSource source) {
      this.pendingMapSource = Objects.requireNonNull(source, "source");
      return this;
    }

    /** Serializes message data; default {@code new ObjectMapper()}. */
    public Builder objectMapper(ObjectMapper mapper) {
      this.objectMapper = Objects.requireNonNull(mapper, "mapper");
      return this;
    }

    /** Loads the map and starts the publisher. */
    public Publisher build() {
      if (mapSource == null) {
        throw new IllegalStateException("mapSource is required");
      }
      if (apiKey == null) {
        throw new IllegalStateException("apiKey is required");
      }
      Settings settings =
          new Settings(
              mapSource,
              apiKey,
              requestTimeout,
              connectTimeout,
              maxAttempts,
              retryBaseDelay,
              retryMaxDelay,
              maxInFlightRequests,
              maxBatchMessages,
              maxUsersPerRequest,
              maxRequestBytes,
              maxQueuedMessages,
              maxBlock,
              mapRefreshInterval,
              maxReroutes,
              listener,
              objectMapper,
              publisherId != null ? publisherId : randomPublisherId(),
              dualGrace,
              pendingMapSource);
      try {
        return ClusterPublisher.start(settings);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot load the cluster map from " + mapSource, e);
      }
    }

    private static String randomPublisherId() {
      byte[] bytes = new byte[6];
      new java.security.SecureRandom().nextBytes(bytes);
      StringBuilder id = new StringBuilder("pub-");
      for (byte b : bytes) {
        id.append(String.format("%02x", b));
      }
      return id.toString();
    }

    private static Duration positive(Duration d, String name) {
      Objects.requireNonNull(d, name);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(name + " must be > 0: " + d);
      }
      return d;
    }

    private static int atLeast(int min, int value, String name) {
      if (value < min) {
        throw new IllegalArgumentException(name + " must be >= " + min + ": " + value);
      }
      return value;
    }
  }
}
