package dev.halley.node.config;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.admission.ConnectionLimits;
import dev.halley.node.presence.PresenceWebhook;
import java.net.URI;
import java.util.List;
import java.util.Locale;

/**
 * The operations settings of a node (limits, timeouts, drain, presence webhook), kept apart from
 * the core settings of {@link dev.halley.node.config.NodeConfig} which holds one of these; in a
 * configuration file they are plain top-level options like the others.
 *
 * <pre>{@code
 * NodeConfig config = NodeConfig.builder()...
 *     .operations(OperationsConfig.builder().maxConnections(50_000).drainPeriodMs(10_000).build())
 *     .build();
 * // node.yaml: maxConnections: 50000   (env: HALLEY_MAX_CONNECTIONS=50000)
 * }</pre>
 *
 * <p>Immutable. docs/operations.md lists every option with its unit and default; {@link
 * Builder#build()} throws {@link IllegalArgumentException} whose message starts with the bad
 * option's name.
 */
public final class OperationsConfig {
  /** The option names, as written in configuration files. */
  public static final List<String> FIELDS =
      List.of(
          "maxConnections",
          "maxConnectionsPerUser",
          "newConnectionsPerSecondPerAddress",
          "newConnectionBurstPerAddress",
          "maxTrackedAddresses",
          "rateLimitLoopback",
          "connectionQueueMaxBytes",
          "requestParseTimeoutMs",
          "noRequestTimeoutMs",
          "idleTimeoutMs",
          "drainPeriodMs",
          "presenceWebhookUrl",
          "presenceWebhookSecret",
          "presenceWebhookBatchMaxEvents",
          "presenceWebhookQueueMaxEvents",
          "presenceWebhookMaxAttempts",
          "presenceWebhookInitialBackoffMs",
          "presenceWebhookMaxBackoffMs",
          "presenceWebhookTimeoutMs",
          "presenceOfflineDelayMs",
          "maxHeaderBytes",
          "requestBodyTimeoutMs",
          "maxPublicSockets",
          "maxInternalSockets",
          "wsClientFrameMaxBytes",
          "bufferMaxBytes",
          "bufferBudgetBytes");

  private static final OperationsConfig DEFAULTS = builder().build();

  private final ConnectionLimits.Options limits;
  private final boolean rateLimitLoopback;
  private final long connectionQueueMaxBytes;
  private final long requestParseTimeoutMs;
  private final long noRequestTimeoutMs;
  private final long idleTimeoutMs;
  private final long drainPeriodMs;
  private final PresenceWebhook.Options presenceWebhook;
  private final long presenceOfflineDelayMs;
  private final int maxHeaderBytes;
  private final long requestBodyTimeoutMs;
  private final int maxPublicSockets;
  private final int maxInternalSockets;
  private final int wsClientFrameMaxBytes;
  private final long bufferMaxBytes;
  private final long bufferBudgetBytes;

  private OperationsConfig(Builder b, ConnectionLimits.Options limits, PresenceWebhook.Options w) {
    this.limits = limits;
    this.rateLimitLoopback = b.rateLimitLoopback;
    this.connectionQueueMaxBytes = b.connectionQueueMaxBytes;
    this.requestParseTimeoutMs = b.requestParseTimeoutMs;
    this.noRequestTimeoutMs = b.noRequestTimeoutMs;
    this.idleTimeoutMs = b.idleTimeoutMs;
    this.drainPeriodMs = b.drainPeriodMs;
    this.presenceWebhook = w;
    this.presenceOfflineDelayMs = b.presenceOfflineDelayMs;
    this.maxHeaderBytes = b.maxHeaderBytes;
    this.requestBodyTimeoutMs = b.requestBodyTimeoutMs;
    this.maxPublicSockets = b.maxPublicSockets;
    this.maxInternalSockets = b.maxInternalSockets;
    this.wsClientFrameMaxBytes = b.wsClientFrameMaxBytes;
    this.bufferMaxBytes = b.bufferMaxBytes;
    this.bufferBudgetBytes = b.bufferBudgetBytes;
  }

  /** Every option at its default. */
  public static OperationsConfig defaults() {
    return DEFAULTS;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Connection admission limits (see {@link ConnectionLimits.Options} for the defaults). */
  public ConnectionLimits.Options limits() {
    return limits;
  }

  /**
   * Whether connections from loopback addresses (127.0.0.0/8, ::1: a proxy on the same host, tests)
   * are rate-limited per address; default false (they are not).
   */
  public boolean rateLimitLoopback() {
    return rateLimitLoopback;
  }

  /**
   * Bytes of events one connection may have queued and not yet written before it is cut as a slow
   * consumer (close 4008); default 1048576 (1 MiB). The event bound is {@code
   * connectionQueueMaxEvents}.
   */
  public long connectionQueueMaxBytes() {
    return connectionQueueMaxBytes;
  }

  /**
   * Longest time to receive a request's line and headers once they started (slow-header attacks),
   * milliseconds; default 10000. Undertow's {@code REQUEST_PARSE_TIMEOUT}.
   */
  public long requestParseTimeoutMs() {
    return requestParseTimeoutMs;
  }

  /**
   * Longest time an open HTTP connection may wait before sending its first (or next keep-alive)
   * request, milliseconds; default 30000. Undertow's {@code NO_REQUEST_TIMEOUT}.
   */
  public long noRequestTimeoutMs() {
    return noRequestTimeoutMs;
  }

  /**
   * Longest time a connection may go without any read or write, milliseconds; default 120000; must
   * exceed {@code heartbeatMs} (heartbeats keep healthy streams busy). Undertow's {@code
   * IDLE_TIMEOUT}.
   */
  public long idleTimeoutMs() {
    return idleTimeoutMs;
  }

  /**
   * Period over which a draining node spreads its clients' reconnects, milliseconds; default 30000.
   * Each client gets a {@code reconnect} event with a delay in {@code [0, drainPeriodMs)}.
   */
  public long drainPeriodMs() {
    return drainPeriodMs;
  }

  /** The presence webhook, or null when {@code presenceWebhookUrl} is not set (the default). */
  public PresenceWebhook.Options presenceWebhook() {
    return presenceWebhook;
  }

  /**
   * How long a user must stay without connections before the webhook hears {@code offline},
   * milliseconds; default 5000; 0 reports at once. A reconnect within it reports nothing.
   */
  public long presenceOfflineDelayMs() {
    return presenceOfflineDelayMs;
  }

  /**
   * Largest request line plus headers, bytes; default 32768, 1024..1048576. Over it: 431 {@code
   * headers_too_large} and the connection closes. Undertow's {@code MAX_HEADER_SIZE}.
   */
  public int maxHeaderBytes() {
    return maxHeaderBytes;
  }

  /**
   * Longest time a request's body may take to arrive once its headers are in, milliseconds; default
   * 10000. Then: 408 {@code request_timeout} (if nothing was answered yet) and the connection
   * closes.
   */
  public long requestBodyTimeoutMs() {
    return requestBodyTimeoutMs;
  }

  /**
   * Open sockets the public listener accepts, counted at accept (keep-alive and idle ones too); at
   * the limit the node stops accepting until 90% of it (new clients wait in the kernel's backlog).
   * Default 0: the process's file-descriptor limit minus {@code maxInternalSockets} minus 512.
   */
  public int maxPublicSockets() {
    return maxPublicSockets;
  }

  /**
   * Open sockets the internal listener accepts, counted the same way; default 1024. Kept apart so a
   * browser flood never locks the app tier out.
   */
  public int maxInternalSockets() {
    return maxInternalSockets;
  }

  /**
   * Largest WebSocket message a browser may send (the node reads and drops them), bytes; default
   * 4096. A longer one, or one that declares a longer frame, closes the connection with 1009 before
   * any of it is buffered.
   */
  public int wsClientFrameMaxBytes() {
    return wsClientFrameMaxBytes;
  }

  /**
   * Bytes of events one user's resume buffer may hold, counted as each event's JSON; default
   * 1048576 (1 MiB); must be >= {@code maxMessageBytes}. The oldest go first, and a client that
   * missed them gets {@code reset} ({@code gap}).
   */
  public long bufferMaxBytes() {
    return bufferMaxBytes;
  }

  /**
   * Bytes all resume buffers of the node may hold together (a message buffered for many users
   * counts once, plus 48 bytes per user holding it); default 268435456 (256 MiB). At the budget the
   * node's oldest buffered events go first, whoever they belong to; their users get {@code reset}
   * ({@code gap}) if they resume from before them.
   */
  public long bufferBudgetBytes() {
    return bufferBudgetBytes;
  }

  @Override
  public String toString() {
    return "OperationsConfig{"
        + limits
        + ", connectionQueueMaxBytes="
        + connectionQueueMaxBytes
        + ", requestParseTimeoutMs="
        + requestParseTimeoutMs
        + ", noRequestTimeoutMs="
        + noRequestTimeoutMs
        + ", idleTimeoutMs="
        + idleTimeoutMs
        + ", drainPeriodMs="
        + drainPeriodMs
        + ", presenceWebhook="
        + (presenceWebhook == null ? "none" : presenceWebhook.url())
        + "}";
  }

  /** Builds an {@link OperationsConfig}; every option starts at its documented default. */
  public static final class Builder {
    private int maxConnections = ConnectionLimits.Options.DEFAULTS.maxConnections();
    private int maxConnectionsPerUser = ConnectionLimits.Options.DEFAULTS.maxConnectionsPerUser();
    private double newConnectionsPerSecondPerAddress =
        ConnectionLimits.Options.DEFAULTS.newConnectionsPerSecondPerAddress();
    private int newConnectionBurstPerAddress =
        ConnectionLimits.Options.DEFAULTS.newConnectionBurstPerAddress();
    private int maxTrackedAddresses = ConnectionLimits.Options.DEFAULTS.maxTrackedAddresses();
    private boolean rateLimitLoopback;
    private long connectionQueueMaxBytes = 1_048_576;
    private long requestParseTimeoutMs = 10_000;
    private long noRequestTimeoutMs = 30_000;
    private long idleTimeoutMs = 120_000;
    private long drainPeriodMs = 30_000;
    private String presenceWebhookUrl;
    private String presenceWebhookSecret;
    private Integer presenceWebhookBatchMaxEvents;
    private Integer presenceWebhookQueueMaxEvents;
    private Integer presenceWebhookMaxAttempts;
    private Long presenceWebhookInitialBackoffMs;
    private Long presenceWebhookMaxBackoffMs;
    private Long presenceWebhookTimeoutMs;
    private long presenceOfflineDelayMs = 5_000;
    private int maxHeaderBytes = 32_768;
    private long requestBodyTimeoutMs = 10_000;
    private int maxPublicSockets = 0;
    private int maxInternalSockets = 1_024;
    private int wsClientFrameMaxBytes = 4_096;
    private long bufferMaxBytes = 1_048_576;
    private long bufferBudgetBytes = 268_435_456;

    private Builder() {}

    public Builder maxConnections(int v) {
      maxConnections = v;
      return this;
    }

    public Builder maxConnectionsPerUser(int v) {
      maxConnectionsPerUser = v;
      return this;
    }

    public Builder newConnectionsPerSecondPerAddress(double v) {
      newConnectionsPerSecondPerAddress = v;
      return this;
    }

    public Builder newConnectionBurstPerAddress(int v) {
      newConnectionBurstPerAddress = v;
      return this;
    }

    public Builder maxTrackedAddresses(int v) {
      maxTrackedAddresses = v;
      return this;
    }

    public Builder rateLimitLoopback(boolean v) {
      rateLimitLoopback = v;
      return this;
    }

    public Builder connectionQueueMaxBytes(long v) {
      connectionQueueMaxBytes = v;
      return this;
    }

    public Builder requestParseTimeoutMs(long v) {
      requestParseTimeoutMs = v;
      return this;
    }

    public Builder noRequestTimeoutMs(long v) {
      noRequestTimeoutMs = v;
      return this;
    }

    public Builder idleTimeoutMs(long v) {
      idleTimeoutMs = v;
      return this;
    }

    public Builder drainPeriodMs(long v) {
      drainPeriodMs = v;
      return this;
    }

    public Builder presenceWebhookUrl(String v) {
      presenceWebhookUrl = v;
      return this;
    }

    public Builder presenceWebhookSecret(String v) {
      presenceWebhookSecret = v;
      return this;
    }

    public Builder presenceWebhookBatchMaxEvents(int v) {
      presenceWebhookBatchMaxEvents = v;
      return this;
    }

    public Builder presenceWebhookQueueMaxEvents(int v) {
      presenceWebhookQueueMaxEvents = v;
      return this;
    }

    public Builder presenceWebhookMaxAttempts(int v) {
      presenceWebhookMaxAttempts = v;
      return this;
    }

    public Builder presenceWebhookInitialBackoffMs(long v) {
      presenceWebhookInitialBackoffMs = v;
      return this;
    }

    public Builder presenceWebhookMaxBackoffMs(long v) {
      presenceWebhookMaxBackoffMs = v;
      return this;
    }

    public Builder presenceOfflineDelayMs(long v) {
      presenceOfflineDelayMs = v;
      return this;
    }

    public Builder presenceWebhookTimeoutMs(long v) {
      presenceWebhookTimeoutMs = v;
      return this;
    }

    public Builder maxHeaderBytes(int v) {
      maxHeaderBytes = v;
      return this;
    }

    public Builder requestBodyTimeoutMs(long v) {
      requestBodyTimeoutMs = v;
      return this;
    }

    public Builder maxPublicSockets(int v) {
      maxPublicSockets = v;
      return this;
    }

    public Builder maxInternalSockets(int v) {
      maxInternalSockets = v;
      return this;
    }

    public Builder wsClientFrameMaxBytes(int v) {
      wsClientFrameMaxBytes = v;
      return this;
    }

    public Builder bufferMaxBytes(long v) {
      bufferMaxBytes = v;
      return this;
    }

    public Builder bufferBudgetBytes(long v) {
      bufferBudgetBytes = v;
      return this;
    }

    /**
     * Sets option {@code field} from a configuration file value ({@link JsonNode}) or an
     * environment variable ({@link String}); the message of a bad value names the option.
     */
    public Builder set(String field, Object value) {
      switch (field) {
        case "maxConnections" -> maxConnections(intValue(field, value));
        case "maxConnectionsPerUser" -> maxConnectionsPerUser(intValue(field, value));
        case "newConnectionsPerSecondPerAddress" ->
            newConnectionsPerSecondPerAddress(number(field, value));
        case "newConnectionBurstPerAddress" -> newConnectionBurstPerAddress(intValue(field, value));
        case "maxTrackedAddresses" -> maxTrackedAddresses(intValue(field, value));
        case "rateLimitLoopback" -> rateLimitLoopback(bool(field, value));
        case "connectionQueueMaxBytes" -> connectionQueueMaxBytes(longValue(field, value));
        case "requestParseTimeoutMs" -> requestParseTimeoutMs(longValue(field, value));
        case "noRequestTimeoutMs" -> noRequestTimeoutMs(longValue(field, value));
        case "idleTimeoutMs" -> idleTimeoutMs(longValue(field, value));
        case "drainPeriodMs" -> drainPeriodMs(longValue(field, value));
        case "presenceWebhookUrl" -> presenceWebhookUrl(string(field, value));
        case "presenceWebhookSecret" -> presenceWebhookSecret(string(field, value));
        case "presenceWebhookBatchMaxEvents" ->
            presenceWebhookBatchMaxEvents(intValue(field, value));
        case "presenceWebhookQueueMaxEvents" ->
            presenceWebhookQueueMaxEvents(intValue(field, value));
        case "presenceWebhookMaxAttempts" -> presenceWebhookMaxAttempts(intValue(field, value));
        case "presenceWebhookInitialBackoffMs" ->
            presenceWebhookInitialBackoffMs(longValue(field, value));
        case "presenceWebhookMaxBackoffMs" -> presenceWebhookMaxBackoffMs(longValue(field, value));
        case "presenceWebhookTimeoutMs" -> presenceWebhookTimeoutMs(longValue(field, value));
        case "presenceOfflineDelayMs" -> presenceOfflineDelayMs(longValue(field, value));
        case "maxHeaderBytes" -> maxHeaderBytes(intValue(field, value));
        case "requestBodyTimeoutMs" -> requestBodyTimeoutMs(longValue(field, value));
        case "maxPublicSockets" -> maxPublicSockets(intValue(field, value));
        case "maxInternalSockets" -> maxInternalSockets(intValue(field, value));
        case "wsClientFrameMaxBytes" -> wsClientFrameMaxBytes(intValue(field, value));
        case "bufferMaxBytes" -> bufferMaxBytes(longValue(field, value));
        case "bufferBudgetBytes" -> bufferBudgetBytes(longValue(field, value));
        default -> throw new IllegalArgumentException(field + " is not a configuration option");
      }
      return this;
    }

    /** Validates; the message starts with the bad option's name. */
    public OperationsConfig build() {
      ConnectionLimits.Options limits =
          new ConnectionLimits.Options(
              maxConnections,
              maxConnectionsPerUser,
              newConnectionsPerSecondPerAddress,
              newConnectionBurstPerAddress,
              maxTrackedAddresses);
      positive("connectionQueueMaxBytes", connectionQueueMaxBytes);
      positive("requestParseTimeoutMs", requestParseTimeoutMs);
      positive("noRequestTimeoutMs", noRequestTimeoutMs);
      positive("idleTimeoutMs", idleTimeoutMs);
      positive("drainPeriodMs", drainPeriodMs);
      if (maxHeaderBytes < 1024 || maxHeaderBytes > 1_048_576) {
        throw new IllegalArgumentException(
            "maxHeaderBytes must be 1024..1048576: " + maxHeaderBytes);
      }
      positive("requestBodyTimeoutMs", requestBodyTimeoutMs);
      if (maxPublicSockets < 0) {
        throw new IllegalArgumentException("maxPublicSockets must be >= 0: " + maxPublicSockets);
      }
      positive("maxInternalSockets", maxInternalSockets);
      positive("wsClientFrameMaxBytes", wsClientFrameMaxBytes);
      positive("bufferMaxBytes", bufferMaxBytes);
      positive("bufferBudgetBytes", bufferBudgetBytes);
      if (bufferBudgetBytes < bufferMaxBytes) {
        throw new IllegalArgumentException(
            "bufferBudgetBytes must be >= bufferMaxBytes ("
                + bufferMaxBytes
                + "): "
                + bufferBudgetBytes);
      }
      if (presenceOfflineDelayMs < 0) {
        throw new IllegalArgumentException(
            "presenceOfflineDelayMs must be >= 0: " + presenceOfflineDelayMs);
      }
      PresenceWebhook.Options webhook = null;
      if (presenceWebhookUrl != null && !presenceWebhookUrl.isBlank()) {
        URI url;
        try {
          url = URI.create(presenceWebhookUrl);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(
              "presenceWebhookUrl is not a URL: \"" + presenceWebhookUrl + "\"");
        }
        PresenceWebhook.Options.Builder w = PresenceWebhook.Options.builder(url);
        w.secret(presenceWebhookSecret);
        if (presenceWebhookBatchMaxEvents != null) {
          w.batchMaxEvents(presenceWebhookBatchMaxEvents);
        }
        if (presenceWebhookQueueMaxEvents != null) {
          w.queueMaxEvents(presenceWebhookQueueMaxEvents);
        }
        if (presenceWebhookMaxAttempts != null) {
          w.maxAttempts(presenceWebhookMaxAttempts);
        }
        if (presenceWebhookInitialBackoffMs != null) {
          w.initialBackoffMs(presenceWebhookInitialBackoffMs);
        }
        if (presenceWebhookMaxBackoffMs != null) {
          w.maxBackoffMs(presenceWebhookMaxBackoffMs);
        }
        if (presenceWebhookTimeoutMs != null) {
          w.timeoutMs(presenceWebhookTimeoutMs);
        }
        webhook = w.build();
      }
      return new OperationsConfig(this, limits, webhook);
    }

    private static void positive(String field, long v) {
      if (v <= 0) {
        throw new IllegalArgumentException(field + " must be > 0: " + v);
      }
    }
  }

  /** {@code HALLEY_} plus the option's name in upper snake case. */
  public static String envName(String field) {
    return "HALLEY_" + field.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toUpperCase(Locale.ROOT);
  }

  private static String string(String field, Object value) {
    if (value instanceof String s) {
      return s;
    }
    JsonNode n = (JsonNode) value;
    if (!n.isTextual()) {
      throw new IllegalArgumentException(field + " must be a string: " + n);
    }
    return n.asText();
  }

  private static int intValue(String field, Object value) {
    long v = longValue(field, value);
    if (v > Integer.MAX_VALUE || v < Integer.MIN_VALUE) {
      throw new IllegalArgumentException(field + " must be <= " + Integer.MAX_VALUE + ": " + v);
    }
    return (int) v;
  }

  private static long longValue(String field, Object value) {
    if (value instanceof String s) {
      try {
        return Long.parseLong(s.trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(field + " must be an integer: \"" + s + "\"");
      }
    }
    JsonNode n = (JsonNode) value;
    if (!n.isIntegralNumber() || !n.canConvertToLong()) {
      throw new IllegalArgumentException(field + " must be an integer: " + n);
    }
    return n.longValue();
  }

  private static boolean bool(String field, Object value) {
    if (value instanceof String s) {
      if (s.trim().equalsIgnoreCase("true") || s.trim().equalsIgnoreCase("false")) {
        return Boolean.parseBoolean(s.trim());
      }
      throw new IllegalArgumentException(field + " must be true or false: \"" + s + "\"");
    }
    JsonNode n = (JsonNode) value;
    if (!n.isBoolean()) {
      throw new IllegalArgumentException(field + " must be true or false: " + n);
    }
    return n.booleanValue();
  }

  private static double number(String field, Object value) {
    if (value instanceof String s) {
      try {
        return Double.parseDouble(s.trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(field + " must be a number: \"" + s + "\"");
      }
    }
    JsonNode n = (JsonNode) value;
    if (!n.isNumber()) {
      throw new IllegalArgumentException(field + " must be a number: " + n);
    }
    return n.doubleValue();
  }
}
