package dev.halley.router;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.PublishResult.Status;
import dev.halley.router.internal.Backoff;
import dev.halley.router.internal.DualRoute;
import dev.halley.router.internal.Ids;
import dev.halley.router.internal.NodeClient;
import dev.halley.router.internal.Wire;
import java.io.IOException;
import java.net.http.HttpClient;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
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
 * The {@link Publisher} of a cluster: the current map, one {@link NodeLane} per node, the {@link
 * RecipientOrder} that keeps publish order per recipient, the map refresher, and presence and
 * subscription calls. Every request goes through one {@link NodeClient}.
 */
final class ClusterPublisher implements Publisher {
  private static final AtomicInteger INSTANCES = new AtomicInteger();
  private static final long SWEEP_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  final Settings settings;
  final SafeListener listener;
  final NodeClient client;
  final RecipientOrder order = new RecipientOrder();
  private final OwnerCalls ownerCalls = new OwnerCalls(this);
  final long budgetNanos;
  private final ScheduledExecutorService timer;
  private final ExecutorService mapLoader;
  // Set once in start(), before the publisher is shared; closed in close().
  private volatile AutoCloseable mapWatch = () -> {};
  private volatile AutoCloseable pendingWatch = () -> {};
  private final Map<String, NodeLane> lanes = new ConcurrentHashMap<>();
  // Generated keys: 96 random bits per publisher instance, then a counter. Unique across app
  // servers and restarts without a SecureRandom call (a contended lock) per publish.
  private final String keyPrefix = randomPrefix();
  private final AtomicLong keyCounter = new AtomicLong();
  private volatile ClusterMap map;
  private volatile boolean closed;
  private CompletableFuture<ClusterMap> refreshing; // guarded by this

  /** Dual mode: set while a pending map is known (and for dualGrace after it became active). */
  private volatile Dual dual;

  private CompletableFuture<DualRoute> pendingFetch; // guarded by this
  private long nextPendingFetchNanos = System.nanoTime(); // guarded by this

  /**
   * Dual mode's state: the routing between the active and the pending map, where the pending map
   * came from (a node's ID, or {@link #PENDING_SOURCE}), and whether it was seen active.
   */
  static final class Dual {
    final DualRoute route;
    final String source;
    volatile boolean activeSeen;

    /** When dual mode began (nanoTime): only replies to requests sent later can end it early. */
    final long sinceNanos = System.nanoTime();

    Dual(DualRoute route, String source) {
      this.route = route;
      this.source = source;
    }
  }

  private static final String PENDING_SOURCE = "pendingMapSource";

  /** Failed pending-map fetches are not repeated sooner than this. */
  private static final long PENDING_FETCH_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(1);

  private ClusterPublisher(Settings settings, ClusterMap map) {
    this.settings = settings;
    this.listener = new SafeListener(settings.listener());
    int n = INSTANCES.incrementAndGet();
    ScheduledThreadPoolExecutor t =
        new ScheduledThreadPoolExecutor(1, daemon("halley-publisher-" + n + "-timer"));
    t.setRemoveOnCancelPolicy(true);
    this.timer = t;
    this.mapLoader = Executors.newSingleThreadExecutor(daemon("halley-publisher-" + n + "-map"));
    // HTTP/1.1 pinned: nodes speak h1, and an h2c upgrade attempt per connection is wasted work.
    HttpClient http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(settings.connectTimeout())
            .build();
    this.client =
        new NodeClient(
            http,
            settings.objectMapper(),
            settings.apiKey(),
            settings.requestTimeout(),
            settings.maxAttempts(),
            new Backoff(settings.retryBaseDelay(), settings.retryMaxDelay()),
            timer,
            listener,
            () -> closed,
            settings.publisherId(),
            this::versionsHeader);
    this.budgetNanos = client.budget().toNanos();
    this.map = map;
    for (NodeInfo node : map.nodes()) {
      lane(node);
    }
  }

  /** Loads the map (on the caller's thread) and starts the refresh schedule. */
  static ClusterPublisher start(Settings settings) throws IOException {
    ClusterMap map;
    try {
      map = settings.mapSource().load();
    } catch (RuntimeException e) {
      throw new IOException(e.getMessage(), e);
    }
    ClusterPublisher publisher = new ClusterPublisher(settings, map);
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
    if (settings.pendingMapSource() != null) {
      publisher.loadPending();
      try {
        publisher.pendingWatch = settings.pendingMapSource().watch(() -> publisher.refreshMap());
      } catch (IOException | RuntimeException e) {
        publisher.close();
        throw new IOException(
            "cannot watch " + settings.pendingMapSource() + ": " + e.getMessage(), e);
      }
    }
    long every = settings.mapRefreshInterval().toNanos();
    if (every > 0) {
      publisher.timer.scheduleWithFixedDelay(
          () -> publisher.refreshMap(), every, every, TimeUnit.NANOSECONDS);
    }
    publisher.timer.scheduleWithFixedDelay(
        publisher::expireQueued, SWEEP_NANOS, SWEEP_NANOS, TimeUnit.NANOSECONDS);
    return publisher;
  }

  /** The longest time from {@code publish} to its outcome (the NodeClient's call budget). */
  Duration deliveryBudget() {
    return Duration.ofNanos(budgetNanos);
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
    long deadline = System.nanoTime() + budgetNanos;
    PublishTracker tracker = new PublishTracker(id, message.channel());
    ClusterMap current = map;
    Dual d = dual;
    List<Fragment> fragments = new ArrayList<>();
    ChannelPhases phases = null;
    if (message.channel() != null && d != null) {
      phases = new ChannelPhases(d.route);
      int k = 0;
      for (List<NodeInfo> phase : d.route.channelPhases()) {
        for (NodeInfo node : phase) {
          Fragment f =
              new Fragment(
                  id,
                  node.id(),
                  null,
                  message.channel(),
                  dataJson,
                  ttlMs,
                  message.conflationKey(),
                  tracker,
                  0,
                  deadline);
          phases.add(f, k);
          fragments.add(f);
        }
        k++;
      }
    } else if (message.channel() != null) {
      for (NodeInfo node : current.nodes()) {
        fragments.add(
            new Fragment(
                id,
                node.id(),
                null,
                message.channel(),
                dataJson,
                ttlMs,
                message.conflationKey(),
                tracker,
                0,
                deadline));
      }
    } else {
      for (Map.Entry<NodeInfo, List<String>> e :
          groupByOwner(current, d, message.users()).entrySet()) {
        int max = settings.maxUsersPerRequest();
        List<String> users = e.getValue();
        for (int from = 0; from < users.size(); from += max) {
          List<String> slice = List.copyOf(users.subList(from, Math.min(users.size(), from + max)));
          Fragment f =
              new Fragment(
                  id,
                  e.getKey().id(),
                  slice,
                  null,
                  dataJson,
                  ttlMs,
                  message.conflationKey(),
                  tracker,
                  0,
                  deadline);
          f.route = d == null ? null : d.route;
          fragments.add(f);
        }
      }
    }
    tracker.hold();
    for (int i = 0; i < fragments.size(); i++) {
      tracker.hold();
    }
    if (closed) {
      for (Fragment f : fragments) {
        tracker.settleAll(f, Status.FAILED, NodeClient.CLOSED);
        tracker.release();
      }
    } else {
      // Room first (maybe blocking), then registered in call order (the order each recipient
      // sees), then queued.
      List<Fragment> admitted = new ArrayList<>(fragments.size());
      List<NodeLane> admittedLanes = new ArrayList<>(fragments.size());
      for (Fragment f : fragments) {
        NodeLane lane = lanes.get(f.nodeId);
        if (lane == null) {
          lane = nodeInfo(f.nodeId, current, d).map(this::lane).orElse(null);
        }
        if (lane == null) {
          fail(f, Status.FAILED, Wire.NO_NODE);
        } else if (!lane.reserve(true)) {
          fail(f, Status.FAILED, Wire.BACKLOG_FULL);
        } else {
          admitted.add(f);
          admittedLanes.add(lane);
        }
      }
      order.register(admitted);
      Set<NodeLane> touched = new LinkedHashSet<>();
      for (int i = 0; i < admitted.size(); i++) {
        if (admitted.get(i).phases == null) {
          enqueue(admitted.get(i), admittedLanes.get(i), touched);
        }
      }
      if (phases != null) {
        for (Fragment f : phases.start()) {
          enqueue(f, lanes.get(f.nodeId), touched);
        }
      }
      touched.forEach(NodeLane::pump);
    }
    tracker.release();
    return tracker.future;
  }

  /** Queues {@code f} (room already reserved on {@code lane}) unless the publisher closed. */
  private void enqueue(Fragment f, NodeLane lane, Set<NodeLane> touched) {
    lane.enqueue(f);
    touched.add(lane);
    if (closed) {
      for (Fragment drained : lane.drain()) {
        fail(drained, Status.FAILED, NodeClient.CLOSED); // close() may have drained already
      }
    }
  }

  /** Users by owner: under the map, or in dual mode by their old owner (the first send). */
  private static Map<NodeInfo, List<String>> groupByOwner(
      ClusterMap map, Dual d, Collection<String> users) {
    Map<NodeInfo, List<String>> byNode = new LinkedHashMap<>();
    for (String user : users) {
      NodeInfo owner = d == null ? map.owner(user) : d.route.user(user).oldOwner();
      byNode.computeIfAbsent(owner, k -> new ArrayList<>()).add(user);
    }
    return byNode;
  }

  private static java.util.Optional<NodeInfo> nodeInfo(String id, ClusterMap map, Dual d) {
    java.util.Optional<NodeInfo> node = map.node(id);
    if (node.isEmpty() && d != null) {
      node = d.route.pending().node(id).or(() -> d.route.active().node(id));
    }
    return node;
  }

  /** Gives every recipient of an unsent or finished fragment {@code status} and releases it. */
  void fail(Fragment f, Status status, String reason) {
    listener.recipients(f, f.nodeId, status, reason, f.recipients());
    f.tracker.settleAll(f, status, reason);
    settled(f, null);
    f.tracker.release();
  }

  /** Settles {@code f}'s recipients at {@code indices} (all when null) in the order keeper. */
  void settled(Fragment f, int[] indices) {
    for (String node : order.release(f, indices)) {
      NodeLane lane = lanes.get(node);
      if (lane != null) {
        lane.pump();
      }
    }
    if (f.phases != null) {
      List<Fragment> next = f.phases.settled(f);
      if (!next.isEmpty()) {
        Set<NodeLane> touched = new LinkedHashSet<>();
        for (Fragment n : next) {
          NodeLane lane = lanes.get(n.nodeId);
          if (lane == null) {
            fail(n, Status.FAILED, Wire.NO_NODE); // room was reserved on a lane that exists
          } else {
            enqueue(n, lane, touched); // in registration order: before younger ones, batched
          }
        }
        touched.forEach(NodeLane::pump);
      }
    }
  }

  /**
   * A moving user's second send (dual mode): the user at {@code index} of a fragment, what to send
   * to its new owner, and whether that send's outcome is left unreported ({@code silent}: the old
   * owner's outcome stands).
   */
  record SecondSend(int index, DualRoute.Second second, boolean silent) {}

  /**
   * Sends {@code f}'s users in {@code sends} to their new owners under {@code route}. Each part
   * takes the places {@code f} reserved at publish time in its users' lists of second sends in the
   * order keeper (so the second sends of one user reach its new owner in publish order, whatever
   * order the old owner's answers come in, and a later message sent straight there waits for them),
   * while {@code f}'s own places are settled by the caller: a user's next first send does not wait
   * for this one. A second send's own part (a held one) is split instead.
   */
  void sendSeconds(Fragment f, List<SecondSend> sends, DualRoute route) {
    Map<String, List<SecondSend>> groups = new LinkedHashMap<>();
    for (SecondSend s : sends) {
      String owner = route.user(f.users.get(s.index())).newOwner().id();
      groups.computeIfAbsent(owner + "\n" + s.silent(), k -> new ArrayList<>()).add(s);
    }
    Set<NodeLane> touched = new LinkedHashSet<>();
    for (List<SecondSend> group : groups.values()) {
      int[] idx = new int[group.size()];
      Map<String, String> relay = new LinkedHashMap<>();
      for (int j = 0; j < idx.length; j++) {
        SecondSend s = group.get(j);
        idx[j] = s.index();
        if (s.second().relay()) {
          relay.put(f.users.get(s.index()), s.second().position());
        }
      }
      NodeInfo owner = route.user(f.users.get(idx[0])).newOwner();
      Fragment part = secondPart(f, idx, owner.id());
      part.silent = group.get(0).silent();
      part.relay = relay.isEmpty() ? null : relay;
      NodeLane lane = lane(owner);
      if (closed) {
        fail(part, Status.FAILED, NodeClient.CLOSED);
      } else if (!lane.reserve(false)) {
        fail(part, Status.FAILED, Wire.BACKLOG_FULL);
      } else {
        // In registration order (at the back, unless it holds older places: a relay held while
        // the pending map was fetched): a user's second sends then sit in publish order and go
        // out in one batch, and none waits behind the ones that wait for it.
        enqueue(part, lane, touched);
      }
    }
    touched.forEach(NodeLane::pump);
  }

  /**
   * Positions a node returned for users while this publisher did not know the pending map (it
   * learns it from the same reply): the users' places are held until the pending map is fetched,
   * then each is relayed to its new owner (silently: the first outcome stands). If the fetch fails,
   * no relay is sent (the handoff of those users ends in an honest reset).
   */
  void lateSeconds(Fragment f, int[] indices, Map<String, String> positions) {
    Fragment held = secondPart(f, indices, f.nodeId + "\n?");
    held.silent = true;
    pendingRoute()
        .whenComplete(
            (route, error) -> {
              if (route != null && !closed) {
                List<SecondSend> sends = new ArrayList<>();
                for (int i = 0; i < held.users.size(); i++) {
                  String user = held.users.get(i);
                  if (route.user(user).moving() && positions.get(user) != null) {
                    sends.add(new SecondSend(i, DualRoute.Second.relay(positions.get(user)), true));
                  }
                }
                if (!sends.isEmpty()) {
                  sendSeconds(held, sends, route);
                }
              }
              settled(held, null);
              held.tracker.release();
            });
  }

  /**
   * A fragment of {@code f}'s users at {@code indices}, for {@code node}, that takes their places
   * in the order keeper and is held on the tracker.
   */
  Fragment split(Fragment f, int[] indices, String node, int reroutes, boolean sameBatch) {
    List<String> subset = new ArrayList<>(indices.length);
    for (int i : indices) {
      subset.add(f.users.get(i));
    }
    Fragment part = f.derive(node, List.copyOf(subset), reroutes);
    f.tracker.hold();
    order.handOver(f, indices, part, sameBatch);
    return part;
  }

  /**
   * Re-sends users that {@code fromNode} (whose map has {@code nodeMapVersion}) reported
   * misdirected to their owner under a map at least that new, in the order given, before every
   * younger queued fragment (they keep their place in each recipient's order). Each entry holds its
   * fragment's tracker once; this releases it after dispatching.
   *
   * <p>During a reshard the map may still name {@code fromNode}: in dual mode the user then goes to
   * its owner under the other map of the two ({@link #rerouteOwner}); when the node named a newer
   * map version than the publisher has, the users wait for it (the map source is asked again, with
   * the retry backoff) until the message's deadline, holding their places. Only then, or when the
   * publisher's map is as new as the node's, is the user {@code misdirected}.
   */
  void reroute(List<PublishRequest.Reroute> reroutes, String fromNode, int nodeMapVersion) {
    if (reroutes.isEmpty()) {
      return;
    }
    mapAtLeast(nodeMapVersion)
        .whenComplete(
            (ignored, error) -> {
              ClusterMap current = map;
              Map<NodeLane, List<Fragment>> byLane = new LinkedHashMap<>();
              for (PublishRequest.Reroute r : reroutes) {
                Fragment f = r.fragment();
                Map<String, List<Integer>> byOwner = new LinkedHashMap<>();
                for (int i : r.indices()) {
                  String owner = closed ? "" : rerouteOwner(f.users.get(i), fromNode, current).id();
                  byOwner.computeIfAbsent(owner, k -> new ArrayList<>()).add(i);
                }
                int moved = 0;
                for (Map.Entry<String, List<Integer>> e : byOwner.entrySet()) {
                  int[] idx = e.getValue().stream().mapToInt(Integer::intValue).toArray();
                  String owner = e.getKey();
                  if (!closed
                      && owner.equals(fromNode)
                      && nodeMapVersion > current.version()
                      && awaitNewerMap(f, idx, fromNode, nodeMapVersion)) {
                    continue; // waiting for the map the node has
                  }
                  Fragment part =
                      split(f, idx, owner.isEmpty() ? fromNode : owner, f.reroutes + 1, false);
                  NodeLane lane = lanes.get(owner);
                  if (closed) {
                    fail(part, Status.FAILED, NodeClient.CLOSED);
                  } else if (owner.equals(fromNode) || f.reroutes >= settings.maxReroutes()) {
                    // Our map still says that node, or we gave up: nowhere else to go.
                    fail(part, Status.FAILED, Wire.MISDIRECTED);
                  } else {
                    moved += idx.length;
                    byLane
                        .computeIfAbsent(
                            lane != null
                                ? lane
                                : nodeInfo(owner, current, dual).map(this::lane).orElse(null),
                            k -> new ArrayList<>())
                        .add(part);
                  }
                }
                if (moved > 0) {
                  listener.rerouted(fromNode, moved);
                }
              }
              Set<NodeLane> touched = new LinkedHashSet<>();
              for (Map.Entry<NodeLane, List<Fragment>> e : byLane.entrySet()) {
                List<Fragment> parts = e.getValue();
                NodeLane lane = e.getKey();
                for (Fragment part : parts) {
                  if (lane == null) {
                    fail(part, Status.FAILED, Wire.NO_NODE);
                  } else if (!lane.reserve(false)) {
                    fail(part, Status.FAILED, Wire.BACKLOG_FULL);
                  } else {
                    enqueue(part, lane, touched); // keeps its places: before younger fragments
                  }
                }
              }
              for (PublishRequest.Reroute r : reroutes) {
                r.fragment().tracker.release();
              }
              touched.forEach(NodeLane::pump);
            });
  }

  /**
   * Where a user {@code fromNode} refused goes: its owner under the map, or, when that is {@code
   * fromNode} and dual mode is on, its owner under the pending map or else the active one of dual
   * mode (the node activated the pending map before this publisher saw it active, or has not yet);
   * {@code fromNode} itself when every map names it. Also {@link OwnerCalls}'s, for a 421.
   */
  NodeInfo rerouteOwner(String user, String fromNode, ClusterMap current) {
    NodeInfo owner = current.owner(user);
    Dual d = dual;
    if (owner.id().equals(fromNode) && d != null) {
      NodeInfo pending = d.route.pending().owner(user);
      if (!pending.id().equals(fromNode)) {
        return pending;
      }
      NodeInfo active = d.route.active().owner(user);
      if (!active.id().equals(fromNode)) {
        return active;
      }
    }
    return owner;
  }

  /**
   * Holds {@code f}'s users at {@code indices} (their places kept) while the map source catches up
   * with the newer map {@code fromNode} has, then re-routes them again; false when the message's
   * deadline leaves no room for another wait (the caller fails them).
   */
  private boolean awaitNewerMap(Fragment f, int[] indices, String fromNode, int nodeMapVersion) {
    int waits = f.mapWaits + 1;
    // The retry backoff's first two steps, over and over: capped, and never past the deadline.
    Duration delay = client.retryDelay(Math.min(waits, 2), f.deadlineNanos);
    if (delay == null) {
      return false;
    }
    Fragment part = split(f, indices, fromNode, f.reroutes, false); // holds the tracker once
    part.mapWaits = waits;
    // reroute() asks the map source again (mapAtLeast) and releases the part's hold.
    client.schedule(
        () ->
            reroute(List.of(new PublishRequest.Reroute(part, all(part))), fromNode, nodeMapVersion),
        () -> fail(part, Status.FAILED, NodeClient.CLOSED),
        delay);
    return true;
  }

  private static int[] all(Fragment f) {
    int[] all = new int[f.users.size()];
    for (int i = 0; i < all.length; i++) {
      all[i] = i;
    }
    return all;
  }

  /** Fragments queued for node {@code nodeId}, not yet sent (0 for an unknown node). */
  int queued(String nodeId) {
    NodeLane lane = lanes.get(nodeId);
    return lane == null ? 0 : lane.queued();
  }

  /** Fails queued fragments whose time ran out: they were never sent, so nothing is stored. */
  private void expireQueued() {
    long now = System.nanoTime();
    for (NodeLane lane : lanes.values()) {
      for (Fragment f : lane.expire(now)) {
        fail(f, Status.FAILED, NodeClient.TIMEOUT);
      }
    }
  }

  /**
   * A channel result's {@code positions} while this publisher did not know the pending map: once it
   * is fetched, the message goes again to each node that gains some of those users, with their
   * relay only (silently: the first answers are the outcome). The message's future waits for it.
   * These relays are ordered on their node from the moment they are registered (after the fetch),
   * not from the publish: a dual-mode message published meanwhile may reach that node first.
   */
  void lateChannelRelay(Fragment f, Map<String, String> positions) {
    f.tracker.hold();
    pendingRoute()
        .whenComplete(
            (route, error) -> {
              try {
                if (route == null || closed) {
                  return;
                }
                Set<NodeLane> touched = new LinkedHashSet<>();
                Map<String, List<String>> byNode = new LinkedHashMap<>();
                for (String user : positions.keySet()) {
                  DualRoute.UserRoute r = route.user(user);
                  if (r.moving()) {
                    byNode.computeIfAbsent(r.newOwner().id(), k -> new ArrayList<>()).add(user);
                  }
                }
                for (Map.Entry<String, List<String>> e : byNode.entrySet()) {
                  Fragment relay =
                      new Fragment(
                          f.wireId,
                          e.getKey(),
                          null,
                          f.channel,
                          f.dataJson,
                          f.ttlMs,
                          f.conflationKey,
                          f.tracker,
                          0,
                          System.nanoTime() + budgetNanos);
                  relay.silent = true;
                  relay.relay = route.channelRelay(e.getKey(), positions);
                  f.tracker.hold();
                  order.register(List.of(relay));
                  NodeLane lane = route.pending().node(e.getKey()).map(this::lane).orElse(null);
                  if (lane == null || !lane.reserve(false)) {
                    fail(relay, Status.FAILED, Wire.BACKLOG_FULL);
                  } else {
                    enqueue(relay, lane, touched);
                  }
                }
                touched.forEach(NodeLane::pump);
              } finally {
                f.tracker.release();
              }
            });
  }

  /**
   * A second send of {@code f}'s users at {@code indices} to {@code node}, held on the tracker and
   * registered in the users' lists of second sends (a part of a second send takes its places).
   */
  private Fragment secondPart(Fragment f, int[] indices, String node) {
    if (f.second) {
      return split(f, indices, node, f.reroutes, false);
    }
    List<String> subset = new ArrayList<>(indices.length);
    for (int i : indices) {
      subset.add(f.users.get(i));
    }
    // A fresh deadline: the relay is what keeps the user's stream whole, and the old owner's
    // answer may have used most of the message's time.
    Fragment part =
        new Fragment(
            f.wireId,
            node,
            List.copyOf(subset),
            null,
            f.dataJson,
            f.ttlMs,
            f.conflationKey,
            f.tracker,
            f.reroutes,
            System.nanoTime() + budgetNanos);
    part.second = true;
    f.tracker.hold();
    // The places f reserved at publish time (dual mode), so the second sends of one user keep its
    // publish order whatever order the old owner's answers came in; else (positions learnt before
    // dual mode: lateSeconds) at the back now.
    if (!order.takeSeconds(f, indices, part)) {
      order.register(List.of(part));
    }
    return part;
  }

  // ---- dual mode ----

  /**
   * Where {@code user}'s connections are: its owner under the map, or, once the pending map of dual
   * mode was seen active, under the pending map (during the grace the map may still be the old
   * one).
   */
  NodeInfo ownerNow(String user) {
    return mapNow().owner(user);
  }

  /** The map connections follow: the pending map once seen active in dual mode, else the map. */
  ClusterMap mapNow() {
    Dual d = dual;
    ClusterMap current = map;
    if (d != null && d.activeSeen && d.route.pending().version() > current.version()) {
      return d.route.pending();
    }
    return current;
  }

  @Override
  public List<Integer> mapVersions() {
    Dual d = dual;
    if (d != null) {
      return List.of(d.route.active().version(), d.route.pending().version());
    }
    return List.of(map.version());
  }

  @Override
  public String publisherId() {
    return settings.publisherId();
  }

  private String versionsHeader() {
    Dual d = dual;
    if (d != null) {
      return d.route.active().version() + "," + d.route.pending().version();
    }
    return Integer.toString(map.version());
  }

  /** The routing of dual mode now, or null when not in dual mode. */
  DualRoute dualRoute() {
    Dual d = dual;
    return d == null ? null : d.route;
  }

  /** The dual-mode routing once a pending-map fetch under way ends (null: not in dual mode). */
  private CompletableFuture<DualRoute> pendingRoute() {
    synchronized (this) {
      Dual d = dual;
      if (d != null) {
        return CompletableFuture.completedFuture(d.route);
      }
      if (pendingFetch != null) {
        return pendingFetch;
      }
    }
    return CompletableFuture.completedFuture(null);
  }

  /**
   * What a node's publish reply says about the maps: {@code mapVersion} (the node's active map) and
   * {@code pendingMapVersion} (its pending map, or null). A pending map we do not know is fetched
   * from that node ({@code GET /v1/admin/map/pending}); the pending version seen active starts the
   * end of dual mode; the node we learned the pending map from no longer holding it while still on
   * the active version ends dual mode at once (the pending map was withdrawn), if the request was
   * sent ({@code sentNanos}) after dual mode began: the node may have processed an older one before
   * it held the pending map, and answered it after the reply that brought us into dual mode.
   */
  void observe(String nodeId, int mapVersion, Integer pendingVersion, long sentNanos) {
    Dual d = dual;
    if (pendingVersion != null
        && pendingVersion > map.version()
        && (d == null || d.route.pending().version() < pendingVersion)) {
      fetchPending(nodeId);
    }
    if (d != null) {
      if (mapVersion >= d.route.pending().version()) {
        pendingActive(d);
      } else if (pendingVersion == null
          && nodeId.equals(d.source)
          && mapVersion == d.route.active().version()
          && sentNanos - d.sinceNanos > 0) {
        leave(d, false);
      }
    }
  }

  /**
   * An owner call's reply named {@code pendingVersion} ({@code pendingMapVersion}): a pending map
   * we do not know is fetched from that node, as for a publish reply. Completes with the dual-mode
   * routing once that fetch ends (null: not in dual mode).
   */
  CompletableFuture<DualRoute> pendingNamed(String nodeId, int pendingVersion) {
    Dual d = dual;
    if (pendingVersion > map.version()
        && (d == null || d.route.pending().version() < pendingVersion)) {
      fetchPending(nodeId);
    }
    return pendingRoute();
  }

  private void fetchPending(String nodeId) {
    CompletableFuture<DualRoute> fetch;
    NodeInfo node;
    synchronized (this) {
      if (pendingFetch != null || closed || System.nanoTime() - nextPendingFetchNanos < 0) {
        return;
      }
      node = nodeInfo(nodeId, map, dual).orElse(null);
      if (node == null) {
        return;
      }
      fetch = new CompletableFuture<>();
      pendingFetch = fetch;
    }
    java.net.URI uri = Wire.resolve(node.internalUrl(), Wire.PENDING_MAP_PATH);
    client
        .send(
            new NodeClient.Call(
                nodeId, "map", 0, () -> uri, "GET", null, 1, System.nanoTime() + budgetNanos))
        .whenComplete(
            (r, error) -> {
              DualRoute route = null;
              try {
                if (error == null && r.answered() && r.status() == 200 && r.body() != null) {
                  route = enterDual(ClusterMap.parse(r.body().toString()), nodeId);
                } else if (error == null && r.answered() && r.status() == 404) {
                  route = null; // withdrawn meanwhile
                } else {
                  listener.mapLoadFailed(
                      new IOException(
                          "cannot fetch the pending map from node "
                              + nodeId
                              + ": "
                              + (error != null
                                  ? error.toString()
                                  : r.answered() ? "HTTP " + r.status() : r.failure())));
                }
              } catch (RuntimeException e) {
                listener.mapLoadFailed(e);
              }
              synchronized (this) {
                pendingFetch = null;
                if (route == null) {
                  nextPendingFetchNanos = System.nanoTime() + PENDING_FETCH_BACKOFF_NANOS;
                }
              }
              fetch.complete(route);
            });
  }

  /**
   * Enters dual mode with {@code pending} (from {@code source}) unless it is not newer than the
   * active map or than the pending map already in use; returns the routing in use.
   */
  private DualRoute enterDual(ClusterMap pending, String source) {
    synchronized (this) {
      ClusterMap current = map;
      Dual d = dual;
      if (d != null && d.route.pending().version() >= pending.version()) {
        return d.route;
      }
      if (pending.version() <= current.version()) {
        return null;
      }
      for (NodeInfo node : pending.nodes()) {
        lane(node);
      }
      ClusterMap active = d != null ? d.route.active() : current;
      Dual entered = new Dual(DualRoute.of(active, pending), source);
      // Before any publish can read it: what is already registered reserves its relays' places.
      order.enterDual(entered.route);
      dual = entered;
      listener.mapChanged(pending.version(), pending.nodes().size());
      return entered.route;
    }
  }

  /** The pending map is active: dual mode ends after dualGrace. */
  private void pendingActive(Dual d) {
    if (d.activeSeen) {
      return;
    }
    d.activeSeen = true;
    long grace = settings.dualGrace().toNanos();
    try {
      timer.schedule(() -> leave(d, true), grace, TimeUnit.NANOSECONDS);
    } catch (RuntimeException e) {
      // closed: nothing left to publish
    }
  }

  /**
   * Leaves dual mode {@code d}: with the pending map as the map ({@code activated}), or without.
   */
  private void leave(Dual d, boolean activated) {
    synchronized (this) {
      if (dual != d) {
        return;
      }
      if (activated && map.version() < d.route.pending().version()) {
        map = d.route.pending();
        listener.mapChanged(map.version(), map.nodes().size());
      }
      dual = null;
      order.leaveDual(d.route);
    }
  }

  private NodeLane lane(NodeInfo node) {
    NodeLane lane =
        lanes.computeIfAbsent(node.id(), id -> new NodeLane(id, node.internalUrl(), this));
    lane.internalUrl(node.internalUrl());
    return lane;
  }

  // ---- map ----

  boolean isClosed() {
    return closed;
  }

  @Override
  public ClusterMap map() {
    return map;
  }

  @Override
  public NodeInfo ownerOf(String user) {
    return ownerNow(Ids.checkUser(user));
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
    loadPending();
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
    Dual d = dual;
    if (d != null && loaded.version() >= d.route.pending().version()) {
      pendingActive(d);
    }
  }

  /** Reads the pending map source, if any: a map newer than the active one enters dual mode. */
  private void loadPending() {
    MapSource source = settings.pendingMapSource();
    if (source == null) {
      return;
    }
    try {
      ClusterMap pending = source.load();
      if (pending.version() > map.version()) {
        enterDual(pending, PENDING_SOURCE);
      }
    } catch (IOException | RuntimeException e) {
      listener.mapLoadFailed(e);
    }
  }

  // ---- presence, subscriptions, access (OwnerCalls) ----

  @Override
  public CompletableFuture<Presence> presence(String user) {
    return ownerCalls.presence(user);
  }

  @Override
  public CompletableFuture<Set<String>> subscribe(String user, String channel) {
    return ownerCalls.subscribe(user, channel);
  }

  @Override
  public CompletableFuture<Set<String>> unsubscribe(String user, String channel) {
    return ownerCalls.unsubscribe(user, channel);
  }

  @Override
  public CompletableFuture<UserAccess> disconnect(String user, String reason) {
    return ownerCalls.disconnect(user, reason);
  }

  @Override
  public CompletableFuture<UserAccess> block(String user, Instant until, String reason) {
    return ownerCalls.block(user, until, reason);
  }

  @Override
  public CompletableFuture<UserAccess> unblock(String user) {
    return ownerCalls.unblock(user);
  }

  @Override
  public CompletableFuture<UserAccess> revokeToken(String user, String jti, Instant expiresAt) {
    return ownerCalls.revokeToken(user, jti, expiresAt);
  }

  @Override
  public CompletableFuture<UserAccess> revokeTokensIssuedBefore(String user, Instant before) {
    return ownerCalls.revokeTokensIssuedBefore(user, before);
  }

  @Override
  public CompletableFuture<UserAccess> access(String user) {
    return ownerCalls.access(user);
  }

  @Override
  public CompletableFuture<ChannelPresence> channelPresence(
      String channel, Duration deadline, int limit) {
    Ids.checkChannel(channel);
    Objects.requireNonNull(deadline, "deadline");
    if (deadline.isNegative() || deadline.isZero()) {
      throw new IllegalArgumentException("deadline must be > 0: " + deadline);
    }
    if (limit < 1 || limit > 10_000) {
      throw new IllegalArgumentException("limit must be in 1..10000: " + limit);
    }
    if (closed) {
      return CompletableFuture.failedFuture(
          new NodeRequestException(null, 0, NodeClient.CLOSED, "publisher is closed"));
    }
    return ChannelPresenceCall.run(client, mapNow(), channel, deadline, limit);
  }

  // ---- connect info ----

  @Override
  public ConnectInfo connectInfo(
      String user, TokenMinter minter, Duration ttl, Collection<String> channels) {
    ClusterMap current = mapNow();
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
      pendingWatch.close();
    } catch (Exception e) {
      // a watch that cannot close has nothing left to tell this publisher
    }
    timer.shutdownNow();
    mapLoader.shutdownNow();
    client.close();
    for (NodeLane lane : lanes.values()) {
      for (Fragment f : lane.drain()) {
        fail(f, Status.FAILED, NodeClient.CLOSED);
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
