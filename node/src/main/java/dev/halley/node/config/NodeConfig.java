package dev.halley.node.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.halley.cluster.ClusterMap;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

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
 * <p>{@link Builder#build()} and {@link #load} validate everything and throw {@link
 * IllegalArgumentException} whose message starts with the name of the bad field, e.g. {@code
 * "heartbeatMs must be > 0: -1"}.
 */
public final class NodeConfig {
  /** Minimum length of an API key, in characters. */
  public static final int MIN_API_KEY_LENGTH = 16;

  /** Minimum length of the HS256 secret, in UTF-8 bytes (RFC 7518 section 3.2). */
  public static final int MIN_HMAC_SECRET_BYTES = 32;

  /** Largest {@link #tokenLeewayMs()}, milliseconds (five minutes). */
  public static final long MAX_TOKEN_LEEWAY_MS = 300_000;

  private final String nodeId;
  private final ClusterMap map;
  private final Path mapFile;
  private final String publicHost;
  private final int publicPort;
  private final String internalHost;
  private final int internalPort;
  private final List<String> apiKeys;
  private final String tokenHmacSecret;
  private final String tokenPublicKeyPem;
  private final long tokenLeewayMs;
  private final List<String> allowedOrigins;
  private final long heartbeatMs;
  private final long longPollTimeoutMs;
  private final long sseRetryMs;
  private final int bufferMaxEvents;
  private final long bufferMaxAgeMs;
  private final int connectionQueueMaxEvents;
  private final long maxBodyBytes;
  private final int maxMessageBytes;
  private final int maxRecipientsPerRequest;
  private final long idempotencyWindowMs;
  private final int idempotencyMaxKeys;
  private final long idempotencyMaxBytes;
  private final int maxUserStreams;
  private final int accessMaxEntries;
  private final long revocationTtlMs;
  private final Path accessFile;
  private final List<String> latestValueChannels;
  private final int latestValueMaxChannels;
  private final int ioThreads;
  private final int publishThreads;
  private final Clock clock;
  private final OperationsConfig operations;

  private NodeConfig(Builder b) {
    nodeId = b.nodeId;
    map = b.map;
    mapFile = b.mapFile;
    publicHost = b.publicHost;
    publicPort = b.publicPort;
    internalHost = b.internalHost;
    internalPort = b.internalPort;
    apiKeys = List.copyOf(b.apiKeys);
    tokenHmacSecret = b.tokenHmacSecret;
    tokenPublicKeyPem = b.tokenPublicKeyPem;
    tokenLeewayMs = b.tokenLeewayMs;
    allowedOrigins = List.copyOf(b.allowedOrigins);
    heartbeatMs = b.heartbeatMs;
    longPollTimeoutMs = b.longPollTimeoutMs;
    sseRetryMs = b.sseRetryMs;
    bufferMaxEvents = b.bufferMaxEvents;
    bufferMaxAgeMs = b.bufferMaxAgeMs;
    connectionQueueMaxEvents = b.connectionQueueMaxEvents;
    maxBodyBytes = b.maxBodyBytes;
    maxMessageBytes = b.maxMessageBytes;
    maxRecipientsPerRequest = b.maxRecipientsPerRequest;
    idempotencyWindowMs = b.idempotencyWindowMs;
    idempotencyMaxKeys = b.idempotencyMaxKeys;
    idempotencyMaxBytes = b.idempotencyMaxBytes;
    maxUserStreams = b.maxUserStreams;
    accessMaxEntries = b.accessMaxEntries;
    revocationTtlMs = b.revocationTtlMs;
    accessFile = b.accessFile;
    latestValueChannels = List.copyOf(b.latestValueChannels);
    latestValueMaxChannels = b.latestValueMaxChannels;
    ioThreads = b.ioThreads;
    publishThreads = b.publishThreads;
    clock = b.clock;
    operations = b.operations;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this configuration's values, to derive a changed copy. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.nodeId = nodeId;
    b.map = map;
    b.mapFile = mapFile;
    b.publicHost = publicHost;
    b.publicPort = publicPort;
    b.internalHost = internalHost;
    b.internalPort = internalPort;
    b.apiKeys = apiKeys;
    b.tokenHmacSecret = tokenHmacSecret;
    b.tokenPublicKeyPem = tokenPublicKeyPem;
    b.tokenLeewayMs = tokenLeewayMs;
    b.allowedOrigins = allowedOrigins;
    b.heartbeatMs = heartbeatMs;
    b.longPollTimeoutMs = longPollTimeoutMs;
    b.sseRetryMs = sseRetryMs;
    b.bufferMaxEvents = bufferMaxEvents;
    b.bufferMaxAgeMs = bufferMaxAgeMs;
    b.connectionQueueMaxEvents = connectionQueueMaxEvents;
    b.maxBodyBytes = maxBodyBytes;
    b.maxMessageBytes = maxMessageBytes;
    b.maxRecipientsPerRequest = maxRecipientsPerRequest;
    b.idempotencyWindowMs = idempotencyWindowMs;
    b.idempotencyMaxKeys = idempotencyMaxKeys;
    b.idempotencyMaxBytes = idempotencyMaxBytes;
    b.maxUserStreams = maxUserStreams;
    b.accessMaxEntries = accessMaxEntries;
    b.revocationTtlMs = revocationTtlMs;
    b.accessFile = accessFile;
    b.latestValueChannels = latestValueChannels;
    b.latestValueMaxChannels = latestValueMaxChannels;
    b.ioThreads = ioThreads;
    b.publishThreads = publishThreads;
    b.clock = clock;
    b.operations = operations;
    return b;
  }

  /**
   * Loads a YAML or JSON file (JSON is YAML), then applies {@code HALLEY_*} environment overrides:
   * each option's name in upper snake case, e.g. {@code HALLEY_PUBLIC_PORT=8080}, {@code
   * HALLEY_API_KEYS=k1,k2} (lists are comma-separated). A relative {@code mapFile} or {@code
   * tokenPublicKeyFile} is resolved against the file's directory.
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
    Path dir = file.toAbsolutePath().getParent();
    return ConfigReader.read((ObjectNode) root, env, dir);
  }

  /** Checks every value; the message names the bad field. Called by {@link Builder#build()}. */
  public void validate() {
    require(nodeId != null && !nodeId.isBlank(), "nodeId is required");
    require(map != null, "map is required (map or mapFile)");
    // A map without this node is allowed, as POST /v1/admin/map allows it (scaling in): the node
    // owns no user and says so at start (event=map_without_this_node).
    require(publicHost != null && !publicHost.isBlank(), "publicHost is required");
    require(internalHost != null && !internalHost.isBlank(), "internalHost is required");
    requirePort("publicPort", publicPort);
    requirePort("internalPort", internalPort);
    require(
        publicPort == 0 || publicPort != internalPort || !publicHost.equals(internalHost),
        "internalPort must differ from publicPort: " + internalPort);
    require(!apiKeys.isEmpty(), "apiKeys must hold at least one key");
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
    require(
        tokenLeewayMs >= 0 && tokenLeewayMs <= MAX_TOKEN_LEEWAY_MS,
        "tokenLeewayMs must be in 0.." + MAX_TOKEN_LEEWAY_MS + ": " + tokenLeewayMs);
    for (int i = 0; i < allowedOrigins.size(); i++) {
      String o = allowedOrigins.get(i);
      require(
          o != null && (o.equals("*") || o.matches("https?://[^/\\s]+")),
          "allowedOrigins[" + i + "] must be \"*\" or scheme://host[:port]: " + quote(o));
    }
    requirePositive("heartbeatMs", heartbeatMs);
    requirePositive("longPollTimeoutMs", longPollTimeoutMs);
    requirePositive("sseRetryMs", sseRetryMs);
    requirePositive("bufferMaxEvents", bufferMaxEvents);
    requirePositive("bufferMaxAgeMs", bufferMaxAgeMs);
    require(
        connectionQueueMaxEvents >= bufferMaxEvents + 2,
        "connectionQueueMaxEvents must be >= bufferMaxEvents + 2 (a full replay must fit): "
            + connectionQueueMaxEvents);
    requirePositive("maxBodyBytes", maxBodyBytes);
    requirePositive("maxMessageBytes", maxMessageBytes);
    requirePositive("maxRecipientsPerRequest", maxRecipientsPerRequest);
    requirePositive("idempotencyWindowMs", idempotencyWindowMs);
    requirePositive("idempotencyMaxKeys", idempotencyMaxKeys);
    requirePositive("idempotencyMaxBytes", idempotencyMaxBytes);
    requirePositive("maxUserStreams", maxUserStreams);
    requirePositive("accessMaxEntries", accessMaxEntries);
    requirePositive("revocationTtlMs", revocationTtlMs);
    requirePositive("latestValueMaxChannels", latestValueMaxChannels);
    for (int i = 0; i < latestValueChannels.size(); i++) {
      String c = latestValueChannels.get(i);
      require(
          c != null && c.matches("[A-Za-z0-9_.:@/-]{1,128}\\*?|\\*"),
          "latestValueChannels["
              + i
              + "] must be a channel name or a prefix ending in *: "
              + quote(c));
    }
    requirePositive("ioThreads", ioThreads);
    requirePositive("publishThreads", publishThreads);
    require(clock != null, "clock is required");
    require(operations != null, "operations is required");
    require(
        operations.connectionQueueMaxBytes() >= maxBodyBytes,
        "connectionQueueMaxBytes must be >= maxBodyBytes (a full publish request must fit): "
            + operations.connectionQueueMaxBytes());
    require(
        operations.idleTimeoutMs() > Math.max(heartbeatMs, longPollTimeoutMs),
        "idleTimeoutMs must be > heartbeatMs and longPollTimeoutMs: " + operations.idleTimeoutMs());
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  private static void requirePositive(String field, long value) {
    require(value > 0, field + " must be > 0: " + value);
  }

  private static void requirePort(String field, int port) {
    require(port >= 0 && port <= 65535, field + " must be in 0..65535: " + port);
  }

  private static String quote(String s) {
    return s == null ? "null" : "\"" + s + "\"";
  }

  /** This node's ID in the cluster map. Required. */
  public String nodeId() {
    return nodeId;
  }

  /** The cluster map the node starts with. Required (given directly or as {@link #mapFile()}). */
  public ClusterMap map() {
    return map;
  }

  /** The file the map was loaded from, or null when it was given directly. */
  public Path mapFile() {
    return mapFile;
  }

  /** Address of the public (browser) listener; default {@code 0.0.0.0}. */
  public String publicHost() {
    return publicHost;
  }

  /** Port of the public listener; 0 picks a free port; default 8080. */
  public int publicPort() {
    return publicPort;
  }

  /** Address of the internal (app tier) listener; default {@code 127.0.0.1}. */
  public String internalHost() {
    return internalHost;
  }

  /** Port of the internal listener; 0 picks a free port; default 9080. */
  public int internalPort() {
    return internalPort;
  }

  /** API keys the internal listener accepts (any of them); at least one, each >= 16 chars. */
  public List<String> apiKeys() {
    return apiKeys;
  }

  /** HS256 secret shared with the app tier (>= 32 bytes), or null in public-key mode. */
  public String tokenHmacSecret() {
    return tokenHmacSecret;
  }

  /** PEM public key (EC P-256 for ES256, or RSA for RS256), or null in HS256 mode. */
  public String tokenPublicKeyPem() {
    return tokenPublicKeyPem;
  }

  /**
   * Clock-skew allowance for token {@code exp}, milliseconds; default 0. A token is accepted at
   * connect until {@code exp + tokenLeewayMs}, and a WebSocket, SSE or held long-poll connection is
   * ended at that same instant.
   */
  public long tokenLeewayMs() {
    return tokenLeewayMs;
  }

  /** Origins allowed by CORS and WebSocket upgrades; {@code "*"} allows any; default none. */
  public List<String> allowedOrigins() {
    return allowedOrigins;
  }

  /** Heartbeat interval of WebSocket and SSE connections, milliseconds; default 25000. */
  public long heartbeatMs() {
    return heartbeatMs;
  }

  /** Longest hold of a long-poll request (and its default), milliseconds; default 25000. */
  public long longPollTimeoutMs() {
    return longPollTimeoutMs;
  }

  /** The SSE {@code retry:} value sent to browsers, milliseconds; default 2000. */
  public long sseRetryMs() {
    return sseRetryMs;
  }

  /** Events kept per user for resume; default 1000. */
  public int bufferMaxEvents() {
    return bufferMaxEvents;
  }

  /**
   * Age after which a buffered event is dropped (a later resume gets {@code reset}), ms; 300000.
   */
  public long bufferMaxAgeMs() {
    return bufferMaxAgeMs;
  }

  /** Events queued for one connection before it is closed as a slow consumer; default 2048. */
  public int connectionQueueMaxEvents() {
    return connectionQueueMaxEvents;
  }

  /** Largest request body on the internal API, bytes; default 1048576 (1 MiB). */
  public long maxBodyBytes() {
    return maxBodyBytes;
  }

  /** Largest {@code data} of one message (as compact JSON), bytes; default 65536. */
  public int maxMessageBytes() {
    return maxMessageBytes;
  }

  /** Most user IDs in one publish request, over all its messages; default 10000. */
  public int maxRecipientsPerRequest() {
    return maxRecipientsPerRequest;
  }

  /** How long a publish idempotency key is remembered, milliseconds; default 300000. */
  public long idempotencyWindowMs() {
    return idempotencyWindowMs;
  }

  /** Most idempotency keys remembered (the oldest are forgotten first); default 100000. */
  public int idempotencyMaxKeys() {
    return idempotencyMaxKeys;
  }

  /**
   * Most bytes (estimated) the idempotency window holds, over all keys and their recipients (the
   * oldest keys are forgotten first); default 67108864 (64 MiB).
   */
  public long idempotencyMaxBytes() {
    return idempotencyMaxBytes;
  }

  /** Most user streams (buffers) held; idle ones are evicted first; default 1000000. */
  public int maxUserStreams() {
    return maxUserStreams;
  }

  /**
   * Most entries of the access list (a block, an {@code iat} revocation or one revoked {@code jti}
   * each count one) held in memory; a new entry beyond it is refused with 507 {@code
   * access_list_full}; default 100000.
   */
  public int accessMaxEntries() {
    return accessMaxEntries;
  }

  /**
   * How long a revocation without {@code expiresAt} is kept, milliseconds; set it to your longest
   * token lifetime; default 86400000 (one day).
   */
  public long revocationTtlMs() {
    return revocationTtlMs;
  }

  /**
   * A JSON file of access entries (blocks and revocations) loaded at start, so a restarted node
   * refuses the same users and tokens; default none (docs/protocol.md, "Access").
   */
  public Path accessFile() {
    return accessFile;
  }

  /**
   * Channels that keep their last message for new subscribers: names, or prefixes ending in {@code
   * *} ({@code "prices:*"}; {@code "*"} is every channel); default none.
   */
  public List<String> latestValueChannels() {
    return latestValueChannels;
  }

  /**
   * Most latest-value channels whose last message is held; the least recently published is
   * forgotten first; default 10000.
   */
  public int latestValueMaxChannels() {
    return latestValueMaxChannels;
  }

  /** Undertow IO threads (event loops); default: the number of processors. */
  public int ioThreads() {
    return ioThreads;
  }

  /**
   * Threads that run publish requests (ownership checks, stream appends, the fan-out to
   * connections), so that no publish holds an IO thread that serves browsers; default: half the
   * processors, at least 1.
   */
  public int publishThreads() {
    return publishThreads;
  }

  /** The clock for buffer ages, TTLs, token expiry and idempotency windows; default UTC system. */
  public Clock clock() {
    return clock;
  }

  /**
   * Limits, timeouts, drain and presence webhook settings (docs/operations.md); in files they are
   * top-level options like the others. Default: {@link OperationsConfig#defaults()}.
   */
  public OperationsConfig operations() {
    return operations;
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

  /** Builds a {@link NodeConfig}; every option starts at its documented default. */
  public static final class Builder {
    private String nodeId;
    private ClusterMap map;
    private Path mapFile;
    private String publicHost = "0.0.0.0";
    private int publicPort = 8080;
    private String internalHost = "127.0.0.1";
    private int internalPort = 9080;
    private List<String> apiKeys = List.of();
    private String tokenHmacSecret;
    private String tokenPublicKeyPem;
    private long tokenLeewayMs = 0;
    private List<String> allowedOrigins = List.of();
    private long heartbeatMs = 25_000;
    private long longPollTimeoutMs = 25_000;
    private long sseRetryMs = 2_000;
    private int bufferMaxEvents = 1_000;
    private long bufferMaxAgeMs = 300_000;
    private int connectionQueueMaxEvents = 2_048;
    private long maxBodyBytes = 1_048_576;
    private int maxMessageBytes = 65_536;
    private int maxRecipientsPerRequest = 10_000;
    private long idempotencyWindowMs = 300_000;
    private int idempotencyMaxKeys = 100_000;
    private long idempotencyMaxBytes = 64L * 1024 * 1024;
    private int maxUserStreams = 1_000_000;
    private int accessMaxEntries = 100_000;
    private long revocationTtlMs = 86_400_000;
    private Path accessFile;
    private List<String> latestValueChannels = List.of();
    private int latestValueMaxChannels = 10_000;
    private int ioThreads = Math.max(1, Runtime.getRuntime().availableProcessors());
    private int publishThreads = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
    private Clock clock = Clock.systemUTC();
    private OperationsConfig operations = OperationsConfig.defaults();

    private Builder() {}

    public Builder nodeId(String v) {
      nodeId = v;
      return this;
    }

    public Builder map(ClusterMap v) {
      map = v;
      return this;
    }

    /** Loads the map from this file now (a bad file fails naming {@code mapFile}). */
    public Builder mapFile(Path v) {
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

    public Builder publicHost(String v) {
      publicHost = v;
      return this;
    }

    public Builder publicPort(int v) {
      publicPort = v;
      return this;
    }

    public Builder internalHost(String v) {
      internalHost = v;
      return this;
    }

    public Builder internalPort(int v) {
      internalPort = v;
      return this;
    }

    public Builder apiKeys(List<String> v) {
      apiKeys = new ArrayList<>(Objects.requireNonNull(v, "apiKeys"));
      return this;
    }

    public Builder tokenHmacSecret(String v) {
      tokenHmacSecret = v;
      return this;
    }

    public Builder tokenPublicKeyPem(String v) {
      tokenPublicKeyPem = v;
      return this;
    }

    /** Clock-skew allowance for token {@code exp}, milliseconds, 0..300000; default 0. */
    public Builder tokenLeewayMs(long v) {
      tokenLeewayMs = v;
      return this;
    }

    public Builder allowedOrigins(List<String> v) {
      allowedOrigins = new ArrayList<>(Objects.requireNonNull(v, "allowedOrigins"));
      return this;
    }

    public Builder heartbeatMs(long v) {
      heartbeatMs = v;
      return this;
    }

    public Builder longPollTimeoutMs(long v) {
      longPollTimeoutMs = v;
      return this;
    }

    public Builder sseRetryMs(long v) {
      sseRetryMs = v;
      return this;
    }

    public Builder bufferMaxEvents(int v) {
      bufferMaxEvents = v;
      return this;
    }

    public Builder bufferMaxAgeMs(long v) {
      bufferMaxAgeMs = v;
      return this;
    }

    public Builder connectionQueueMaxEvents(int v) {
      connectionQueueMaxEvents = v;
      return this;
    }

    public Builder maxBodyBytes(long v) {
      maxBodyBytes = v;
      return this;
    }

    public Builder maxMessageBytes(int v) {
      maxMessageBytes = v;
      return this;
    }

    public Builder maxRecipientsPerRequest(int v) {
      maxRecipientsPerRequest = v;
      return this;
    }

    public Builder idempotencyWindowMs(long v) {
      idempotencyWindowMs = v;
      return this;
    }

    public Builder idempotencyMaxKeys(int v) {
      idempotencyMaxKeys = v;
      return this;
    }

    public Builder idempotencyMaxBytes(long v) {
      idempotencyMaxBytes = v;
      return this;
    }

    public Builder maxUserStreams(int v) {
      maxUserStreams = v;
      return this;
    }

    public Builder accessMaxEntries(int v) {
      accessMaxEntries = v;
      return this;
    }

    public Builder revocationTtlMs(long v) {
      revocationTtlMs = v;
      return this;
    }

    public Builder accessFile(Path v) {
      accessFile = v;
      return this;
    }

    public Builder latestValueChannels(List<String> v) {
      latestValueChannels = v;
      return this;
    }

    public Builder latestValueMaxChannels(int v) {
      latestValueMaxChannels = v;
      return this;
    }

    public Builder publishThreads(int v) {
      publishThreads = v;
      return this;
    }

    public Builder ioThreads(int v) {
      ioThreads = v;
      return this;
    }

    public Builder clock(Clock v) {
      clock = v;
      return this;
    }

    /** The operations settings (docs/operations.md). */
    public Builder operations(OperationsConfig v) {
      operations = v;
      return this;
    }

    /** Validates and builds; the exception message names the bad field. */
    public NodeConfig build() {
      NodeConfig config = new NodeConfig(this);
      config.validate();
      return config;
    }
  }

  /** Turns a parsed configuration document plus environment overrides into a config. */
  static final class ConfigReader {
    static final List<String> FIELDS =
        List.of(
            "nodeId",
            "map",
            "mapFile",
            "publicHost",
            "publicPort",
            "internalHost",
            "internalPort",
            "apiKeys",
            "tokenHmacSecret",
            "tokenPublicKeyPem",
            "tokenPublicKeyFile",
            "tokenLeewayMs",
            "allowedOrigins",
            "heartbeatMs",
            "longPollTimeoutMs",
            "sseRetryMs",
            "bufferMaxEvents",
            "bufferMaxAgeMs",
            "connectionQueueMaxEvents",
            "maxBodyBytes",
            "maxMessageBytes",
            "maxRecipientsPerRequest",
            "idempotencyWindowMs",
            "idempotencyMaxKeys",
            "idempotencyMaxBytes",
            "maxUserStreams",
            "accessMaxEntries",
            "revocationTtlMs",
            "accessFile",
            "latestValueChannels",
            "latestValueMaxChannels",
            "ioThreads",
            "publishThreads");

    static String envName(String field) {
      return "HALLEY_" + field.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toUpperCase(Locale.ROOT);
    }

    static NodeConfig read(ObjectNode root, Map<String, String> env, Path dir) {
      Map<String, Object> values = new LinkedHashMap<>();
      for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
        String name = it.next();
        if (!FIELDS.contains(name) && !OperationsConfig.FIELDS.contains(name)) {
          throw new IllegalArgumentException(
              name + " is not a configuration option (see docs/configuration.md)");
        }
        values.put(name, root.get(name));
      }
      for (String field : FIELDS) {
        String v = env.get(envName(field));
        if (v != null && !field.equals("map")) {
          values.put(field, v);
        }
      }
      for (String field : OperationsConfig.FIELDS) {
        String v = env.get(envName(field));
        if (v != null) {
          values.put(field, v);
        }
      }
      Builder b = builder();
      OperationsConfig.Builder ops = OperationsConfig.builder();
      for (Map.Entry<String, Object> e : values.entrySet()) {
        if (OperationsConfig.FIELDS.contains(e.getKey())) {
          ops.set(e.getKey(), e.getValue());
        } else {
          apply(b, e.getKey(), e.getValue(), dir);
        }
      }
      return b.operations(ops.build()).build();
    }

    private static void apply(Builder b, String field, Object value, Path dir) {
      switch (field) {
        case "nodeId" -> b.nodeId(string(field, value));
        case "map" -> {
          if (!(value instanceof JsonNode n) || !n.isObject()) {
            throw new IllegalArgumentException("map must be an object (the cluster map document)");
          }
          try {
            b.map(ClusterMap.parse(n.toString()));
          } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("map: " + e.getMessage(), e);
          }
        }
        case "mapFile" -> b.mapFile(dir.resolve(string(field, value)));
        case "publicHost" -> b.publicHost(string(field, value));
        case "publicPort" -> b.publicPort((int) integer(field, value, Integer.MAX_VALUE));
        case "internalHost" -> b.internalHost(string(field, value));
        case "internalPort" -> b.internalPort((int) integer(field, value, Integer.MAX_VALUE));
        case "apiKeys" -> b.apiKeys(list(field, value));
        case "tokenHmacSecret" -> b.tokenHmacSecret(string(field, value));
        case "tokenPublicKeyPem" -> b.tokenPublicKeyPem(string(field, value));
        case "tokenPublicKeyFile" -> {
          Path p = dir.resolve(string(field, value));
          try {
            b.tokenPublicKeyPem(Files.readString(p));
          } catch (IOException e) {
            throw new IllegalArgumentException(
                "tokenPublicKeyFile: cannot read " + p + ": " + ioReason(e), e);
          }
        }
        case "tokenLeewayMs" -> b.tokenLeewayMs(integer(field, value, Long.MAX_VALUE));
        case "allowedOrigins" -> b.allowedOrigins(list(field, value));
        case "heartbeatMs" -> b.heartbeatMs(integer(field, value, Long.MAX_VALUE));
        case "longPollTimeoutMs" -> b.longPollTimeoutMs(integer(field, value, Long.MAX_VALUE));
        case "sseRetryMs" -> b.sseRetryMs(integer(field, value, Long.MAX_VALUE));
        case "bufferMaxEvents" -> b.bufferMaxEvents(intValue(field, value));
        case "bufferMaxAgeMs" -> b.bufferMaxAgeMs(integer(field, value, Long.MAX_VALUE));
        case "connectionQueueMaxEvents" -> b.connectionQueueMaxEvents(intValue(field, value));
        case "maxBodyBytes" -> b.maxBodyBytes(integer(field, value, Long.MAX_VALUE));
        case "maxMessageBytes" -> b.maxMessageBytes(intValue(field, value));
        case "maxRecipientsPerRequest" -> b.maxRecipientsPerRequest(intValue(field, value));
        case "idempotencyWindowMs" -> b.idempotencyWindowMs(integer(field, value, Long.MAX_VALUE));
        case "idempotencyMaxKeys" -> b.idempotencyMaxKeys(intValue(field, value));
        case "idempotencyMaxBytes" -> b.idempotencyMaxBytes(integer(field, value, Long.MAX_VALUE));
        case "maxUserStreams" -> b.maxUserStreams(intValue(field, value));
        case "accessMaxEntries" -> b.accessMaxEntries(intValue(field, value));
        case "revocationTtlMs" -> b.revocationTtlMs(integer(field, value, Long.MAX_VALUE));
        case "accessFile" -> b.accessFile(dir.resolve(string(field, value)));
        case "latestValueChannels" -> b.latestValueChannels(list(field, value));
        case "latestValueMaxChannels" -> b.latestValueMaxChannels(intValue(field, value));
        case "ioThreads" -> b.ioThreads(intValue(field, value));
        case "publishThreads" -> b.publishThreads(intValue(field, value));
        default -> throw new IllegalArgumentException(field + " is not a configuration option");
      }
    }

    private static String string(String field, Object value) {
      if (value instanceof String s) {
        return s;
      }
      JsonNode n = (JsonNode) value;
      if (!n.isTextual() && !n.isNumber()) {
        throw new IllegalArgumentException(field + " must be a string: " + n);
      }
      return n.asText();
    }

    private static int intValue(String field, Object value) {
      return (int) integer(field, value, Integer.MAX_VALUE);
    }

    private static long integer(String field, Object value, long max) {
      long v;
      if (value instanceof String s) {
        try {
          v = Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException(field + " must be an integer: \"" + s + "\"");
        }
      } else {
        JsonNode n = (JsonNode) value;
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
          throw new IllegalArgumentException(field + " must be an integer: " + n);
        }
        v = n.longValue();
      }
      if (v > max) {
        throw new IllegalArgumentException(field + " must be <= " + max + ": " + v);
      }
      return v;
    }

    private static List<String> list(String field, Object value) {
      List<String> out = new ArrayList<>();
      if (value instanceof String s) {
        for (String part : s.split(",")) {
          if (!part.isBlank()) {
            out.add(part.trim());
          }
        }
        return out;
      }
      JsonNode n = (JsonNode) value;
      if (!n.isArray()) {
        throw new IllegalArgumentException(field + " must be a list of strings: " + n);
      }
      for (int i = 0; i < n.size(); i++) {
        if (!n.get(i).isTextual()) {
          throw new IllegalArgumentException(field + "[" + i + "] must be a string: " + n.get(i));
        }
        out.add(n.get(i).asText());
      }
      return out;
    }
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
}
