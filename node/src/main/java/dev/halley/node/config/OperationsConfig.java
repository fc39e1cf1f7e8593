package dev.halley.node.config;

import java.net.URI;
import lombok.AccessLevel;
import lombok.AllArgsConstructor;
import lombok.Builder;
import lombok.Getter;
import lombok.extern.jackson.Jacksonized;

/**
 * The operations settings of a node (admission limits, listener timeouts and sockets, drain,
 * presence webhook), kept apart from the core settings of {@link NodeConfig} which holds one of
 * these; in a configuration file they are plain top-level options like the others.
 *
 * <pre>{@code
 * NodeConfig config = NodeConfig.builder()...
 *     .operations(OperationsConfig.builder().maxConnections(50_000).drainPeriodMs(10_000).build())
 *     .build();
 * // node.yaml: maxConnections: 50000   (env: HALLEY_MAX_CONNECTIONS=50000)
 * }</pre>
 *
 * <p>Immutable. Each option is declared once, below, as in {@link NodeConfig}: a field with its
 * default and its {@link Option} unit and range. docs/operations.md lists them; {@link
 * Builder#build()} throws {@link IllegalArgumentException} whose message starts with the bad
 * option's name.
 */
@Getter
@AllArgsConstructor(access = AccessLevel.PRIVATE)
@Builder(builderClassName = "Builder", toBuilder = true, buildMethodName = "buildUnvalidated")
@Jacksonized
public final class OperationsConfig {
  private static final OperationsConfig DEFAULTS = builder().build();

  // Connection admission (ConnectionLimits).

  /** Open browser connections the node admits at most. */
  @Option(unit = "connections", positive = true)
  @Builder.Default
  private final int maxConnections = 100_000;

  /** Open connections of one user at most. */
  @Option(unit = "connections", positive = true)
  @Builder.Default
  private final int maxConnectionsPerUser = 10;

  /** New connections per second one client address may open (token bucket rate). */
  @Option(unit = "per second", positive = true)
  @Builder.Default
  private final double newConnectionsPerSecondPerAddress = 20;

  /** Burst of new connections one address may open at once (token bucket size). */
  @Option(unit = "connections", positive = true)
  @Builder.Default
  private final int newConnectionBurstPerAddress = 40;

  /** Client addresses whose rate buckets are tracked at most. */
  @Option(unit = "addresses", positive = true)
  @Builder.Default
  private final int maxTrackedAddresses = 100_000;

  /**
   * Whether connections from loopback addresses (127.0.0.0/8, ::1: a proxy on the same host, tests)
   * are rate-limited per address; default false (they are not).
   */
  @Option(unit = "boolean")
  private final boolean rateLimitLoopback;

  // Listeners.

  /**
   * Longest time to receive a request's line and headers once they started (slow-header attacks).
   * Undertow's {@code REQUEST_PARSE_TIMEOUT}.
   */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long requestParseTimeoutMs = 10_000;

  /**
   * Longest time an open HTTP connection may wait before sending its first (or next keep-alive)
   * request. Undertow's {@code NO_REQUEST_TIMEOUT}.
   */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long noRequestTimeoutMs = 30_000;

  /**
   * Longest time a connection may go without any read or write; must exceed {@code heartbeatMs}
   * (heartbeats keep healthy streams busy). Undertow's {@code IDLE_TIMEOUT}.
   */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long idleTimeoutMs = 120_000;

  /**
   * Largest request line plus headers. Over it: 431 {@code headers_too_large} and the connection
   * closes. Undertow's {@code MAX_HEADER_SIZE}.
   */
  @Option(unit = "bytes", min = 1024, max = 1_048_576)
  @Builder.Default
  private final int maxHeaderBytes = 32_768;

  /**
   * Longest time a request's body may take to arrive once its headers are in. Then: 408 {@code
   * request_timeout} (if nothing was answered yet) and the connection closes.
   */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long requestBodyTimeoutMs = 10_000;

  /**
   * Open sockets the public listener serves, counted from accept to close (keep-alive and idle ones
   * too). A socket accepted over it gets 503 {@code over_capacity} with {@code Retry-After} and is
   * closed. 0: the process's file-descriptor limit minus {@code maxInternalSockets} minus 512.
   */
  @Option(unit = "sockets", min = 0)
  private final int maxPublicSockets;

  /**
   * Open sockets the internal listener accepts, counted the same way. Kept apart so a browser flood
   * never locks the app tier out.
   */
  @Option(unit = "sockets", positive = true)
  @Builder.Default
  private final int maxInternalSockets = 1_024;

  /** The {@code Retry-After} of the 503 {@code over_capacity} sent over the socket limits. */
  @Option(unit = "seconds", min = 1, max = 3_600)
  @Builder.Default
  private final int overCapacityRetryAfterSeconds = 5;

  /**
   * How long a socket refused over its listener's limit waits for the client's request head after
   * the 503 before it is closed (closing with the request unread could reset the answer away).
   */
  @Option(unit = "ms", min = 0, max = 60_000)
  @Builder.Default
  private final long overCapacityLingerMs = 2_000;

  /**
   * Refused sockets per listener that may wait like that at once (their file descriptors come on
   * top of the socket limits); more are closed right after the 503.
   */
  @Option(unit = "sockets", min = 0, max = 100_000)
  @Builder.Default
  private final int overCapacityMaxLingering = 64;

  /**
   * Largest WebSocket message a browser may send (the node reads and drops them). A longer one, or
   * one that declares a longer frame, closes the connection with 1009 before any of it is buffered.
   */
  @Option(unit = "bytes", positive = true)
  @Builder.Default
  private final int wsClientFrameMaxBytes = 4_096;

  // Drain.

  /**
   * Period over which a draining node spreads its clients' reconnects. Each client gets a {@code
   * reconnect} event with a delay in {@code [0, drainPeriodMs)}.
   */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long drainPeriodMs = 30_000;

  /**
   * Longest wait for a connection told to go ({@code moved}, {@code reconnect}, {@code
   * token_expired}) to write what it has queued and that last event before it is cut.
   */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long finishGraceMs = 5_000;

  // Lossless resharding (issue 14, docs/protocol.md "Resharding").

  /**
   * Period over which the old owner spreads the {@code moved} events of the users an activated map
   * moves away (all connections of one user at the same instant); 0 sends them at once.
   */
  @Option(unit = "ms", min = 0)
  @Builder.Default
  private final long movedSpreadMs = 2_000;

  /**
   * How long the old owner keeps the stream of a user the activated map moved away (a finishing
   * stream), so a client reconnecting meanwhile gets its replay and {@code moved} with {@code
   * handoff}.
   */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long handoffRetentionMs = 60_000;

  /**
   * Longest time the new owner holds a connection resuming with {@code handoff} while relays of the
   * old owner's last events are still missing; then it gets {@code reset} ({@code gap}).
   */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long handoffWaitMs = 5_000;

  /**
   * Most entries the old owner carries to the new owner in a moving user's {@code handoff} (its API
   * subscriptions, block, {@code issuedBefore} revocation and each revoked {@code jti}, issue 14);
   * a user with more gets an honest {@code reset} at the new owner instead of a truncated state.
   */
  @Option(unit = "entries", positive = true)
  @Builder.Default
  private final int handoffCarryMaxEntries = 256;

  /** Publishers ({@code Halley-Publisher}) not seen for this long leave the state endpoint. */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long publisherSeenWindowMs = 60_000;

  /** Publisher IDs tracked at most; a new one beyond it replaces the least recently seen. */
  @Option(unit = "publishers", positive = true)
  @Builder.Default
  private final int maxTrackedPublishers = 1_000;

  // Presence webhook (PresenceWebhook); off unless presenceWebhookUrl is set.

  /** Where presence events are POSTed (absolute http(s) URL); default none (off). */
  @Option(unit = "URL")
  private final String presenceWebhookUrl;

  /** Sent as {@code Authorization: Bearer <secret>}; default none. */
  @Option(unit = "string")
  private final String presenceWebhookSecret;

  /** Most events in one POST. */
  @Option(unit = "events")
  @Builder.Default
  private final int presenceWebhookBatchMaxEvents = 100;

  /** Events waiting at most; more are dropped. */
  @Option(unit = "events")
  @Builder.Default
  private final int presenceWebhookQueueMaxEvents = 10_000;

  /** Tries per batch, first one included. */
  @Option(unit = "attempts")
  @Builder.Default
  private final int presenceWebhookMaxAttempts = 5;

  /** Backoff before the first retry; doubles each retry. */
  @Option(unit = "ms")
  @Builder.Default
  private final long presenceWebhookInitialBackoffMs = 200;

  /** Longest backoff. */
  @Option(unit = "ms")
  @Builder.Default
  private final long presenceWebhookMaxBackoffMs = 10_000;

  /** Connect and request timeout of one call. */
  @Option(unit = "ms")
  @Builder.Default
  private final long presenceWebhookTimeoutMs = 5_000;

  /**
   * How long a user must stay without connections before the webhook hears {@code offline}; 0
   * reports at once. A reconnect within it reports nothing.
   */
  @Option(unit = "ms", min = 0)
  @Builder.Default
  private final long presenceOfflineDelayMs = 5_000;

  /** Every option at its default. */
  public static OperationsConfig defaults() {
    return DEFAULTS;
  }

  /**
   * The validation pass of these options: each one's range ({@link Option}), then the rules between
   * them; the message starts with the bad option's name.
   */
  void validate() {
    ConfigBinder.check(this);
    if (presenceWebhookUrl != null && !presenceWebhookUrl.isBlank()) {
      URI url;
      try {
        url = URI.create(presenceWebhookUrl);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "presenceWebhookUrl is not a URL: \"" + presenceWebhookUrl + "\"");
      }
      require(
          ("http".equals(url.getScheme()) || "https".equals(url.getScheme()))
              && url.getHost() != null,
          "presenceWebhookUrl must be an absolute http(s) URL: " + url);
      positive("presenceWebhookBatchMaxEvents", presenceWebhookBatchMaxEvents);
      positive("presenceWebhookQueueMaxEvents", presenceWebhookQueueMaxEvents);
      positive("presenceWebhookMaxAttempts", presenceWebhookMaxAttempts);
      positive("presenceWebhookInitialBackoffMs", presenceWebhookInitialBackoffMs);
      positive("presenceWebhookTimeoutMs", presenceWebhookTimeoutMs);
      require(
          presenceWebhookMaxBackoffMs >= presenceWebhookInitialBackoffMs,
          "presenceWebhookMaxBackoffMs must be >= presenceWebhookInitialBackoffMs: "
              + presenceWebhookMaxBackoffMs);
    }
  }

  /** Whether the presence webhook is on ({@code presenceWebhookUrl} set; off by default). */
  public boolean presenceWebhookEnabled() {
    return presenceWebhookUrl != null && !presenceWebhookUrl.isBlank();
  }

  private static void positive(String option, long v) {
    require(v > 0, option + " must be > 0: " + v);
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  @Override
  public String toString() {
    return "OperationsConfig{maxConnections="
        + maxConnections
        + ", maxConnectionsPerUser="
        + maxConnectionsPerUser
        + ", newConnectionsPerSecondPerAddress="
        + newConnectionsPerSecondPerAddress
        + ", newConnectionBurstPerAddress="
        + newConnectionBurstPerAddress
        + ", maxTrackedAddresses="
        + maxTrackedAddresses
        + ", requestParseTimeoutMs="
        + requestParseTimeoutMs
        + ", noRequestTimeoutMs="
        + noRequestTimeoutMs
        + ", idleTimeoutMs="
        + idleTimeoutMs
        + ", drainPeriodMs="
        + drainPeriodMs
        + ", presenceWebhook="
        + (presenceWebhookUrl == null ? "none" : presenceWebhookUrl)
        + "}";
  }

  /** Builds an {@link OperationsConfig}; every option starts at its declared default. */
  public static final class Builder {
    /** Validates; the message starts with the bad option's name. */
    public OperationsConfig build() {
      OperationsConfig config = buildUnvalidated();
      config.validate();
      return config;
    }
  }
}
