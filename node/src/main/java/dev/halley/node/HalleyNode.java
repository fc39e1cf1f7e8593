package dev.halley.node;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.MapFileWatcher;
import dev.halley.cluster.internal.BuildVersion;
import dev.halley.node.admission.AdmissionHandler;
import dev.halley.node.admission.UserAdmissionHandler;
import dev.halley.node.api.AccessHandler;
import dev.halley.node.api.AdminMapHandler;
import dev.halley.node.api.ChannelPresenceHandler;
import dev.halley.node.api.MapHandler;
import dev.halley.node.api.PresenceHandler;
import dev.halley.node.api.PublisherHeaders;
import dev.halley.node.api.ReshardHandler;
import dev.halley.node.api.SubscriptionHandler;
import dev.halley.node.auth.ApiKeyHandler;
import dev.halley.node.auth.TokenHandler;
import dev.halley.node.cluster.AccessCheckHandler;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.cluster.NodeOperations;
import dev.halley.node.cluster.OwnershipHandler;
import dev.halley.node.config.NodeConfig;
import dev.halley.node.config.OperationsConfig;
import dev.halley.node.http.ChunkedFraming;
import dev.halley.node.http.CorsHandler;
import dev.halley.node.http.CorsPolicy;
import dev.halley.node.http.ErrorHandler;
import dev.halley.node.http.JsModuleHandler;
import dev.halley.node.http.NoBodyOnGet;
import dev.halley.node.http.NodeServer;
import dev.halley.node.http.OperationsHandler;
import dev.halley.node.http.RequestDeadline;
import dev.halley.node.http.Routes;
import dev.halley.node.publish.FanOut;
import dev.halley.node.publish.PublishHandler;
import dev.halley.node.transport.ResumeHandler;
import dev.halley.node.transport.poll.PollTransport;
import dev.halley.node.transport.sse.SseTransport;
import dev.halley.node.transport.ws.WebSocketTransport;
import dev.halley.node.wire.HttpError;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.undertow.UndertowOptions;
import io.undertow.server.HttpHandler;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xnio.OptionMap;

/**
 * A running Halley node: the public listener (browsers: WebSocket, SSE, long-poll, poll, the map
 * and the js-client modules) and the internal listener (app tier: publish, subscriptions,
 * presence), on separate ports, sharing one set of user streams.
 *
 * <pre>{@code
 * try (HalleyNode node = HalleyNode.start(config)) {
 *   URI ws = URI.create("ws://127.0.0.1:" + node.publicPort() + "/v1/ws?token=" + jwt);
 *   URI publish = URI.create("http://127.0.0.1:" + node.internalPort() + "/v1/publish");
 * }
 * }</pre>
 *
 * <p>Threading: Undertow IO threads ({@link NodeConfig#ioThreads()}) do all connection work and
 * never block; a held connection is a suspended exchange or an open channel, not a thread. Publish
 * requests run on their own threads ({@link NodeConfig#publishThreads()}), which hand each IO
 * thread one task per request. One housekeeping thread evicts idle user streams. A node configured
 * with {@code mapFile} watches that file on one more thread and applies a changed map as SIGHUP
 * does ({@link MapFileWatcher}). All public methods are thread-safe. From the command line: {@code
 * java -jar halley-node.jar --config node.yaml}.
 */
public final class HalleyNode implements AutoCloseable {
  /**
   * In a holder, so that running {@code main} (which sets up logging first) does not make a logger
   * before the logging backend is configured.
   */
  private static final class Log {
    static final Logger LOG = LoggerFactory.getLogger(HalleyNode.class);
  }

  private final NodeContext node;
  private final NodeServer undertow;
  private final ScheduledExecutorService housekeeping;
  private final ExecutorService publishThreads;
  private final MapFileWatcher mapFileWatcher; // null without mapFile
  private final MapFileWatcher pendingMapFileWatcher; // null without pendingMapFile
  private final int publicPort;
  private final int internalPort;
  private final AtomicBoolean closed = new AtomicBoolean();

  private HalleyNode(
      NodeContext node,
      NodeServer undertow,
      ScheduledExecutorService housekeeping,
      ExecutorService publishThreads,
      MapFileWatcher mapFileWatcher,
      MapFileWatcher pendingMapFileWatcher) {
    this.node = node;
    this.pendingMapFileWatcher = pendingMapFileWatcher;
    this.publishThreads = publishThreads;
    this.mapFileWatcher = mapFileWatcher;
    this.undertow = undertow;
    this.housekeeping = housekeeping;
    this.publicPort = port(undertow, 0);
    this.internalPort = port(undertow, 1);
  }

  /**
   * Validates {@code config}, binds both listeners (port 0 picks a free port) and starts serving.
   *
   * @throws IllegalArgumentException naming the bad field of an invalid configuration
   * @throws IllegalStateException if a port cannot be bound: the message names the listener, its
   *     address and the reason ({@code cannot bind the public listener to 0.0.0.0:8080
   *     (publicPort): Address already in use}); the cause is the {@link BindException}
   */
  public static HalleyNode start(NodeConfig config) {
    Objects.requireNonNull(config, "config").validate();
    NodeContext node = new NodeContext(config);
    if (config.accessFile() != null) {
      node.access.load(config.accessFile());
    }
    FanOut fanOut = new FanOut(node);
    AtomicInteger publishThreadCount = new AtomicInteger();
    ExecutorService publishThreads =
        Executors.newFixedThreadPool(
            config.publishThreads(),
            r -> {
              Thread t =
                  new Thread(
                      r,
                      "halley-"
                          + config.nodeId()
                          + "-publish-"
                          + publishThreadCount.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    SubscriptionHandler subscriptions = new SubscriptionHandler(node);
    AccessHandler access = new AccessHandler(node);
    ReshardHandler reshard = new ReshardHandler(node, config.maxBodyBytes());
    CorsPolicy cors = new CorsPolicy(config.allowedOrigins());
    HttpHandler publicHandler =
        new ErrorHandler(
            new CorsHandler(
                cors,
                new Routes()
                    .exact(
                        "GET", "/v1/ws", checked(node, false, false, new WebSocketTransport(node)))
                    .exact("GET", "/v1/sse", checked(node, true, false, new SseTransport(node)))
                    .exact(
                        "GET",
                        "/v1/longpoll",
                        checked(node, false, true, new PollTransport(node, true)))
                    .exact(
                        "GET",
                        "/v1/poll",
                        checked(node, false, true, new PollTransport(node, false)))
                    .exact("GET", "/v1/map", new MapHandler(node))
                    .prefix("GET", "/js/", new JsModuleHandler())));
    HttpHandler internalHandler =
        new ErrorHandler(
            new OperationsHandler(
                new ApiKeyHandler(
                    config.apiKeys(),
                    new PublisherHeaders(
                        node.ops.publishers(),
                        new Routes()
                            .exact(
                                "POST",
                                "/v1/publish",
                                new PublishHandler(node, fanOut, publishThreads))
                            .prefix("PUT", "/v1/users/", subscriptions)
                            .prefix("DELETE", "/v1/users/", subscriptions)
                            .prefix("GET", "/v1/users/", new PresenceHandler(node, access))
                            .prefix("POST", "/v1/users/", access)
                            .prefix("GET", "/v1/channels/", new ChannelPresenceHandler(node))
                            .exact(
                                "POST",
                                "/v1/admin/map",
                                new AdminMapHandler(node.ops, config.maxBodyBytes()))
                            .exact("GET", ReshardHandler.PENDING, reshard)
                            .exact("POST", ReshardHandler.PENDING, reshard)
                            .exact("DELETE", ReshardHandler.PENDING, reshard)
                            .exact("POST", ReshardHandler.ACTIVATE, reshard)
                            .exact("GET", ReshardHandler.STATE, reshard))),
                node.ops.readiness(),
                node.ops.metrics()));
    OperationsConfig ops = config.operations();
    NodeServer undertow;
    try {
      undertow =
          NodeServer.start(
              "halley-" + config.nodeId(),
              config.ioThreads(),
              OptionMap.builder()
                  .set(UndertowOptions.REQUEST_PARSE_TIMEOUT, millis(ops.requestParseTimeoutMs()))
                  .set(UndertowOptions.NO_REQUEST_TIMEOUT, millis(ops.noRequestTimeoutMs()))
                  .set(UndertowOptions.IDLE_TIMEOUT, millis(ops.idleTimeoutMs()))
                  .getMap(),
              ops.maxHeaderBytes(),
              new NodeServer.Refusal(
                  ops.overCapacityRetryAfterSeconds(),
                  ops.overCapacityLingerMs(),
                  ops.overCapacityMaxLingering()),
              List.of(
                  new NodeServer.Listener(
                      config.publicHost(),
                      config.publicPort(),
                      publicSocketLimit(ops),
                      cors,
                      new ChunkedFraming(
                          config.maxBodyBytes(),
                          ops.maxHeaderBytes(),
                          new RequestDeadline(
                              ops.requestBodyTimeoutMs(), new NoBodyOnGet(publicHandler)))),
                  new NodeServer.Listener(
                      config.internalHost(),
                      config.internalPort(),
                      ops.maxInternalSockets(),
                      null,
                      new ChunkedFraming(
                          config.maxBodyBytes(),
                          ops.maxHeaderBytes(),
                          new RequestDeadline(
                              ops.requestBodyTimeoutMs(), new NoBodyOnGet(internalHandler))))));
    } catch (RuntimeException e) {
      publishThreads.shutdownNow();
      node.ops.close();
      throw bindFailure(e, config);
    }
    bindResourceMeters(node, undertow, publishThreads);
    ScheduledExecutorService housekeeping =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "halley-" + config.nodeId() + "-housekeeping");
              t.setDaemon(true);
              return t;
            });
    long period = Math.min(config.bufferMaxAgeMs(), 60_000);
    housekeeping.scheduleWithFixedDelay(
        () -> {
          try {
            node.streams.sweep();
            node.access.sweep();
          } catch (RuntimeException e) {
            Log.LOG.warn("stream sweep failed", e);
          }
        },
        period,
        period,
        TimeUnit.MILLISECONDS);
    MapFileWatcher watcher = null;
    if (config.mapFile() != null) {
      try {
        watcher =
            MapFileWatcher.start(
                config.mapFile(),
                () -> node.ops.reloadMapFile("mapFile"),
                "halley-" + config.nodeId() + "-mapfile");
      } catch (IOException | RuntimeException e) {
        Log.LOG.warn(
            "event=map_watch_failed node={} file={} error=\"{}\" message=\"map changes need SIGHUP"
                + " or POST /v1/admin/map\"",
            config.nodeId(),
            config.mapFile(),
            e.getMessage());
      }
    }
    MapFileWatcher pendingWatcher = null;
    if (config.pendingMapFile() != null) {
      node.ops.reloadPendingMapFile("pendingMapFile");
      try {
        pendingWatcher =
            MapFileWatcher.start(
                config.pendingMapFile(),
                () -> node.ops.reloadPendingMapFile("pendingMapFile"),
                "halley-" + config.nodeId() + "-pendingmapfile");
      } catch (IOException | RuntimeException e) {
        Log.LOG.warn(
            "event=map_watch_failed node={} file={} error=\"{}\" message=\"pending maps need"
                + " POST /v1/admin/map/pending\"",
            config.nodeId(),
            config.pendingMapFile(),
            e.getMessage());
      }
    }
    HalleyNode n =
        new HalleyNode(node, undertow, housekeeping, publishThreads, watcher, pendingWatcher);
    Log.LOG.info(
        "node {} (version {}, epoch {}, map version {}) public port {}, internal port {}",
        config.nodeId(),
        BuildVersion.get(),
        node.codec.epoch(),
        config.map().version(),
        n.publicPort,
        n.internalPort);
    StartupChecks.warnings(config, n.publicPort, n.internalPort).forEach(Log.LOG::warn);
    return n;
  }

  /**
   * The checks in front of every browser transport, in this order: lifecycle, total connections and
   * the address's rate (before the token: cheap); the token ({@code repeats}: a transport whose
   * clients send request after request on a connection, which remembers its last token); ownership
   * of its user; its blocks and revocations; the resume point ({@code sseHeader}: SSE's {@code
   * Last-Event-ID} counts); the user's connection lease.
   */
  static HttpHandler checked(
      NodeContext node, boolean sseHeader, boolean repeats, HttpHandler transport) {
    return new AdmissionHandler(
        node.ops.limits(),
        node.ops.config().rateLimitLoopback(),
        new TokenHandler(
            node.tokens,
            repeats,
            new OwnershipHandler(
                node,
                new AccessCheckHandler(
                    node.access,
                    new ResumeHandler(
                        sseHeader,
                        node,
                        new UserAdmissionHandler(
                            node.ops.limits(), node.ops.metrics(), transport))))));
  }

  /** Issue 11: what bounds memory and file descriptors, in /metrics (docs/operations.md). */
  private static void bindResourceMeters(
      NodeContext node, NodeServer server, ExecutorService publishThreads) {
    MeterRegistry r = node.ops.metrics().registry();
    if (publishThreads instanceof java.util.concurrent.ThreadPoolExecutor pool) {
      Gauge.builder("halley.publish.queue", pool, p -> p.getQueue().size())
          .description(
              "publish requests read and waiting for a publish thread (maxInternalSockets bounds"
                  + " them: one request per connection at a time)")
          .register(r);
    }
    var budget = node.streams.budget();
    Gauge.builder("halley.buffer.bytes", budget, b -> b.usedBytes())
        .description("bytes held by all resume buffers (bufferBudgetBytes bounds it)")
        .baseUnit("bytes")
        .register(r);
    Gauge.builder("halley.buffer.budget.bytes", budget, b -> b.budgetBytes())
        .description("bufferBudgetBytes")
        .baseUnit("bytes")
        .register(r);
    Gauge.builder("halley.buffer.entries", budget, b -> b.entries())
        .description("buffered events, one per user holding one")
        .register(r);
    FunctionCounter.builder("halley.buffer.budget.evicted", budget, b -> b.evicted())
        .description("buffered events dropped, oldest first, because bufferBudgetBytes was full")
        .register(r);
    String[] listeners = {"public", "internal"};
    for (int i = 0; i < listeners.length; i++) {
      int index = i;
      Gauge.builder("halley.sockets.open", server, s -> s.openSockets(index))
          .description("accepted sockets open (maxPublicSockets / maxInternalSockets bound them)")
          .tag("listener", listeners[i])
          .register(r);
      FunctionCounter.builder("halley.sockets.refused", server, s -> s.refusedSockets(index))
          .description("sockets accepted over the listener's limit, answered 503 over_capacity")
          .tag("listener", listeners[i])
          .register(r);
    }
    FunctionCounter.builder("halley.requests.unparsable", server, s -> s.parserErrors())
        .description("requests refused by the HTTP parser (400 bad_request, 431 headers_too_large)")
        .register(r);
  }

  /**
   * {@code maxPublicSockets}, or (0) the file-descriptor limit minus internal sockets and 512 (room
   * for refused sockets that linger, files and the JVM's own).
   */
  static int publicSocketLimit(OperationsConfig ops) {
    if (ops.maxPublicSockets() > 0) {
      return ops.maxPublicSockets();
    }
    long fds = 0;
    if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.UnixOperatingSystemMXBean unix) {
      fds = unix.getMaxFileDescriptorCount();
    }
    if (fds <= 0) {
      return 100_000;
    }
    return (int) Math.max(64, Math.min(Integer.MAX_VALUE, fds - ops.maxInternalSockets() - 512));
  }

  /**
   * {@code e} from starting the listeners, or for a port that cannot be bound, one naming the
   * listener, its address and the reason in one line (its cause is the {@link BindException}).
   */
  private static RuntimeException bindFailure(RuntimeException e, NodeConfig config) {
    BindException bind = bindCause(e);
    if (bind == null) {
      return e;
    }
    // NodeServer closed what it had bound. It binds the public listener first, so if that
    // address is free now, the internal one failed.
    boolean publicFree = canBind(config.publicHost(), config.publicPort());
    String listener = publicFree ? "internal" : "public";
    String host = publicFree ? config.internalHost() : config.publicHost();
    int port = publicFree ? config.internalPort() : config.publicPort();
    String option = publicFree ? "internalPort" : "publicPort";
    return new IllegalStateException(
        "cannot bind the "
            + listener
            + " listener to "
            + host
            + ":"
            + port
            + " ("
            + option
            + "): "
            + (bind.getMessage() == null ? "address unavailable" : bind.getMessage()),
        bind);
  }

  private static BindException bindCause(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof BindException b) {
        return b;
      }
    }
    return null;
  }

  private static boolean canBind(String host, int port) {
    if (port == 0) {
      return true;
    }
    try (ServerSocket socket = new ServerSocket()) {
      socket.setReuseAddress(true);
      socket.bind(new InetSocketAddress(host, port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static int millis(long ms) {
    return (int) Math.min(Integer.MAX_VALUE, ms);
  }

  private static int port(NodeServer server, int index) {
    return server.port(index);
  }

  /** The bound port of the public (browser) listener. */
  public int publicPort() {
    return publicPort;
  }

  /** The bound port of the internal (app tier) listener. */
  public int internalPort() {
    return internalPort;
  }

  public String nodeId() {
    return node.nodeId;
  }

  /** This incarnation's epoch: 16 random lowercase hex characters, the prefix of event IDs. */
  public String epoch() {
    return node.codec.epoch();
  }

  /** The current cluster map. */
  public ClusterMap map() {
    return node.map();
  }

  /**
   * Swaps the cluster map; ownership checks of later requests use it. Users this node no longer
   * owns get {@code moved} and are disconnected (docs/operations.md). A lower version, or the same
   * version with other contents, is refused with an {@link IllegalArgumentException} naming both
   * versions (what {@code POST /v1/admin/map} answers with 400 {@code invalid_field}).
   */
  public MapChange updateMap(ClusterMap map) {
    Objects.requireNonNull(map, "map");
    try {
      return change(node.ops.applyMap(map));
    } catch (HttpError e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
  }

  /**
   * Re-reads the configured {@code mapFile} and applies it as {@link #updateMap} does (what SIGHUP
   * and the file watcher do, but failures are thrown rather than logged).
   *
   * @throws IllegalStateException if no {@code mapFile} is configured
   * @throws IOException if the file cannot be read or is not a valid map
   * @throws IllegalArgumentException if the map is refused
   */
  public MapChange reloadMapFile() throws IOException {
    try {
      return change(node.ops.reloadMapFile());
    } catch (HttpError e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
  }

  /** SIGHUP's reload (the command line's): failures are logged and counted, never thrown. */
  void reloadMapFileOnSignal() {
    node.ops.reloadMapFile("SIGHUP");
  }

  private static MapChange change(NodeOperations.MapChange c) {
    return new MapChange(
        c.previousVersion(), c.version(), c.changed(), c.movedUsers(), c.movedConnections());
  }

  /** What the node holds now: connections, user streams, map version, readiness, drain. */
  public NodeStats stats() {
    return new NodeStats(
        node.ops.limits().connections(),
        node.streams.size(),
        node.map().version(),
        node.ops.readiness().isReady(),
        node.ops.readiness().isDraining());
  }

  /**
   * Starts draining without stopping: readiness turns false, new connections get 503 {@code
   * draining}, and every connection gets a {@code reconnect} event with its own delay spread over
   * {@code period}, then closes (WebSocket 4010). Returns the number of connections told; a second
   * call returns 0. {@link #drain} also waits for them and stops the node.
   */
  public int startDrain(Duration period) {
    return node.ops.startDrain(Objects.requireNonNull(period, "period"));
  }

  /**
   * Drains, then stops: readiness turns false, new connections get 503 {@code draining}, every
   * connection gets a {@code reconnect} event with a delay spread over {@code period} and closes
   * (WebSocket 4010); waits for them to close (at most a few seconds), then {@link #close()}s.
   * Returns the number of connections told to reconnect.
   */
  public int drain(Duration period) {
    int told = startDrain(period);
    boolean all = node.ops.awaitNoConnections(Duration.ofSeconds(10));
    Log.LOG.info("event=drain_finished node={} told={} allClosed={}", node.nodeId, told, all);
    close();
    return told;
  }

  /** The configuration the node runs with. */
  public NodeConfig config() {
    return node.config;
  }

  /** Stops both listeners and closes every connection. Idempotent. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    if (mapFileWatcher != null) {
      mapFileWatcher.close();
    }
    if (pendingMapFileWatcher != null) {
      pendingMapFileWatcher.close();
    }
    housekeeping.shutdownNow();
    undertow.close();
    publishThreads.shutdownNow();
    node.ops.close();
    long dropped = node.ops.timersDropped();
    if (dropped == 0) {
      Log.LOG.info("node {} stopped", node.nodeId);
    } else {
      // One line for what used to be one stack trace per connection: timers that came due while
      // the IO threads were closing the connections.
      Log.LOG.info(
          "node {} stopped ({} timers of connections closing with it dropped)",
          node.nodeId,
          dropped);
    }
  }

  @Override
  public String toString() {
    return "HalleyNode("
        + node.nodeId
        + ", epoch "
        + epoch()
        + ", public :"
        + publicPort
        + ", internal :"
        + internalPort
        + ")";
  }
}
