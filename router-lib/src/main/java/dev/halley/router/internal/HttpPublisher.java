package dev.halley.router.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.ConnectInfo;
import dev.halley.router.Message;
import dev.halley.router.Presence;
import dev.halley.router.PublishResult;
import dev.halley.router.Publisher;
import dev.halley.router.TokenMinter;
import dev.halley.router.UserAccess;
import java.io.IOException;
import java.net.http.HttpClient;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The {@link Publisher}: the current map, one {@link NodeLane} per node, the map refresher, and
 * presence and subscription calls. Internal: build it with {@code Publisher.builder()}.
 */
public final class HttpPublisher implements Publisher {
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  final Settings settings;
  final Listeners listener;
  final Backoff backoff;
  final ScheduledExecutorService timer;
  private final ExecutorService mapLoader;
  // Set once in start(), before the publisher is shared; closed in close().
  private volatile AutoCloseable mapWatch = () -> {};
  private final HttpClient http;
  private final Map<String, NodeLane> lanes = new ConcurrentHashMap<>();
  private final Set<Runnable> pendingRetries = ConcurrentHashMap.newKeySet();
  private final NodeCalls nodeCalls;
  // Generated keys: 96 random bits per publisher instance, then a counter. Unique across app
  // servers and restarts without a SecureRandom call (a contended lock) per publish.
  private final String keyPrefix = randomPrefix();
  private final AtomicLong keyCounter = new AtomicLong();
  private volatile ClusterMap map;
  private volatile boolean closed;
  private CompletableFuture<ClusterMap> refreshing; // guarded by this

  private HttpPublisher(Settings settings, ClusterMap map) {
    this.settings = settings;
    this.listener = new Listeners(settings.listener());
    this.backoff = new Backoff(settings.retryBaseDelay(), settings.retryMaxDelay());
    int n = INSTANCES.incrementAndGet();
    ScheduledThreadPoolExecutor t =
        new ScheduledThreadPoolExecutor(1, daemon("halley-publisher-" + n + "-timer"));
    t.setRemoveOnCancelPolicy(true);
    this.timer = t;
    this.mapLoader = Executors.newSingleThreadExecutor(daemon("halley-publisher-" + n + "-map"));
    // HTTP/1.1 pinned: nodes speak h1, and an h2c upgrade attempt per connection is wasted work.
    this.http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(settings.connectTimeout())
            .build();
    this.map = map;
    this.nodeCalls = new NodeCalls(this);
    for (NodeInfo node : map.nodes()) {
      lane(node);
    }
  }

  /** Loads the map (on the caller's thread) and starts the refresh schedule. */
  public static HttpPublisher start(Settings settings) throws IOException {
    ClusterMap map;
    try {
      map = settings.mapSource().load();
    } catch (RuntimeException e) {
      throw new IOException(e.getMessage(), e);
    }
    HttpPublisher publisher = new HttpPublisher(settings, map);
    publisher.listener.mapChanged(map.version(), map.nodes().size());
    try {
      // A refresh already under way may have read the file before it changed, and refreshMap()
      // joins it: refresh once more after it, so the new content is always loaded.
      publisher.mapWatch =
          settings
              .mapSource()
              .watch(() -> publisher.refreshMap().whenComplete((m, e) -> publisher.refreshMap()));
    } catch (IOException | RuntimeException e) {
      publisher.close();
      throw new IOException("cannot watch " + settings.mapSource() + ": " + e.getMessage(), e);
    }
    long every = settings.mapRefreshInterval().toNanos();
    if (every > 0) {
      publisher.timer.scheduleWithFixedDelay(
          () -> publisher.refreshMap(), every, every, TimeUnit.NANOSECONDS);
    }
    return publisher;
  }

  /**
   * Runs {@code retry} after {@code delay} on the timer; if the publisher closes first, runs {@code
   * onClosed} instead (exactly one of the two runs).
   */
  void scheduleRetry(Runnable retry, Runnable onClosed, Duration delay) {
    // onClosed (a fresh object per call) is the claim ticket: whoever removes it runs.
    Runnable claimed =
        () -> {
          if (pendingRetries.remove(onClosed)) {
            retry.run();
          }
        };
    pendingRetries.add(onClosed);
    try {
      timer.schedule(claimed, delay.toNanos(), TimeUnit.NANOSECONDS);
    } catch (RuntimeException e) {
      if (pendingRetries.remove(onClosed)) {
        onClosed.run(); // the timer is shut down: the publisher is closing
      }
    }
  }

  HttpClient http() {
    return http;
  }

  boolean isClosed() {
    return closed;
  }

  // ---- publish ----

  @Override
  public CompletableFuture<PublishResult> publish(Message message) {
    String dataJson;
    try {
      dataJson = settings.objectMapper().writeValueAsString(message.data());
    } catch (JsonProcessingException e) {
      return CompletableFuture.failedFuture(
          new IllegalArgumentException("message data is not serializable: " + e.getMessage(), e));
    }
    String id =
        message.idempotencyKey() != null
            ? message.idempotencyKey()
            : keyPrefix + Long.toString(keyCounter.incrementAndGet(), 36);
    Long ttlMs = message.ttl() == null ? null : message.ttl().toMillis();
    PublishTracker tracker = new PublishTracker(id, message.channel());
    ClusterMap current = map;
    List<Fragment> fragments = new ArrayList<>();
    if (message.channel() != null) {
      for (NodeInfo node : current.nodes()) {
        fragments.add(
            new Fragment(id, node.id(), null, message.channel(), dataJson, ttlMs, tracker, 0));
      }
    } else {
      for (Map.Entry<NodeInfo, List<String>> e :
          groupByOwner(current, message.users()).entrySet()) {
        chunk(fragments, id, e.getKey().id(), e.getValue(), dataJson, ttlMs, tracker, 0);
      }
    }
    dispatch(tracker, fragments, current, true);
    return tracker.future;
  }

  private static Map<NodeInfo, List<String>> groupByOwner(
      ClusterMap map, Collection<String> users) {
    Map<NodeInfo, List<String>> byNode = new LinkedHashMap<>();
    for (String user : users) {
      byNode.computeIfAbsent(map.owner(user), k -> new ArrayList<>()).add(user);
    }
    return byNode;
  }

  /** Splits one node's users into requests of at most maxUsersPerRequest, with distinct keys. */
  private void chunk(
      List<Fragment> out,
      String id,
      String nodeId,
      List<String> users,
      String dataJson,
      Long ttlMs,
      PublishTracker tracker,
      int reroutes) {
    int max = settings.maxUsersPerRequest();
    for (int from = 0, part = 0; from < users.size(); from += max, part++) {
      List<String> slice = List.copyOf(users.subList(from, Math.min(users.size(), from + max)));
      String wireId = part == 0 ? id : id + "#" + part;
      out.add(new Fragment(wireId, nodeId, slice, null, dataJson, ttlMs, tracker, reroutes));
    }
  }

  /** Counts every fragment on the tracker first, then queues each on its node's lane. */
  private void dispatch(
      PublishTracker tracker, List<Fragment> fragments, ClusterMap current, boolean mayBlock) {
    tracker.hold();
    for (int i = 0; i < fragments.size(); i++) {
      tracker.hold();
    }
    for (Fragment f : fragments) {
      if (closed) {
        failFragment(f, Wire.CLOSED);
        continue;
      }
      NodeLane lane = lanes.get(f.nodeId);
      if (lane == null) {
        lane = current.node(f.nodeId).map(this::lane).orElse(null);
      }
      if (lane == null) {
        failFragment(f, Wire.NO_NODE);
      } else if (!lane.offer(f, mayBlock)) {
        failFragment(f, Wire.BACKLOG_FULL);
      }
    }
    tracker.release();
  }

  void failFragment(Fragment f, String reason) {
    listener.recipientsFailed(f.nodeId, reason, f.recipients());
    f.tracker.fail(f, reason);
  }

  /**
   * Re-sends {@code users}, reported misdirected by {@code f}'s node (whose map has {@code
   * nodeMapVersion}), to their owner under a map at least that new. Keys are derived from the
   * fragment's key and the refusing node, so retries of the re-route reuse them and no other part
   * of the message collides with them. The caller still releases {@code f} itself.
   */
  void reroute(Fragment f, List<String> users, int nodeMapVersion) {
    if (closed) {
      failUsers(f, users, Wire.CLOSED);
      return;
    }
    if (f.reroutes >= settings.maxReroutes()) {
      failUsers(f, users, Wire.MISDIRECTED);
      return;
    }
    f.tracker.hold();
    mapAtLeast(nodeMapVersion)
        .whenComplete(
            (ignored, error) -> {
              ClusterMap current = map;
              List<Fragment> next = new ArrayList<>();
              List<String> stuck = new ArrayList<>();
              for (Map.Entry<NodeInfo, List<String>> e : groupByOwner(current, users).entrySet()) {
                if (e.getKey().id().equals(f.nodeId)) {
                  stuck.addAll(e.getValue()); // our map still says that node: nowhere else to go
                } else {
                  chunk(
                      next,
                      f.wireId + "~" + f.nodeId,
                      e.getKey().id(),
                      e.getValue(),
                      f.dataJson,
                      f.ttlMs,
                      f.tracker,
                      f.reroutes + 1);
                }
              }
              if (!stuck.isEmpty()) {
                failUsers(f, stuck, Wire.MISDIRECTED);
              }
              if (!next.isEmpty()) {
                listener.rerouted(f.nodeId, users.size() - stuck.size());
                dispatch(f.tracker, next, current, false);
              }
              f.tracker.release();
            });
  }

  private void failUsers(Fragment f, List<String> users, String reason) {
    listener.recipientsFailed(f.nodeId, reason, users.size());
    for (String user : users) {
      f.tracker.user(user, PublishResult.Status.FAILED, f.nodeId, reason);
    }
  }

  private NodeLane lane(NodeInfo node) {
    NodeLane lane =
        lanes.computeIfAbsent(node.id(), id -> new NodeLane(id, node.internalUrl(), this));
    lane.internalUrl(node.internalUrl());
    return lane;
  }

  // ---- map ----

  @Override
  public ClusterMap map() {
    return map;
  }

  @Override
  public NodeInfo ownerOf(String user) {
    return map.owner(Ids.checkUser(user));
  }

  /**
   * The current map if it is at least {@code version}, else after a refresh (whatever it gives).
   */
  CompletableFuture<ClusterMap> mapAtLeast(int version) {
    ClusterMap current = map;
    if (current.version() >= version) {
      return CompletableFuture.completedFuture(current);
    }
    return refreshMap();
  }

  @Override
  public CompletableFuture<ClusterMap> refreshMap() {
    synchronized (this) {
      if (refreshing != null) {
        return refreshing;
      }
      if (closed) {
        return CompletableFuture.failedFuture(new IllegalStateException("publisher is closed"));
      }
      CompletableFuture<ClusterMap> f = new CompletableFuture<>();
      refreshing = f;
      try {
        mapLoader.execute(() -> load(f));
      } catch (RuntimeException e) {
        refreshing = null;
        return CompletableFuture.failedFuture(e);
      }
      return f;
    }
  }

  private void load(CompletableFuture<ClusterMap> f) {
    Throwable failure = null;
    try {
      ClusterMap loaded = settings.mapSource().load();
      use(loaded);
    } catch (IOException | RuntimeException e) {
      failure = e;
      listener.mapLoadFailed(e);
    }
    synchronized (this) {
      refreshing = null;
    }
    if (failure == null) {
      f.complete(map);
    } else {
      f.completeExceptionally(failure);
    }
  }

  /** Switches to {@code loaded} unless it is older than the map in use. */
  private void use(ClusterMap loaded) throws IOException {
    ClusterMap current = map;
    if (loaded.version() < current.version()) {
      throw new IOException(
          "map source went back to version " + loaded.version() + " from " + current.version());
    }
    if (loaded.equals(current)) {
      return;
    }
    for (NodeInfo node : loaded.nodes()) {
      lane(node);
    }
    map = loaded;
    listener.mapChanged(loaded.version(), loaded.nodes().size());
  }

  // ---- presence, subscriptions, connect info ----

  @Override
  public CompletableFuture<Presence> presence(String user) {
    return nodeCalls.presence(Ids.checkUser(user));
  }

  @Override
  public CompletableFuture<Set<String>> subscribe(String user, String channel) {
    return nodeCalls.subscription(Ids.checkUser(user), Ids.checkChannel(channel), true);
  }

  @Override
  public CompletableFuture<Set<String>> unsubscribe(String user, String channel) {
    return nodeCalls.subscription(Ids.checkUser(user), Ids.checkChannel(channel), false);
  }

  // ---- access: disconnect, block, revoke ----

  @Override
  public CompletableFuture<UserAccess> disconnect(String user, String reason) {
    ObjectNode body = JsonNodeFactory.instance.objectNode();
    if (reason != null) {
      body.put("reason", checkReason(reason));
    }
    return nodeCalls.access(Ids.checkUser(user), "disconnect", bytes(body));
  }

  @Override
  public CompletableFuture<UserAccess> block(String user, Instant until, String reason) {
    Objects.requireNonNull(until, "until");
    ObjectNode body = JsonNodeFactory.instance.objectNode();
    body.put("until", until.toEpochMilli());
    if (reason != null) {
      body.put("reason", checkReason(reason));
    }
    return nodeCalls.access(Ids.checkUser(user), "block", bytes(body));
  }

  @Override
  public CompletableFuture<UserAccess> unblock(String user) {
    return nodeCalls.access(Ids.checkUser(user), "unblock", null);
  }

  @Override
  public CompletableFuture<UserAccess> revokeToken(String user, String jti, Instant expiresAt) {
    Objects.requireNonNull(jti, "jti");
    if (jti.isEmpty() || jti.length() > 256) {
      throw new IllegalArgumentException("jti must have 1..256 characters: " + jti.length());
    }
    ObjectNode body = JsonNodeFactory.instance.objectNode();
    body.put("jti", jti);
    if (expiresAt != null) {
      body.put("expiresAt", expiresAt.toEpochMilli());
    }
    return nodeCalls.access(Ids.checkUser(user), "revoke", bytes(body));
  }

  @Override
  public CompletableFuture<UserAccess> revokeTokensIssuedBefore(String user, Instant before) {
    Objects.requireNonNull(before, "before");
    ObjectNode body = JsonNodeFactory.instance.objectNode();
    body.put("issuedBefore", before.toEpochMilli());
    return nodeCalls.access(Ids.checkUser(user), "revoke", bytes(body));
  }

  @Override
  public CompletableFuture<UserAccess> access(String user) {
    return nodeCalls.access(Ids.checkUser(user));
  }

  private static String checkReason(String reason) {
    if (reason.isEmpty() || reason.length() > 256) {
      throw new IllegalArgumentException("reason must have 1..256 characters: " + reason.length());
    }
    return reason;
  }

  private static byte[] bytes(ObjectNode body) {
    return body.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  @Override
  public ConnectInfo connectInfo(
      String user, TokenMinter minter, Duration ttl, Collection<String> channels) {
    ClusterMap current = map;
    NodeInfo owner = current.owner(Ids.checkUser(user));
    String token = minter.mint(user, ttl, channels);
    return new ConnectInfo(
        user,
        owner.id(),
        owner.publicUrl().toString(),
        token,
        current.version(),
        current.publicViewJson());
  }

  // ---- lifecycle ----

  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    try {
      mapWatch.close();
    } catch (Exception e) {
      // a watch that cannot close has nothing left to tell this publisher
    }
    timer.shutdownNow();
    mapLoader.shutdownNow();
    for (Runnable onClosed : List.copyOf(pendingRetries)) {
      if (pendingRetries.remove(onClosed)) {
        onClosed.run();
      }
    }
    for (NodeLane lane : lanes.values()) {
      for (Fragment f : lane.drain()) {
        failFragment(f, Wire.CLOSED);
      }
    }
  }

  @Override
  public String toString() {
    return "Publisher{map=v" + map.version() + ", nodes=" + lanes.keySet() + "}";
  }

  private static String randomPrefix() {
    byte[] bytes = new byte[12];
    new SecureRandom().nextBytes(bytes);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes) + "-";
  }

  private static ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }
}
