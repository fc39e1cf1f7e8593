package dev.halley.node.admission;

import dev.halley.node.config.OperationsConfig;
import dev.halley.node.metrics.NodeMetrics;
import dev.halley.node.presence.Presence;
import dev.halley.node.wire.HttpError;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Admission control for browser connections: the node's lifecycle (503 {@code draining} / {@code
 * not_ready}), total connections (503 {@code too_many_connections}), connections per user (503
 * {@code too_many_connections}) and new connections per second per client address (429 {@code
 * rate_limited}, a token bucket per address).
 *
 * <pre>{@code
 * ConnectionLimits limits = new ConnectionLimits(options, clock, readiness, presence, metrics);
 * limits.checkNew(remoteIp);                         // before verifying the token (cheap)
 * ConnectionLimits.Lease lease = limits.acquire(user); // after; throws HttpError when full
 * ...
 * lease.close();                                      // when the connection ends (idempotent)
 * }</pre>
 *
 * <p>Thread-safe and non-blocking except for a short lock on the address table. Memory is bounded:
 * at most {@code maxTrackedAddresses} buckets are kept; the least recently used address is
 * forgotten first (it starts again with a full bucket). Long-poll and poll requests count as
 * connections while they are held.
 */
public final class ConnectionLimits {
  private final Options options;
  private final Clock clock;
  private final Readiness readiness;
  private final Presence presence;
  private final NodeMetrics metrics;
  private final AtomicInteger total = new AtomicInteger();
  private final Map<String, Bucket> buckets;

  public ConnectionLimits(
      Options options, Clock clock, Readiness readiness, Presence presence, NodeMetrics metrics) {
    this.options = Objects.requireNonNull(options, "options");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.readiness = Objects.requireNonNull(readiness, "readiness");
    this.presence = Objects.requireNonNull(presence, "presence");
    this.metrics = Objects.requireNonNull(metrics, "metrics");
    int max = options.maxTrackedAddresses;
    this.buckets =
        new LinkedHashMap<>(16, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<String, Bucket> eldest) {
            return size() > max;
          }
        };
  }

  /**
   * Checks the lifecycle, the total and the address's rate for a new connection attempt, and takes
   * one token from the address's bucket.
   *
   * @throws HttpError 503 {@code draining}, {@code not_ready} or {@code too_many_connections}, or
   *     429 {@code rate_limited}
   */
  public void checkNew(String address) {
    checkNew(address, true);
  }

  /** {@link #checkNew(String)}, skipping the address's rate when {@code rateLimited} is false. */
  public void checkNew(String address, boolean rateLimited) {
    String reason = readiness.notReadyReason();
    if (reason != null) {
      throw reject(503, reason, "the node is " + reason.replace('_', ' '));
    }
    if (total.get() >= options.maxConnections) {
      throw tooMany("the node holds maxConnections (" + options.maxConnections + ")");
    }
    if (rateLimited && !take(address == null ? "" : address)) {
      throw reject(
          429,
          NodeMetrics.REJECT_RATE_LIMITED,
          "more than "
              + options.newConnectionsPerSecondPerAddress
              + " new connections per second from this address");
    }
  }

  /**
   * Counts a connection of {@code user} against the total and per-user limits.
   *
   * @throws HttpError 503 {@code too_many_connections}
   */
  public Lease acquire(String user) {
    while (true) {
      int n = total.get();
      if (n >= options.maxConnections) {
        throw tooMany("the node holds maxConnections (" + options.maxConnections + ")");
      }
      if (total.compareAndSet(n, n + 1)) {
        break;
      }
    }
    if (!presence.tryConnect(user, options.maxConnectionsPerUser)) {
      total.decrementAndGet();
      throw tooMany("the user holds maxConnectionsPerUser (" + options.maxConnectionsPerUser + ")");
    }
    return new Lease(user);
  }

  /** Connections currently counted. */
  public int connections() {
    return total.get();
  }

  /** Addresses with a bucket (at most {@code maxTrackedAddresses}). */
  public int trackedAddresses() {
    synchronized (buckets) {
      return buckets.size();
    }
  }

  public Options options() {
    return options;
  }

  @Override
  public String toString() {
    return "ConnectionLimits{connections=" + total.get() + ", " + options + "}";
  }

  private boolean take(String address) {
    long now = clock.millis();
    synchronized (buckets) {
      Bucket b = buckets.get(address);
      if (b == null) {
        b = new Bucket(options.newConnectionBurstPerAddress, now);
        buckets.put(address, b);
      }
      double refill = (now - b.lastMs) * options.newConnectionsPerSecondPerAddress / 1000.0;
      if (refill > 0) {
        b.tokens = Math.min(options.newConnectionBurstPerAddress, b.tokens + refill);
        b.lastMs = now;
      }
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return true;
      }
      return false;
    }
  }

  private HttpError tooMany(String message) {
    return reject(503, NodeMetrics.REJECT_TOO_MANY_CONNECTIONS, message);
  }

  private HttpError reject(int status, String code, String message) {
    metrics.connectionRejected(code);
    return new HttpError(status, code, message);
  }

  private static final class Bucket {
    double tokens;
    long lastMs;

    Bucket(double tokens, long lastMs) {
      this.tokens = tokens;
      this.lastMs = lastMs;
    }
  }

  /** One counted connection; {@link #close()} releases it once, whatever the number of calls. */
  private static final VarHandle RELEASED;

  static {
    try {
      RELEASED = MethodHandles.lookup().findVarHandle(Lease.class, "released", boolean.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  public final class Lease implements AutoCloseable {
    private final String user;
    // Set once (RELEASED); a field rather than an AtomicBoolean: one object less per connection.
    private volatile boolean released;

    private Lease(String user) {
      this.user = user;
    }

    public String user() {
      return user;
    }

    public boolean isReleased() {
      return released;
    }

    @Override
    public void close() {
      release();
    }

    /** {@link #close()}; true for the call that released it, false for any later one. */
    public boolean release() {
      if (!RELEASED.compareAndSet(this, false, true)) {
        return false;
      }
      total.decrementAndGet();
      presence.disconnected(user);
      return true;
    }

    @Override
    public String toString() {
      return "Lease{user=" + user + ", released=" + released + "}";
    }
  }

  /**
   * The limits. Defaults: 100000 connections per node, 10 per user, 20 new connections per second
   * per address with bursts of 40, 100000 tracked addresses.
   *
   * @param maxConnections open connections per node (long-polls being held count)
   * @param maxConnectionsPerUser open connections per user on this node
   * @param newConnectionsPerSecondPerAddress sustained rate of new connections per client address
   * @param newConnectionBurstPerAddress bucket size: new connections allowed at once per address
   * @param maxTrackedAddresses buckets kept; the least recently used is forgotten first
   */
  public record Options(
      int maxConnections,
      int maxConnectionsPerUser,
      double newConnectionsPerSecondPerAddress,
      int newConnectionBurstPerAddress,
      int maxTrackedAddresses) {

    public Options {
      positive("maxConnections", maxConnections);
      positive("maxConnectionsPerUser", maxConnectionsPerUser);
      if (!(newConnectionsPerSecondPerAddress > 0)) {
        throw new IllegalArgumentException(
            "newConnectionsPerSecondPerAddress must be > 0: " + newConnectionsPerSecondPerAddress);
      }
      positive("newConnectionBurstPerAddress", newConnectionBurstPerAddress);
      positive("maxTrackedAddresses", maxTrackedAddresses);
    }

    /** The five admission options of {@code c}. */
    public static Options of(OperationsConfig c) {
      return new Options(
          c.maxConnections(),
          c.maxConnectionsPerUser(),
          c.newConnectionsPerSecondPerAddress(),
          c.newConnectionBurstPerAddress(),
          c.maxTrackedAddresses());
    }

    private static void positive(String field, long v) {
      if (v <= 0) {
        throw new IllegalArgumentException(field + " must be > 0: " + v);
      }
    }
  }
}
