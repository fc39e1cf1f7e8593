package dev.halley.node.metrics;

import dev.halley.cluster.internal.BuildVersion;
import dev.halley.node.presence.PresenceWebhook;
import dev.halley.node.wire.ErrorCodes;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's Micrometer meters, in one place: connections, events, slow consumers, map moves,
 * drains, publish latency, connection rejections, the build version, plus process (CPU seconds,
 * open file descriptors and their limit) and JVM (memory, GC, threads) meters.
 *
 * <pre>{@code
 * NodeMetrics metrics = NodeMetrics.prometheus();           // or new NodeMetrics(anyRegistry)
 * metrics.connectionOpened(NodeMetrics.WEBSOCKET);
 * metrics.delivered(NodeMetrics.WEBSOCKET, 1);
 * metrics.publishLatency(System.nanoTime() - acceptedAtNanos);
 * String text = metrics.scrape().orElseThrow();             // Prometheus text for GET /metrics
 * }</pre>
 *
 * <p>Tags are bounded by construction: {@code transport} is one of {@link #TRANSPORTS} (anything
 * else is counted as {@code other}, a guard that stays at 0), {@code reason} and {@code outcome}
 * come from the constants of this class. Never a user ID, channel or raw path. docs/operations.md
 * lists every meter and every tag value. Meters of an optional part (the presence webhook) exist
 * only when the part is configured; every registered meter is counted somewhere.
 *
 * <p>Thread-safe; every method may be called from Undertow IO threads. Recording never throws: a
 * failing registry is logged once at WARN and counted in {@link #recordingFailures()}, and the
 * request goes on.
 */
public final class NodeMetrics implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NodeMetrics.class);

  public static final String WEBSOCKET = "websocket";
  public static final String SSE = "sse";
  public static final String LONGPOLL = "longpoll";
  public static final String POLL = "poll";
  public static final String OTHER = "other";

  /** The {@code transport} tag values. */
  public static final List<String> TRANSPORTS = List.of(WEBSOCKET, SSE, LONGPOLL, POLL);

  /**
   * {@code reason} of {@code halley.events.dropped}: the event fell out of the user buffer for its
   * count or age limit ({@code bufferMaxEvents}, {@code bufferMaxAgeMs}).
   */
  public static final String DROP_BUFFER_LIMIT = "buffer_limit";

  /** {@code reason} of {@code halley.events.dropped}: the message's TTL passed. */
  public static final String DROP_TTL = "ttl";

  /** {@code reason} of {@code halley.events.dropped}: the user moved to another node. */
  public static final String DROP_MOVED = "moved";

  private static final List<String> DROP_REASONS = List.of(DROP_BUFFER_LIMIT, DROP_TTL, DROP_MOVED);

  /** {@code reason} of {@code halley.resets}. */
  private static final List<String> RESET_REASONS = List.of("gap", "epoch");

  /** {@code reason} of {@code halley.connections.rejected}: these are the wire error codes. */
  public static final String REJECT_TOO_MANY_CONNECTIONS = ErrorCodes.TOO_MANY_CONNECTIONS;

  public static final String REJECT_RATE_LIMITED = ErrorCodes.RATE_LIMITED;
  public static final String REJECT_DRAINING = ErrorCodes.DRAINING;
  public static final String REJECT_NOT_READY = ErrorCodes.NOT_READY;

  private static final List<String> REJECT_REASONS =
      List.of(REJECT_TOO_MANY_CONNECTIONS, REJECT_RATE_LIMITED, REJECT_DRAINING, REJECT_NOT_READY);

  /** SLO buckets of {@code halley.publish.latency}, in addition to the percentile histogram. */
  static final Duration[] LATENCY_SLOS = {
    Duration.ofMillis(1),
    Duration.ofMillis(5),
    Duration.ofMillis(10),
    Duration.ofMillis(25),
    Duration.ofMillis(50),
    Duration.ofMillis(100),
    Duration.ofMillis(250),
    Duration.ofMillis(500),
    Duration.ofSeconds(1),
    Duration.ofSeconds(5)
  };

  private final MeterRegistry registry;
  private final Map<String, AtomicInteger> connections = new ConcurrentHashMap<>();
  private final Map<String, Counter> opened;
  private final Map<String, Counter> delivered;
  private final Map<String, Counter> slowConsumers;
  private final Map<String, Counter> connectionErrors;
  private final Map<String, Counter> conflated;
  private final Map<String, Counter> handoffs;
  private final Map<String, Counter> carried;
  private final Counter movedSent;

  /** {@code result} of {@code halley.handoff}: how a handoff resume was decided (issue 14). */
  public static final List<String> HANDOFF_RESULTS =
      List.of("covered", "reset_gap", "reset_epoch", "wait_timeout");

  /**
   * {@code result} of {@code halley.handoff.carried}: what became of a carried state (issue 14,
   * protocol.md "Carried state"): {@code sent} by the old owner in a {@code moved}, and at the new
   * owner {@code applied}, {@code not_applied} (over the bound or no room: the resume resets),
   * {@code stale} (expired or made for another map version: the resume resets) or {@code invalid}
   * (400 {@code handoff_invalid}).
   */
  public static final List<String> CARRIED_RESULTS =
      List.of("sent", "applied", "not_applied", "stale", "invalid");

  private final Map<String, Counter> moved;
  private final Map<String, Counter> drained;
  private final Map<String, Counter> dropped;
  private final Counter droppedLimit;
  private final Counter droppedTtl;
  private final Map<String, Counter> resets;
  private final Map<String, Counter> rejected;
  private final Counter published;
  private final Counter buffered;
  private final Counter misdirected;
  private final Timer publishLatency;
  private final AtomicLong mapVersion = new AtomicLong();
  private final Map<String, Counter> mapReloads;
  private final JvmGcMetrics gcMetrics;
  private final AtomicLong recordingFailures = new AtomicLong();
  private final AtomicBoolean failureLogged = new AtomicBoolean();

  /** Meters in a new Prometheus registry (what {@code GET /metrics} serves). */
  public static NodeMetrics prometheus() {
    return new NodeMetrics(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
  }

  /** Registers every meter in {@code registry} (all at zero) and binds the JVM meters. */
  public NodeMetrics(MeterRegistry registry) {
    this.registry = registry;
    // First, before any meter: CPU is exposed in seconds, the Prometheus convention
    // (process_cpu_seconds_total), not as ProcessorMetrics' nanosecond process_cpu_time_ns_total.
    registry.config().meterFilter(MeterFilter.denyNameStartsWith("process.cpu.time"));
    for (String t : allTransports()) {
      AtomicInteger n = new AtomicInteger();
      connections.put(t, n);
      Gauge.builder("halley.connections", n, AtomicInteger::get)
          .description("Open browser connections (long-poll: requests being held)")
          .tag("transport", t)
          .register(registry);
    }
    opened =
        counters(
            allTransports(),
            "halley.connections.opened",
            "transport",
            "Connections accepted since start");
    delivered =
        counters(
            allTransports(),
            "halley.events.delivered",
            "transport",
            "Events handed to a connection's outbound queue");
    slowConsumers =
        counters(
            allTransports(),
            "halley.slow_consumer.disconnects",
            "transport",
            "Connections cut because their outbound queue went over its bound");
    connectionErrors =
        counters(
            allTransports(),
            "halley.connection.errors",
            "transport",
            "Connections closed (WebSocket 4011) because their write path threw, an Error included");
    conflated =
        counters(
            allTransports(),
            "halley.messages.conflated",
            "transport",
            "Messages replaced by a newer one with the same conflationKey before they were written");
    handoffs =
        counters(
            HANDOFF_RESULTS,
            "halley.handoff",
            "result",
            "Handoff resumes of lossless resharding by result (a wait_timeout is a reset_gap after"
                + " handoffWaitMs)");
    carried =
        counters(
            CARRIED_RESULTS,
            "halley.handoff.carried",
            "result",
            "States carried through a moved client's handoff (sent by the old owner; applied,"
                + " not_applied, stale or invalid at the new owner)");
    movedSent =
        Counter.builder("halley.moved.sent")
            .description("moved events sent (connections, and long-poll or poll answers)")
            .register(registry);
    moved =
        counters(
            allTransports(),
            "halley.clients.moved",
            "transport",
            "Connections sent a moved event after a map change");
    drained =
        counters(
            allTransports(),
            "halley.clients.drained",
            "transport",
            "Connections sent a reconnect event while draining");
    dropped =
        counters(
            withOther(DROP_REASONS),
            "halley.events.dropped",
            "reason",
            "Events removed from a user buffer (limits, TTL, moved), delivered live or not");
    droppedLimit = dropped.get(DROP_BUFFER_LIMIT);
    droppedTtl = dropped.get(DROP_TTL);
    resets =
        counters(
            withOther(RESET_REASONS), "halley.resets", "reason", "reset events sent to clients");
    rejected =
        counters(
            withOther(REJECT_REASONS),
            "halley.connections.rejected",
            "reason",
            "Connection attempts refused by a limit or the node's lifecycle");
    mapReloads =
        counters(
            List.of("applied", "rejected"), "halley.map.reloads", "outcome", "Map reload attempts");
    published =
        Counter.builder("halley.events.published")
            .description("Messages accepted by POST /v1/publish (one per message, not per user)")
            .register(registry);
    buffered =
        Counter.builder("halley.events.buffered")
            .description("User events stored for a user with no live connection")
            .register(registry);
    misdirected =
        Counter.builder("halley.publish.misdirected")
            .description("Recipients of a publish that this node does not own")
            .register(registry);
    publishLatency =
        Timer.builder("halley.publish.latency")
            .description("From publish request accepted to the event written to the socket")
            .publishPercentileHistogram()
            .serviceLevelObjectives(LATENCY_SLOS)
            .minimumExpectedValue(Duration.ofMillis(1))
            .maximumExpectedValue(Duration.ofSeconds(10))
            .register(registry);
    Gauge.builder("halley.map.version", mapVersion, AtomicLong::get)
        .description("Version of the cluster map this node serves")
        .register(registry);
    Gauge.builder("halley.build.info", () -> 1)
        .description("Always 1; its version tag is the node's build version")
        .tag("version", BuildVersion.get())
        .register(registry);
    if (ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os) {
      FunctionCounter.builder("process.cpu", os, o -> o.getProcessCpuTime() / 1e9)
          .baseUnit("seconds")
          .description("CPU time used by the node's process")
          .register(registry);
    }
    new JvmMemoryMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry); // process_files_open_files, _max_files
    gcMetrics = new JvmGcMetrics();
    gcMetrics.bindTo(registry);
  }

  /**
   * Gauges of the publish idempotency window: {@code halley.idempotency.bytes} (estimated bytes
   * held) and {@code halley.idempotency.keys}. The suppliers must not block.
   */
  public void idempotency(LongSupplier bytes, IntSupplier keys) {
    // Strong references: the suppliers are lambdas nobody else holds.
    Gauge.builder("halley.idempotency.bytes", bytes, b -> (double) b.getAsLong())
        .description("Estimated bytes held by the publish idempotency window")
        .baseUnit("bytes")
        .strongReference(true)
        .register(registry);
    Gauge.builder("halley.idempotency.keys", keys, k -> (double) k.getAsInt())
        .description("Idempotency keys remembered by the publish idempotency window")
        .strongReference(true)
        .register(registry);
  }

  /** The registry the meters live in. */
  public MeterRegistry registry() {
    return registry;
  }

  /** The Prometheus text exposition, if the registry is a Prometheus registry. */
  public Optional<String> scrape() {
    if (registry instanceof PrometheusMeterRegistry p) {
      return Optional.of(p.scrape());
    }
    return Optional.empty();
  }

  /** A connection of this transport was accepted (after auth and limits). */
  public void connectionOpened(String transport) {
    record(
        () -> {
          String t = transport(transport);
          connections.get(t).incrementAndGet();
          opened.get(t).increment();
        });
  }

  /** A connection of this transport ended, for whatever reason. */
  public void connectionClosed(String transport) {
    record(() -> connections.get(transport(transport)).decrementAndGet());
  }

  /** Open connections of this transport now (what the gauge reports). */
  public int connections(String transport) {
    return connections.get(transport(transport)).get();
  }

  /** {@code n} messages were accepted by a publish request. */
  public void published(int n) {
    record(() -> published.increment(n));
  }

  /** {@code n} events were handed to connections of this transport. */
  public void delivered(String transport, int n) {
    try { // no lambda: this runs once per delivery
      delivered.get(transport(transport)).increment(n);
    } catch (RuntimeException e) {
      failed(e);
    }
  }

  /** {@code n} events were stored for users without a live connection. */
  public void buffered(int n) {
    record(() -> buffered.increment(n));
  }

  /** {@code n} recipients of a publish were not owned by this node. */
  public void misdirected(int n) {
    record(() -> misdirected.increment(n));
  }

  /** {@code n} events were dropped from buffers; {@code reason} is a {@code DROP_*} constant. */
  public void dropped(String reason, int n) {
    record(() -> dropped.get(oneOf(DROP_REASONS, reason)).increment(n));
  }

  /**
   * One event left a user buffer for its limits or its TTL ({@link
   * dev.halley.node.stream.BufferDrops}): called under a stream lock, so it does not allocate.
   */
  public void droppedFromBuffer(boolean ttl) {
    try {
      (ttl ? droppedTtl : droppedLimit).increment();
    } catch (RuntimeException e) {
      failed(e);
    }
  }

  /** A {@code reset} event was sent; {@code reason} is {@code gap} or {@code epoch}. */
  public void reset(String reason) {
    record(() -> resets.get(oneOf(RESET_REASONS, reason)).increment());
  }

  /** A connection was cut because it did not read fast enough (close code 4008). */
  public void slowConsumerDisconnected(String transport) {
    record(() -> slowConsumers.get(transport(transport)).increment());
  }

  /**
   * {@code n} messages for a connection of this transport were conflated away (a newer one with
   * their conflation key replaced them before they were written). Called under a connection's lock:
   * no lambda, no allocation.
   */
  /** A carried state was sent or met; {@code result} is one of {@link #CARRIED_RESULTS}. */
  public void carried(String result) {
    record(() -> carried.get(result).increment());
  }

  /** A handoff resume was decided; {@code result} is one of {@link #HANDOFF_RESULTS}. */
  public void handoff(String result) {
    record(() -> handoffs.get(result).increment());
  }

  /** A {@code moved} event was sent. */
  public void movedSent() {
    record(movedSent::increment);
  }

  /**
   * Gauges of lossless resharding: pre-stream users, events and bytes ({@code preStreams}: {users,
   * events, bytes}) and finishing streams.
   */
  public void resharding(java.util.function.Supplier<long[]> preStreams, IntSupplier finishing) {
    Gauge.builder("halley.prestream.users", preStreams, p -> p.get()[0])
        .description("users the pending map brings to this node that the active map does not")
        .register(registry);
    Gauge.builder("halley.prestream.events", preStreams, p -> p.get()[1])
        .description("events buffered in pre-streams")
        .register(registry);
    Gauge.builder("halley.prestream.bytes", preStreams, p -> p.get()[2])
        .description("bytes buffered in pre-streams")
        .baseUnit("bytes")
        .register(registry);
    Gauge.builder("halley.finishing.streams", finishing, f -> f.getAsInt())
        .description("streams kept after an activated map moved their users away")
        .register(registry);
  }

  public void conflated(String transport, int n) {
    try {
      conflated.get(transport(transport)).increment(n);
    } catch (RuntimeException e) {
      failed(e);
    }
  }

  /** A connection's write path threw (an {@link Error} included) and it was closed (4011). */
  public void connectionError(String transport) {
    record(() -> connectionErrors.get(transport(transport)).increment());
  }

  /** A connection was sent {@code moved} after a map change (close code 4009). */
  public void clientMoved(String transport) {
    record(() -> moved.get(transport(transport)).increment());
  }

  /** A connection was sent {@code reconnect} while draining (close code 4010). */
  public void clientDrained(String transport) {
    record(() -> drained.get(transport(transport)).increment());
  }

  /** A connection attempt was refused; {@code reason} is a {@code REJECT_*} error code. */
  public void connectionRejected(String reason) {
    record(() -> rejected.get(oneOf(REJECT_REASONS, reason)).increment());
  }

  /** Time from a publish request accepted to one of its events written to a socket. */
  public void publishLatency(long nanos) {
    try {
      publishLatency.record(Math.max(0, nanos), TimeUnit.NANOSECONDS);
    } catch (RuntimeException e) {
      failed(e);
    }
  }

  /** The publish latency timer (count, percentiles), for tests and the bench. */
  public Timer publishLatencyTimer() {
    return publishLatency;
  }

  /** The map this node serves is now {@code version}; {@code applied} false for a refused one. */
  public void mapReload(int version, boolean applied) {
    record(
        () -> {
          if (applied) {
            mapVersion.set(version);
          }
          mapReloads.get(applied ? "applied" : "rejected").increment();
        });
  }

  /** Sets the map version gauge without counting a reload (at start). */
  public void mapVersion(int version) {
    mapVersion.set(version);
  }

  /** Exposes the presence webhook's counters as {@code halley.presence.webhook.events}. */
  public void bindPresenceWebhook(PresenceWebhook webhook) {
    record(
        () -> {
          functionCounter("sent", webhook, w -> (double) w.sent());
          functionCounter("failed", webhook, w -> (double) w.failed());
          functionCounter("dropped", webhook, w -> (double) w.dropped());
          FunctionCounter.builder(
                  "halley.presence.webhook.retries", webhook, w -> (double) w.retries())
              .description("Presence webhook calls retried")
              .register(registry);
        });
  }

  /** Recordings that threw inside the registry (each was swallowed). */
  public long recordingFailures() {
    return recordingFailures.get();
  }

  /** Unbinds the GC listener. The registry itself belongs to the caller. */
  @Override
  public void close() {
    gcMetrics.close();
  }

  @Override
  public String toString() {
    return "NodeMetrics{registry=" + registry.getClass().getSimpleName() + "}";
  }

  private void functionCounter(
      String outcome,
      PresenceWebhook webhook,
      java.util.function.ToDoubleFunction<PresenceWebhook> f) {
    FunctionCounter.builder("halley.presence.webhook.events", webhook, f)
        .description("Presence events by outcome (sent, failed after retries, dropped when full)")
        .tag("outcome", outcome)
        .register(registry);
  }

  private void record(Runnable r) {
    try {
      r.run();
    } catch (RuntimeException e) {
      failed(e);
    }
  }

  private void failed(RuntimeException e) {
    recordingFailures.incrementAndGet();
    if (failureLogged.compareAndSet(false, true)) {
      log.warn("event=metrics_failure message=\"recording a meter failed; ignored\"", e);
    }
  }

  private static List<String> allTransports() {
    return withOther(TRANSPORTS);
  }

  private static List<String> withOther(List<String> values) {
    return java.util.stream.Stream.concat(values.stream(), java.util.stream.Stream.of(OTHER))
        .toList();
  }

  /** Maps a transport name to its tag value ({@code ws} is an alias of {@code websocket}). */
  static String transport(String transport) {
    if ("ws".equals(transport)) {
      return WEBSOCKET;
    }
    return oneOf(TRANSPORTS, transport);
  }

  private static String oneOf(List<String> allowed, String value) {
    return value != null && allowed.contains(value) ? value : OTHER;
  }

  private Map<String, Counter> counters(
      List<String> values, String name, String tag, String description) {
    Function<String, Counter> make =
        v -> Counter.builder(name).description(description).tag(tag, v).register(registry);
    Map<String, Counter> out = new ConcurrentHashMap<>();
    for (String v : values) {
      out.put(v, make.apply(v));
    }
    return Map.copyOf(out);
  }
}
