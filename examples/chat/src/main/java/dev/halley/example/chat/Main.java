package dev.halley.example.chat;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.HalleyLogging;
import dev.halley.node.HalleyNode;
import dev.halley.node.config.NodeConfig;
import dev.halley.router.MapSource;
import dev.halley.router.Publisher;
import dev.halley.router.TokenMinter;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./halley run}: a local cluster with the chat example. By default three nodes in this
 * process (public ports 7101-7103, internal 7201-7203) and the chat server on 8080, all on
 * 127.0.0.1; prints the node URLs, the map and the URL to open; stops cleanly on Ctrl-C.
 *
 * <p>The same program runs parts of a cluster, one process each, as the browser tests do: {@code
 * --map-file m.json --nodes b --no-chat} runs node b of that map; {@code --map-file m.json --nodes
 * none} runs only the chat server. Both re-read the file every {@code --map-refresh-ms} and switch
 * to a newer version, so a test grows the cluster by writing the file and starting the new node.
 *
 * <p>Secrets come from {@code HALLEY_API_KEY} and {@code HALLEY_TOKEN_SECRET}; without them it uses
 * built-in development values (fine on 127.0.0.1, never elsewhere).
 */
@Command(
    name = "halley run",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = "Starts a local Halley cluster with the chat example.")
public final class Main implements Callable<Integer> {
  static final String DEV_API_KEY = "dev-api-key-not-secret";
  static final String DEV_TOKEN_SECRET = "dev-token-secret-not-secret-0123456789";

  @Option(
      names = "--host",
      defaultValue = "127.0.0.1",
      description = "Address of every listener (default: ${DEFAULT-VALUE}).")
  String host;

  @Option(
      names = "--chat-port",
      defaultValue = "8080",
      description = "Chat server port, 0 for any free one (default: ${DEFAULT-VALUE}).")
  int chatPort;

  @Option(names = "--no-chat", description = "Do not start the chat server.")
  boolean noChat;

  @Option(
      names = "--public-ports",
      split = ",",
      defaultValue = "7101,7102,7103",
      description =
          "Public ports of the generated map's nodes a, b, c, ... (default: ${DEFAULT-VALUE}).")
  List<Integer> publicPorts;

  @Option(
      names = "--internal-ports",
      split = ",",
      defaultValue = "7201,7202,7203",
      description = "Internal ports, one per public port (default: ${DEFAULT-VALUE}).")
  List<Integer> internalPorts;

  @Option(
      names = "--map-file",
      description =
          "Use this cluster map (full document, docs/cluster-map.md) instead of generating one.")
  Path mapFile;

  @Option(
      names = "--nodes",
      split = ",",
      defaultValue = "all",
      description = "IDs of the map's nodes to run in this process: 'all' (default) or 'none'.")
  List<String> nodes;

  @Option(
      names = "--listen",
      description =
          "id=PUBLIC:INTERNAL ports a node binds when they are not its map URLs' ports (a node behind a proxy).")
  Map<String, String> listen = new LinkedHashMap<>();

  @Option(
      names = "--allowed-origin",
      description = "Origins the nodes allow (CORS, WebSocket); default: the chat server's.")
  List<String> allowedOrigins = new ArrayList<>();

  @Option(
      names = "--rooms",
      split = ",",
      defaultValue = "lobby,random,help",
      description = "Chat rooms (default: ${DEFAULT-VALUE}).")
  List<String> rooms;

  @Option(
      names = "--map-refresh-ms",
      defaultValue = "2000",
      description =
          "How often the chat server and the nodes re-read --map-file, milliseconds (default: ${DEFAULT-VALUE}).")
  long mapRefreshMs;

  @Option(
      names = "--token-ttl-seconds",
      defaultValue = "600",
      description =
          "Lifetime of the tokens the chat server hands to pages (default: ${DEFAULT-VALUE}).")
  long tokenTtlSeconds;

  @Option(
      names = "--heartbeat-ms",
      defaultValue = "25000",
      description = "Nodes' heartbeat interval, milliseconds (default: ${DEFAULT-VALUE}).")
  long heartbeatMs;

  @Option(
      names = "--latest-value-channels",
      split = ",",
      description =
          "Channels (names, or prefixes ending in *) whose last message the nodes keep for new"
              + " subscribers (latestValueChannels; default: none).")
  List<String> latestValueChannels = new ArrayList<>();

  public static void main(String[] args) {
    // The node's logging: one line per event, asynchronous, Undertow and XNIO at WARN.
    HalleyLogging.configure(
        "json".equalsIgnoreCase(System.getenv("HALLEY_LOG_FORMAT"))
            ? HalleyLogging.Format.JSON
            : HalleyLogging.Format.TEXT,
        HalleyLogging.Level.INFO);
    int code = new CommandLine(new Main()).execute(args);
    if (code != 0) {
      System.exit(code);
    }
  }

  @Override
  public Integer call() throws Exception {
    String apiKey = env("HALLEY_API_KEY", DEV_API_KEY);
    String secret = env("HALLEY_TOKEN_SECRET", DEV_TOKEN_SECRET);
    ClusterMap map = mapFile != null ? ClusterMap.load(mapFile) : generatedMap();
    List<AutoCloseable> running = new ArrayList<>();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> closeAll(running), "halley-shutdown"));

    ChatServer chat = null;
    if (!noChat) {
      Publisher publisher =
          Publisher.builder()
              .mapSource(mapFile != null ? MapSource.file(mapFile) : MapSource.of(() -> map))
              .apiKey(apiKey)
              .mapRefreshInterval(Duration.ofMillis(mapRefreshMs))
              .build();
      running.add(publisher);
      chat =
          ChatServer.start(
              host,
              chatPort,
              publisher,
              TokenMinter.hs256(secret),
              Duration.ofSeconds(tokenTtlSeconds),
              rooms,
              // derived from the token secret, so a login survives a restart of this process
              SessionCookie.deriveKey(secret, "halley-chat-session"));
      running.add(chat);
    }
    List<String> origins = new ArrayList<>(allowedOrigins);
    if (origins.isEmpty() && chat != null) {
      origins.add("http://" + host + ":" + chat.port());
      origins.add("http://localhost:" + chat.port());
    }
    List<HalleyNode> started = new ArrayList<>();
    for (NodeInfo info : nodesToRun(map)) {
      int[] ports = ports(info);
      NodeConfig config =
          NodeConfig.builder()
              .nodeId(info.id())
              .map(map)
              .publicHost(host)
              .publicPort(ports[0])
              .internalHost(host)
              .internalPort(ports[1])
              .apiKeys(List.of(apiKey))
              .tokenHmacSecret(secret)
              .allowedOrigins(origins)
              .heartbeatMs(heartbeatMs)
              .latestValueChannels(latestValueChannels)
              .build();
      HalleyNode node = HalleyNode.start(config);
      running.add(node);
      started.add(node);
      System.out.printf(
          "node %s  public http://%s:%d  internal http://%s:%d%n",
          info.id(), host, node.publicPort(), host, node.internalPort());
    }
    if (mapFile != null && !started.isEmpty()) {
      running.add(new MapFileWatcher(mapFile, map, started, Duration.ofMillis(mapRefreshMs)));
    }
    System.out.println("map " + map.publicViewJson());
    if (chat != null) {
      System.out.println(
          "chat server http://" + host + ":" + chat.port() + "/ (rooms " + rooms + ")");
      System.out.println("open http://" + host + ":" + chat.port() + "/");
    }
    if (!started.isEmpty()) {
      System.out.print(nextSteps(map, mapFile != null ? mapFile : writeMap(map), apiKey));
    }
    System.out.println("ready; Ctrl-C stops");
    System.out.flush();
    new CountDownLatch(1).await(); // until Ctrl-C or SIGTERM runs the shutdown hook
    return 0;
  }

  /** Writes the generated map where {@code ./halley route --map} can read it; gone at exit. */
  private static Path writeMap(ClusterMap map) throws IOException {
    Path file = Files.createTempFile("halley-run-cluster-", ".json");
    file.toFile().deleteOnExit();
    Files.writeString(file, map.toJson() + "\n");
    return file;
  }

  /**
   * What to try next, printed after start: the API key, a curl that publishes to a user (at the
   * user's owner node) and one that publishes to a room (a channel lives on every node), and the
   * owner function on this map.
   */
  static String nextSteps(ClusterMap map, Path mapFile, String apiKey) {
    String user = ChatServer.suggestedNames(map).values().stream().findFirst().orElse("alice");
    String owner = map.owner(user).internalUrl().toString();
    String auth = "-H 'Authorization: Bearer " + apiKey + "' -H 'Content-Type: application/json'";
    StringBuilder ports = new StringBuilder();
    for (NodeInfo node : map.nodes()) {
      ports.append(ports.length() == 0 ? "" : " ").append(node.internalUrl());
    }
    boolean devKey = apiKey.equals(DEV_API_KEY);
    return String.join(
        "\n",
        "",
        "next steps:",
        "  API key: "
            + apiKey
            + (devKey ? " (the development default; set HALLEY_API_KEY to change it)" : ""),
        "  publish to " + user + " (log in as " + user + " first; its owner is " + owner + "):",
        "    curl -s "
            + auth
            + " -d '{\"messages\":[{\"users\":[\""
            + user
            + "\"],\"data\":{\"text\":\"hello "
            + user
            + "\"}}]}' "
            + owner
            + "/v1/publish",
        "  publish to room lobby (every node holds the channel's subscribers):",
        "    for node in "
            + ports
            + "; do curl -s "
            + auth
            + " -d '{\"messages\":[{\"channel\":\"room:lobby\",\"data\":{\"text\":\"hello lobby\"}}]}' "
            + "$node/v1/publish; echo; done",
        "  owners: ./halley route --map " + mapFile + " alice bob " + user,
        "",
        "");
  }

  private ClusterMap generatedMap() {
    if (publicPorts.size() != internalPorts.size()
        || publicPorts.isEmpty()
        || publicPorts.size() > 26) {
      throw new CommandLine.ParameterException(
          new CommandLine(this),
          "--public-ports and --internal-ports must have the same 1 to 26 ports");
    }
    List<NodeInfo> list = new ArrayList<>();
    for (int i = 0; i < publicPorts.size(); i++) {
      list.add(
          new NodeInfo(
              String.valueOf((char) ('a' + i)),
              URI.create("http://" + host + ":" + publicPorts.get(i)),
              URI.create("http://" + host + ":" + internalPorts.get(i))));
    }
    return ClusterMap.of(1, list);
  }

  private List<NodeInfo> nodesToRun(ClusterMap map) {
    if (nodes.equals(List.of("all"))) {
      return map.nodes();
    }
    if (nodes.equals(List.of("none"))) {
      return List.of();
    }
    List<NodeInfo> list = new ArrayList<>();
    for (String id : nodes) {
      java.util.Optional<NodeInfo> inMap = map.node(id);
      if (inMap.isEmpty() && listen.containsKey(id)) {
        // A node joining by a live reshard starts on the active map, which does not list it yet
        // (it owns nobody until the pending map that lists it is activated): its ports are given.
        int[] p =
            ports(new NodeInfo(id, URI.create("http://" + host), URI.create("http://" + host), 1));
        list.add(
            new NodeInfo(
                id,
                URI.create("http://" + host + ":" + p[0]),
                URI.create("http://" + host + ":" + p[1]),
                1));
        continue;
      }
      list.add(
          inMap.orElseThrow(
              () ->
                  new CommandLine.ParameterException(
                      new CommandLine(this), "--nodes: no node " + id + " in the map")));
    }
    return list;
  }

  private int[] ports(NodeInfo info) {
    String spec = listen.get(info.id());
    if (spec == null) {
      return new int[] {info.publicUrl().getPort(), info.internalUrl().getPort()};
    }
    String[] parts = spec.split(":");
    if (parts.length != 2) {
      throw new CommandLine.ParameterException(
          new CommandLine(this), "--listen must be id=PUBLIC:INTERNAL: " + spec);
    }
    return new int[] {Integer.parseInt(parts[0]), Integer.parseInt(parts[1])};
  }

  private static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isBlank() ? fallback : value;
  }

  private static void closeAll(List<AutoCloseable> running) {
    for (int i = running.size() - 1; i >= 0; i--) {
      try {
        running.get(i).close();
      } catch (Exception e) {
        System.err.println("closing " + running.get(i) + ": " + e);
      }
    }
    System.out.println("stopped");
    System.out.flush();
    HalleyLogging.flush();
  }
}
