package dev.halley.node.config;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.halley.cluster.ClusterMap;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import lombok.AccessLevel;
import lombok.AllArgsConstructor;
import lombok.Builder;
import lombok.Getter;
import lombok.extern.jackson.Jacksonized;

/**
 * The configuration of one {@link dev.halley.node.HalleyNode}: identity, cluster map, listeners,
 * auth and limits.
 *
 * <p>Immutable; build it in code or load it from a YAML or JSON file (docs/configuration.md lists
 * every option, its unit and default):
 *
 * <pre>{@code
 * NodeConfig config = NodeConfig.builder()
 *     .nodeId("a").map(ClusterMap.parse(json))
 *     .publicPort(0).internalPort(0)
 *     .apiKeys(List.of("app-key-0123456789"))
 *     .tokenHmacSecret("a shared secret of at least 32 bytes!!")
 *     .build();
 * NodeConfig fromFile = NodeConfig.load(Path.of("node.yaml")); // HALLEY_* env vars override
 * }</pre>
 *
 * <p>Each option is declared once, below: a field (its name, type and default) with its {@link
 * Option} unit and range. The accessors and the builder are generated from the fields (Lombok);
 * files are bound onto the builder by Jackson ({@link ConfigBinder}). {@link Builder#build()} and
 * {@link #load} validate everything and throw {@link IllegalArgumentException} whose message starts
 * with the name of the bad field, e.g. {@code "heartbeatMs must be > 0: -1"}.
 */
@Getter
@AllArgsConstructor(access = AccessLevel.PRIVATE)
@Builder(builderClassName = "Builder", toBuilder = true, buildMethodName = "buildUnvalidated")
@Jacksonized
public final class NodeConfig {
  /** Minimum length of an API key, in characters. */
  public static final int MIN_API_KEY_LENGTH = 16;

  /** Minimum length of the HS256 secret, in UTF-8 bytes (RFC 7518 section 3.2). */
  public static final int MIN_HMAC_SECRET_BYTES = 32;

  /** Largest {@link #tokenLeewayMs()}, milliseconds (five minutes). */
  public static final long MAX_TOKEN_LEEWAY_MS = 300_000;

  /** This node's ID in the cluster map. Required. */
  @Option(unit = "string")
  private final String nodeId;

  /** The file the map was loaded from, or null when it was given directly. */
  @Option(unit = "path")
  private final Path mapFile;

  /**
   * A file watched like {@code mapFile} for a pending map (issue 14): a map there with a version
   * above the active one is installed as pending; default none.
   */
  @Option(unit = "path")
  private final Path pendingMapFile;

  /** The cluster map the node starts with. Required (given directly or as {@link #mapFile()}). */
  @Option(unit = "object")
  @JsonIgnore
  private final ClusterMap map;

  /** Address of the public (browser) listener. */
  @Option(unit = "address")
  @Builder.Default
  private final String publicHost = "0.0.0.0";

  /** Port of the public listener; 0 picks a free port. */
  @Option(unit = "port", min = 0, max = 65535)
  @Builder.Default
  private final int publicPort = 8080;

  /** Address of the internal (app tier) listener. */
  @Option(unit = "address")
  @Builder.Default
  private final String internalHost = "127.0.0.1";

  /** Port of the internal listener; 0 picks a free port. */
  @Option(unit = "port", min = 0, max = 65535)
  @Builder.Default
  private final int internalPort = 9080;

  /** Undertow IO threads (event loops); default: the number of processors. */
  @Option(unit = "threads", positive = true)
  @Builder.Default
  private final int ioThreads = Math.max(1, Runtime.getRuntime().availableProcessors());

  /**
   * Threads that run publish requests (ownership checks, stream appends, the fan-out to
   * connections), so that no publish holds an IO thread that serves browsers; default: half the
   * processors, at least 1.
   */
  @Option(unit = "threads", positive = true)
  @Builder.Default
  private final int publishThreads = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);

  /** API keys the internal listener accepts (any of them); at least one, each >= 16 chars. */
  @Option(unit = "list")
  @Builder.Default
  private final List<String> apiKeys = List.of();

  /** HS256 secret shared with the app tier (>= 32 bytes), or null in public-key mode. */
  @Option(unit = "string")
  private final String tokenHmacSecret;

  /** PEM public key (EC P-256 for ES256, or RSA for RS256), or null in HS256 mode. */
  @Option(unit = "PEM")
  private final String tokenPublicKeyPem;

  /**
   * Clock-skew allowance for token {@code exp}, milliseconds. A token is accepted at connect until
   * {@code exp + tokenLeewayMs}, and a WebSocket, SSE or held long-poll connection is ended at that
   * same instant.
   */
  @Option(unit = "ms", min = 0, max = MAX_TOKEN_LEEWAY_MS)
  @Builder.Default
  private final long tokenLeewayMs = 0;

  /**
   * Bytes of verified tokens the node keeps (each counts its length plus 256), so a client that
   * presents the same token again, as a long-poll does on every request, is not verified again
   * until the token's validity ends; 0 keeps none.
   */
  @Option(unit = "bytes", min = 0)
  @Builder.Default
  private final long tokenCacheMaxBytes = 16_777_216;

  /**
   * Longest wait, milliseconds, for an SSE or long-poll connection whose token expired to write
   * what it has queued and the {@code token_expired} event before it is cut.
   */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long tokenExpiredGraceMs = 5_000;

  /** Origins allowed by CORS and WebSocket upgrades; {@code "*"} allows any. */
  @Option(unit = "list")
  @Builder.Default
  private final List<String> allowedOrigins = List.of();

  /** Heartbeat interval of WebSocket and SSE connections. */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long heartbeatMs = 25_000;

  /** Longest hold of a long-poll request (and its default). */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long longPollTimeoutMs = 25_000;

  /** The SSE {@code retry:} value sent to browsers. */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long sseRetryMs = 2_000;

  /** Events kept per user for resume. */
  @Option(unit = "events", positive = true)
  @Builder.Default
  private final int bufferMaxEvents = 1_000;

  /** Age after which a buffered event is dropped (a later resume gets {@code reset}). */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long bufferMaxAgeMs = 300_000;

  /**
   * Bytes of events one user's resume buffer may hold, counted as each event's JSON. The oldest go
   * first, and a client that missed them gets {@code reset} ({@code gap}); must be >= {@code
   * maxMessageBytes}.
   */
  @Option(unit = "bytes", positive = true)
  @Builder.Default
  private final long bufferMaxBytes = 1_048_576;

  /**
   * Bytes all resume buffers of the node may hold together (a message buffered for many users
   * counts once, plus 48 bytes per user holding it); must be >= {@code bufferMaxBytes}. At the
   * budget the node's oldest buffered events go first, whoever they belong to.
   */
  @Option(unit = "bytes", positive = true)
  @Builder.Default
  private final long bufferBudgetBytes = 268_435_456;

  /** Most user streams (buffers) held; idle ones are evicted first. */
  @Option(unit = "streams", positive = true)
  @Builder.Default
  private final int maxUserStreams = 1_000_000;

  /**
   * Events queued for one connection before it is closed as a slow consumer (close 4008); must be
   * >= {@code bufferMaxEvents} + 2 (a full replay must fit).
   */
  @Option(unit = "events")
  @Builder.Default
  private final int connectionQueueMaxEvents = 2_048;

  /**
   * Bytes of events one connection may have queued and not yet written before it is cut as a slow
   * consumer (close 4008); must be >= {@code maxBodyBytes}.
   */
  @Option(unit = "bytes", positive = true)
  @Builder.Default
  private final long connectionQueueMaxBytes = 1_048_576;

  /** Largest request body on the internal API. */
  @Option(unit = "bytes", positive = true)
  @Builder.Default
  private final long maxBodyBytes = 1_048_576;

  /** Largest {@code data} of one message (as compact JSON). */
  @Option(unit = "bytes", positive = true)
  @Builder.Default
  private final int maxMessageBytes = 65_536;

  /** Most user IDs in one publish request, over all its messages. */
  @Option(unit = "users", positive = true)
  @Builder.Default
  private final int maxRecipientsPerRequest = 10_000;

  /** How long a publish idempotency key is remembered. */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long idempotencyWindowMs = 300_000;

  /** Most idempotency keys remembered (the oldest are forgotten first). */
  @Option(unit = "keys", positive = true)
  @Builder.Default
  private final int idempotencyMaxKeys = 100_000;

  /**
   * Most bytes (estimated) the idempotency window holds, over all keys and their recipients (the
   * oldest keys are forgotten first); 64 MiB.
   */
  @Option(unit = "bytes", positive = true)
  @Builder.Default
  private final long idempotencyMaxBytes = 64L * 1024 * 1024;

  /**
   * Most entries of the access list (a block, an {@code iat} revocation or one revoked {@code jti}
   * each count one) held in memory; a new entry beyond it is refused with 507 {@code
   * access_list_full}.
   */
  @Option(unit = "entries", positive = true)
  @Builder.Default
  private final int accessMaxEntries = 100_000;

  /**
   * How long a revocation without {@code expiresAt} is kept; set it to your longest token lifetime;
   * one day.
   */
  @Option(unit = "ms", positive = true)
  @Builder.Default
  private final long revocationTtlMs = 86_400_000;

  /**
   * A JSON file of access entries (blocks and revocations) loaded at start, so a restarted node
   * refuses the same users and tokens; default none (docs/protocol.md, "Access").
   */
  @Option(unit = "path")
  private final Path accessFile;

  /**
   * Channels that keep their last message for new subscribers: names, or prefixes ending in {@code
   * *} ({@code "prices:*"}; {@code "*"} is every channel).
   */
  @Option(unit = "list")
  @Builder.Default
  private final List<String> latestValueChannels = List.of();

  /**
   * Most latest-value channels whose last message is held; the least recently published is
   * forgotten first.
   */
  @Option(unit = "channels", positive = true)
  @Builder.Default
  private final int latestValueMaxChannels = 10_000;

  /**
   * Longest frequency limit a connection may ask for with {@code conflationIntervalMs} (at most one
   * message per conflation key per interval); a larger value is a 400. {@code heartbeatMs} caps it
   * too, since events (heartbeats included) wait behind a held message up to the interval.
   */
  @Option(unit = "ms", min = 0)
  @Builder.Default
  private final long conflationIntervalMaxMs = 10_000;

  /** The clock for buffer ages, TTLs, token expiry and idempotency windows (not in files). */
  @JsonIgnore @Builder.Default private final Clock clock = Clock.systemUTC();

  /**
   * Limits, timeouts, drain and presence webhook settings (docs/operations.md); in files they are
   * top-level options like the others.
   */
  @JsonIgnore @Builder.Default
  private final OperationsConfig operations = OperationsConfig.defaults();

  /**
   * Every option a configuration file accepts (those of {@link OperationsConfig} included), in
   * declaration order; {@code HALLEY_} plus the name in upper snake case is its environment form.
   */
  public static List<String> optionNames() {
    return ConfigBinder.names();
  }

  /**
   * Loads a YAML or JSON file (JSON is YAML), then applies {@code HALLEY_*} environment overrides:
   * each option's name in upper snake case, e.g. {@code HALLEY_PUBLIC_PORT=8080}, {@code
   * HALLEY_API_KEYS=k1,k2} (lists are comma-separated). A relative {@code mapFile}, {@code
   * accessFile} or {@code tokenPublicKeyFile} is resolved against the file's directory.
   *
   * @throws IllegalArgumentException naming the bad field, or the file if it cannot be read
   */
  public static NodeConfig load(Path file) {
    return load(file, System.getenv());
  }

  /** {@link #load(Path)} with an explicit environment (for tests). */
  public static NodeConfig load(Path file, Map<String, String> env) {
    JsonNode root;
    try {
      root = new YAMLMapper().readTree(Files.readAllBytes(file));
    } catch (IOException e) {
      throw new IllegalArgumentException(file + ": cannot read configuration: " + ioReason(e), e);
    }
    if (root == null || root.isNull() || root.isMissingNode()) {
      root = new YAMLMapper().createObjectNode();
    }
    if (!root.isObject()) {
      throw new IllegalArgumentException(file + ": configuration must be a mapping of options");
    }
    return ConfigBinder.read((ObjectNode) root, env, file.toAbsolutePath().getParent());
  }

  /**
   * The validation pass: each option's range ({@link Option}), then the rules between options. The
   * message names the bad field. Called by {@link Builder#build()}.
   */
  public void validate() {
    require(nodeId != null && !nodeId.isBlank(), "nodeId is required");
    require(map != null, "map is required (map or mapFile)");
    // A map without this node is allowed, as POST /v1/admin/map allows it (scaling in): the node
    // owns no user and says so at start (event=map_without_this_node).
    require(publicHost != null && !publicHost.isBlank(), "publicHost is required");
    require(internalHost != null && !internalHost.isBlank(), "internalHost is required");
    ConfigBinder.check(this);
    require(
        publicPort == 0 || publicPort != internalPort || !publicHost.equals(internalHost),
        "internalPort must differ from publicPort: " + internalPort);
    require(apiKeys != null && !apiKeys.isEmpty(), "apiKeys must hold at least one key");
    for (int i = 0; i < apiKeys.size(); i++) {
      String k = apiKeys.get(i);
      require(
          k != null && k.length() >= MIN_API_KEY_LENGTH && k.strip().equals(k),
          "apiKeys["
              + i
              + "] must be at least "
              + MIN_API_KEY_LENGTH
              + " characters without surrounding spaces");
    }
    require(
        (tokenHmacSecret == null) != (tokenPublicKeyPem == null),
        "tokenHmacSecret or tokenPublicKeyPem: set exactly one of them");
    if (tokenHmacSecret != null) {
      require(
          tokenHmacSecret.getBytes(StandardCharsets.UTF_8).length >= MIN_HMAC_SECRET_BYTES,
          "tokenHmacSecret must be at least " + MIN_HMAC_SECRET_BYTES + " bytes");
    }
    require(allowedOrigins != null, "allowedOrigins is required");
    for (int i = 0; i < allowedOrigins.size(); i++) {
      String o = allowedOrigins.get(i);
      require(
          o != null && (o.equals("*") || o.matches("https?://[^/\\s]+")),
          "allowedOrigins[" + i + "] must be \"*\" or scheme://host[:port]: " + quote(o));
    }
    require(
        connectionQueueMaxEvents >= bufferMaxEvents + 2,
        "connectionQueueMaxEvents must be >= bufferMaxEvents + 2 (a full replay must fit): "
            + connectionQueueMaxEvents);
    require(
        connectionQueueMaxBytes >= maxBodyBytes,
        "connectionQueueMaxBytes must be >= maxBodyBytes (a full publish request must fit): "
            + connectionQueueMaxBytes);
    require(
        bufferMaxBytes >= maxMessageBytes,
        "bufferMaxBytes must be >= maxMessageBytes (a largest message must fit): "
            + bufferMaxBytes);
    require(
        bufferBudgetBytes >= bufferMaxBytes,
        "bufferBudgetBytes must be >= bufferMaxBytes ("
            + bufferMaxBytes
            + "): "
            + bufferBudgetBytes);
    require(latestValueChannels != null, "latestValueChannels is required");
    for (int i = 0; i < latestValueChannels.size(); i++) {
      String c = latestValueChannels.get(i);
      require(
          c != null && c.matches("[A-Za-z0-9_.:@/-]{1,128}\\*?|\\*"),
          "latestValueChannels["
              + i
              + "] must be a channel name or a prefix ending in *: "
              + quote(c));
    }
    require(clock != null, "clock is required");
    require(operations != null, "operations is required");
    operations.validate();
    require(
        operations.idleTimeoutMs() > Math.max(heartbeatMs, longPollTimeoutMs),
        "idleTimeoutMs must be > heartbeatMs and longPollTimeoutMs: " + operations.idleTimeoutMs());
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  private static String quote(String s) {
    return s == null ? "null" : "\"" + s + "\"";
  }

  /** Why a file could not be read, in words (an NIO exception's message is only the path). */
  public static String ioReason(IOException e) {
    if (e instanceof java.nio.file.NoSuchFileException) {
      return "no such file";
    }
    if (e instanceof java.nio.file.AccessDeniedException) {
      return "permission denied";
    }
    if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
      return f.getReason();
    }
    return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
  }

  @Override
  public String toString() {
    return "NodeConfig{nodeId="
        + nodeId
        + ", mapVersion="
        + (map == null ? "none" : map.version())
        + ", public="
        + publicHost
        + ":"
        + publicPort
        + ", internal="
        + internalHost
        + ":"
        + internalPort
        + ", apiKeys="
        + apiKeys.size()
        + ", tokenMode="
        + (tokenHmacSecret != null ? "HS256" : "public key")
        + "}";
  }

  /** Builds a {@link NodeConfig}; every option starts at its declared default. */
  public static final class Builder {
    /**
     * Loads the map from this file now (a bad file fails naming {@code mapFile}); null: the map is
     * given directly.
     */
    public Builder mapFile(Path v) {
      if (v == null) {
        mapFile = null;
        return this;
      }
      try {
        map = ClusterMap.load(v);
      } catch (IOException e) {
        throw new IllegalArgumentException("mapFile " + v + ": " + ioReason(e), e);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("mapFile " + v + ": " + e.getMessage(), e);
      }
      mapFile = v;
      return this;
    }

    /** Validates and builds; the exception message names the bad field. */
    public NodeConfig build() {
      NodeConfig config = buildUnvalidated();
      config.validate();
      return config;
    }
  }
}
