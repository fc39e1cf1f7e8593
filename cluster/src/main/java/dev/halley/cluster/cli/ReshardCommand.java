package dev.halley.cluster.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.ClusterMapException;
import dev.halley.cluster.MapChange;
import dev.halley.cluster.NodeInfo;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code halley reshard}: drives a lossless map change through a fleet of nodes
 * (docs/operations.md, "Resharding without resets"), printing each step and stopping at the first
 * that does not complete.
 *
 * <p>Example: {@code ./halley reshard --map cluster-v4.json --node http://10.0.0.1:9090 --node
 * http://10.0.0.4:9090 --api-key-file /etc/halley/api-key}
 *
 * <p>It talks only to the nodes' internal listeners (the admin endpoints of docs/protocol.md) with
 * {@link HttpClient}; the publishers are reached through what the nodes report of them.
 */
@Command(
    name = "reshard",
    mixinStandardHelpOptions = true,
    versionProvider = HalleyCli.Version.class,
    description = {
      "Change the cluster map without resets: install the new map as pending on every node, wait"
          + " until every publisher publishes with both maps, activate it (gainers first, then"
          + " unchanged nodes, then losers), wait until moved users' finishing streams drained"
          + " and publishers use the new map alone. Each step is printed; a step that does not"
          + " complete within --step-timeout stops the command (exit 1) naming the node, and"
          + " before activation the pending map is withdrawn from every node (rollback).",
      "Nodes: every --node URL (internal listener) plus the internalUrl of every node of the new"
          + " map; give the nodes the new map drops with --node.",
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:the new map is active on every node and every publisher uses it",
      "1:a step did not complete (the output says which node and what was rolled back)",
      "2:bad usage"
    },
    exitCodeOnInvalidInput = 2,
    exitCodeOnExecutionException = 1)
final class ReshardCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Spec CommandSpec spec;

  @Option(names = "--map", paramLabel = "FILE", description = "The new cluster map (required).")
  Path map;

  @Option(
      names = "--active-map",
      paramLabel = "FILE",
      description =
          "The map the nodes serve now (for the activation order and the users-moving estimate);"
              + " default: GET /v1/map from a node's public URL in the new map.")
  Path activeMap;

  @Option(
      names = "--node",
      paramLabel = "URL",
      description = "A node's internal base URL (repeatable).")
  List<URI> nodes = new ArrayList<>();

  @Option(
      names = "--api-key-file",
      paramLabel = "FILE",
      description = "A file holding one of the nodes' API keys (required).")
  Path apiKeyFile;

  @Option(
      names = "--publishers",
      paramLabel = "N",
      defaultValue = "0",
      description =
          "Wait until at least N distinct publishers are seen across the fleet (default:"
              + " ${DEFAULT-VALUE}: whatever publishers the nodes have seen).")
  int publishers;

  @Option(
      names = "--step-timeout",
      paramLabel = "DURATION",
      defaultValue = "60s",
      converter = DurationConverter.class,
      description = "Longest time one step may take, e.g. 90s, 2m (default: ${DEFAULT-VALUE}).")
  Duration stepTimeout;

  @Option(
      names = "--grace",
      paramLabel = "DURATION",
      defaultValue = "60s",
      converter = DurationConverter.class,
      description =
          "Wait this long after activation before checking that publishers left dual mode; match"
              + " the publishers' dualGrace (default: ${DEFAULT-VALUE}).")
  Duration grace;

  @Option(
      names = "--retention",
      paramLabel = "DURATION",
      defaultValue = "60s",
      converter = DurationConverter.class,
      description =
          "The nodes' handoffRetentionMs: step 5 waits up to this plus --step-timeout for the"
              + " finishing streams (default: ${DEFAULT-VALUE}).")
  Duration retention;

  @Option(
      names = "--request-timeout",
      paramLabel = "DURATION",
      defaultValue = "10s",
      converter = DurationConverter.class,
      description =
          "How long one request to a node may take; a request without an answer in that time (or"
              + " answered 503) is asked again until its step's --step-timeout (default:"
              + " ${DEFAULT-VALUE}).")
  Duration requestTimeout;

  @Option(
      names = "--poll",
      paramLabel = "DURATION",
      defaultValue = "500ms",
      converter = DurationConverter.class,
      description = "How often a waiting step asks the nodes (default: ${DEFAULT-VALUE}).")
  Duration poll;

  private PrintWriter out;
  private HttpClient http;
  private String authorization;
  private int active; // the version every node serves, read in step 1

  /** One node: its ID (as its state reports it) and internal URL. */
  private record Node(String id, URI url) {}

  /** A step that did not complete: which node, and why. */
  static final class StepFailed extends Exception {
    final String node;

    StepFailed(String node, String message) {
      super(message);
      this.node = node;
    }
  }

  /**
   * A request that got no answer within --request-timeout (a stalled or overloaded node, a lost
   * connection) or a 503: the node did not say no, so a waiting step counts it as "not yet" and an
   * idempotent request is sent again, until the step's deadline.
   */
  static final class NoAnswer extends Exception {
    NoAnswer(String message) {
      super(message);
    }
  }

  @Override
  public Integer call() throws Exception {
    out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (map == null) {
      throw new ParameterException(spec.commandLine(), "Missing required option: '--map=FILE'");
    }
    if (apiKeyFile == null) {
      throw new ParameterException(
          spec.commandLine(), "Missing required option: '--api-key-file=FILE'");
    }
    if (publishers < 0) {
      throw new ParameterException(spec.commandLine(), "--publishers must be >= 0: " + publishers);
    }
    ClusterMap next;
    String apiKey;
    try {
      next = RouteCommand.load(map);
      apiKey = Files.readString(apiKeyFile, StandardCharsets.UTF_8).trim();
    } catch (ClusterMapException e) {
      err.println("invalid map: " + e.getMessage());
      return 1;
    } catch (java.nio.file.NoSuchFileException e) {
      err.println("cannot read " + e.getFile() + ": no such file");
      return 1;
    } catch (IOException e) {
      err.println("cannot read " + e.getMessage());
      return 1;
    }
    if (apiKey.isEmpty()) {
      err.println("the API key file " + apiKeyFile + " is empty");
      return 1;
    }
    authorization = "Bearer " + apiKey;
    http = HttpClient.newBuilder().connectTimeout(requestTimeout()).build();
    List<URI> urls = new ArrayList<>(nodes);
    for (NodeInfo n : next.nodes()) {
      if (!urls.contains(n.internalUrl())) {
        urls.add(n.internalUrl());
      }
    }
    boolean installed = false;
    boolean activating = false;
    List<Node> fleet = List.of();
    try {
      // 1. check
      step(1, "check every node");
      fleet = check(urls, next);
      int active = this.active;
      ClusterMap current = currentMap(next, active);
      MapChange change = MapChange.of(current, next);
      estimate(current, next);
      Map<String, Node> byId = new LinkedHashMap<>();
      fleet.forEach(n -> byId.put(n.id, n));
      List<Node> order = new ArrayList<>();
      for (NodeInfo info : change.activationOrder()) {
        Node n = byId.remove(info.id());
        if (n != null) {
          order.add(n);
        }
      }
      order.addAll(byId.values());
      // 2. install, in the activation order: every new owner holds the pending map before an old
      // owner reports a position, else a publisher's relay of it to a new owner without the
      // pending map is refused (misdirected) and that user's handoff ends in a reset.
      step(2, "install map " + next.version() + " as pending on every node");
      installed = true;
      long installDeadline = deadline(stepTimeout);
      for (Node n : order) {
        // Idempotent: the same pending document again answers 200.
        JsonNode r = ask(n, "POST", "/v1/admin/map/pending", next.toJson(), installDeadline);
        out.printf("  %s: active %s, pending %s%n", n.id, r.path("active"), r.path("pending"));
      }
      waitFor(
          fleet,
          (n, state) ->
              state.path("pending").asInt(-1) == next.version()
                  ? null
                  : "reports pending " + state.path("pending"),
          "every node reports pending " + next.version(),
          installDeadline);
      // 3. publishers
      step(
          3, "wait until every publisher publishes with maps " + active + " and " + next.version());
      waitForPublishers(fleet, List.of(active, next.version()), 0);
      // 4. activate
      step(4, "activate map " + next.version() + " (gainers, then unchanged nodes, then losers)");
      activating = true;
      int activated = 0;
      for (Node n : order) {
        ObjectNode body = JSON.createObjectNode().put("version", next.version());
        long activateDeadline = deadline(stepTimeout);
        // Idempotent: activating the version already active answers 200.
        ask(n, "POST", "/v1/admin/map/activate", body.toString(), activateDeadline);
        waitFor(
            List.of(n),
            (m, state) ->
                state.path("active").asInt(-1) == next.version()
                    ? null
                    : "reports active " + state.path("active"),
            n.id + " reports active " + next.version(),
            activateDeadline);
        activated++;
        String phase =
            change.nodes().stream().anyMatch(i -> i.id().equals(n.id))
                ? change.phase(n.id).name().toLowerCase(java.util.Locale.ROOT)
                : "not in either map";
        out.printf("  %s (%s): active %d%n", n.id, phase, next.version());
      }
      // 5. finishing streams
      step(5, "wait until moved users' finishing streams drained");
      waitFor(
          fleet,
          (n, state) -> {
            int finishing = state.path("handoffs").path("finishing").asInt(0);
            return finishing == 0 ? null : finishing + " finishing streams";
          },
          "no node holds finishing streams",
          deadline(retention.plus(stepTimeout)));
      // 6. publishers leave dual mode
      step(6, "wait " + format(grace) + ", then until every publisher uses map " + next.version());
      Thread.sleep(grace.toMillis());
      waitForPublishers(
          fleet, List.of(next.version()), System.currentTimeMillis() - grace.toMillis());
      summary(fleet, current, next);
      out.flush();
      return 0;
    } catch (StepFailed e) {
      out.flush();
      err.println("FAILED" + (e.node != null ? " at node " + e.node : "") + ": " + e.getMessage());
      if (installed && !activating) {
        rollback(fleet.isEmpty() ? List.of() : fleet, err);
      } else if (activating) {
        err.println(
            "not rolled back: some nodes may have activated the new map already. Finish with"
                + " POST /v1/admin/map/activate {\"version\": "
                + next.version()
                + "} on the nodes that did not, or run this command again.");
      }
      err.flush();
      return 1;
    }
  }

  private Duration requestTimeout() {
    Duration d = stepTimeout.compareTo(requestTimeout) < 0 ? stepTimeout : requestTimeout;
    return d.isZero() ? Duration.ofMillis(1) : d;
  }

  /** System.nanoTime() at which {@code d} from now has passed. */
  private static long deadline(Duration d) {
    return System.nanoTime() + d.toNanos();
  }

  private void step(int n, String what) {
    out.printf("step %d/6: %s%n", n, what);
    out.flush();
  }

  /**
   * Step 1: every node answers its state, serves one active version, and the new nodes are ready.
   */
  private List<Node> check(List<URI> urls, ClusterMap next)
      throws StepFailed, InterruptedException {
    List<Node> fleet = new ArrayList<>();
    Integer active = null;
    long deadline = deadline(stepTimeout);
    for (URI url : urls) {
      JsonNode state =
          ask(new Node(url.toString(), url), "GET", "/v1/admin/map/state", null, deadline);
      String id = state.path("node").asText(url.toString());
      Node n = new Node(id, url);
      int a = state.path("active").asInt(-1);
      if (active == null) {
        active = a;
      } else if (a != active) {
        throw new StepFailed(id, "serves map " + a + ", another node serves " + active);
      }
      JsonNode pending = state.get("pending");
      if (pending != null && !pending.isNull() && pending.asInt() != next.version()) {
        throw new StepFailed(
            id, "holds another pending map (version " + pending.asInt() + "); withdraw it first");
      }
      fleet.add(n);
      out.printf(
          "  %s: active %d%s%n",
          id, a, pending != null && !pending.isNull() ? ", pending " + pending.asInt() : "");
    }
    if (active == null) {
      throw new StepFailed(null, "no node given (--node) and none in the new map");
    }
    if (next.version() <= active) {
      throw new StepFailed(
          null, "the new map's version " + next.version() + " is not above the active " + active);
    }
    Set<String> ids = new TreeSet<>();
    fleet.forEach(n -> ids.add(n.id));
    for (NodeInfo info : next.nodes()) {
      Node n = fleet.stream().filter(f -> f.id.equals(info.id())).findFirst().orElse(null);
      if (n == null) {
        throw new StepFailed(
            info.id(), "is in the new map but no node reported that ID (nodes: " + ids + ")");
      }
      ask(n, "GET", "/readyz", null, deadline); // 503 while not ready: asked again
    }
    out.printf("  %d nodes, map %d active, new nodes ready%n", fleet.size(), active);
    this.active = active;
    return fleet;
  }

  /** The active map: --active-map, or the public view from a node of the new map. */
  private ClusterMap currentMap(ClusterMap next, int active) throws StepFailed {
    if (activeMap != null) {
      try {
        ClusterMap m = RouteCommand.load(activeMap);
        if (m.version() != active) {
          throw new StepFailed(
              null, "--active-map has version " + m.version() + ", the nodes serve " + active);
        }
        return m;
      } catch (IOException | ClusterMapException e) {
        throw new StepFailed(null, "cannot read --active-map: " + e.getMessage());
      }
    }
    String why = "no node of the new map";
    for (NodeInfo n : next.nodes()) {
      try {
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(resolve(n.publicUrl(), "/v1/map"))
                    .timeout(requestTimeout())
                    .GET()
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) {
          Path tmp = Files.createTempFile("halley-active-map", ".json");
          try {
            Files.writeString(tmp, r.body());
            ClusterMap m = RouteCommand.load(tmp);
            if (m.version() == active) {
              return m;
            }
            why = n.id() + " serves map " + m.version() + " at " + n.publicUrl();
          } finally {
            Files.deleteIfExists(tmp);
          }
        } else {
          why = n.id() + ": HTTP " + r.statusCode() + " from " + n.publicUrl() + "/v1/map";
        }
      } catch (IOException | RuntimeException e) {
        why = n.id() + ": " + e.getMessage();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new StepFailed(n.id(), "interrupted");
      }
    }
    throw new StepFailed(
        null, "cannot read the active map (" + why + "); give it with --active-map FILE");
  }

  private void estimate(ClusterMap current, ClusterMap next) {
    int sample = 100_000;
    SplittableRandom random = new SplittableRandom(1);
    Map<String, Integer> moves = new TreeMap<>();
    int moved = 0;
    for (int i = 0; i < sample; i++) {
      String user = "user-" + Long.toHexString(random.nextLong());
      String from = current.owner(user).id();
      String to = next.owner(user).id();
      if (!from.equals(to)) {
        moved++;
        moves.merge(from + " -> " + to, 1, Integer::sum);
      }
    }
    out.printf(
        "  users moving: about %.2f%% (%d of %d sampled)%n", 100.0 * moved / sample, moved, sample);
    moves.forEach((pair, count) -> out.printf("    %s: %d%n", pair, count));
  }

  /** Why a node does not (yet) pass a wait, or null when it does. */
  private interface Check {
    String problem(Node node, JsonNode state);
  }

  /**
   * Polls the state of every node until {@code check} passes on all of them. A poll without an
   * answer counts as "not yet" for that node, asked again at the next round; at {@code deadline}
   * the step fails with the last problem.
   */
  private void waitFor(List<Node> fleet, Check check, String what, long deadline)
      throws StepFailed, InterruptedException {
    long started = System.nanoTime();
    Set<String> reported = new TreeSet<>();
    while (true) {
      String failedNode = null;
      String problem = null;
      for (Node n : fleet) {
        String p;
        try {
          p = check.problem(n, state(n));
        } catch (NoAnswer e) {
          p = e.getMessage();
        }
        if (p != null) {
          failedNode = n.id;
          problem = p;
          break;
        }
      }
      if (problem == null) {
        return;
      }
      report(reported, failedNode, problem);
      if (System.nanoTime() - deadline >= 0) {
        throw new StepFailed(
            failedNode, problem + " (waited " + elapsed(started) + " for: " + what + ")");
      }
      Thread.sleep(poll.toMillis());
    }
  }

  /** Prints a waiting step's problem once (each distinct problem once per wait). */
  private void report(Set<String> reported, String node, String problem) {
    String line = (node != null ? node + ": " : "") + problem;
    if (reported.add(line)) {
      out.printf("  waiting: %s%n", line);
      out.flush();
    }
  }

  /**
   * Waits until every publisher each node lists declares exactly {@code versions} (only those seen
   * at or after {@code seenSinceMs}, when it is above 0), and, with --publishers, until at least
   * that many distinct publishers are listed across the fleet.
   */
  private void waitForPublishers(List<Node> fleet, List<Integer> versions, long seenSinceMs)
      throws StepFailed, InterruptedException {
    long deadline = deadline(stepTimeout);
    Set<String> reported = new TreeSet<>();
    while (true) {
      Set<String> seen = new TreeSet<>();
      String failedNode = null;
      String problem = null;
      for (Node n : fleet) {
        JsonNode state;
        try {
          state = state(n);
        } catch (NoAnswer e) {
          if (problem == null) {
            failedNode = n.id;
            problem = e.getMessage();
          }
          continue; // asked again next round
        }
        for (JsonNode p : state.path("publishers")) {
          String id = p.path("id").asText();
          if (seenSinceMs > 0 && p.path("lastSeenMs").asLong(0) < seenSinceMs) {
            continue; // silent since the activation: it publishes nothing to wait for
          }
          seen.add(id);
          List<Integer> declared = new ArrayList<>();
          p.path("versions").forEach(v -> declared.add(v.asInt()));
          if (!declared.equals(versions) && problem == null) {
            failedNode = n.id;
            problem = "publisher " + id + " publishes with maps " + declared;
          }
        }
      }
      if (problem == null && seen.size() < publishers) {
        problem = seen.size() + " publishers seen, --publishers " + publishers + " expected";
      }
      if (problem == null) {
        out.printf("  %d publishers with maps %s: %s%n", seen.size(), versions, seen);
        return;
      }
      report(reported, failedNode, problem);
      if (System.nanoTime() - deadline >= 0) {
        throw new StepFailed(failedNode, problem + " after " + format(stepTimeout));
      }
      Thread.sleep(poll.toMillis());
    }
  }

  private void summary(List<Node> fleet, ClusterMap current, ClusterMap next)
      throws StepFailed, InterruptedException {
    long served = 0;
    long reset = 0;
    List<String> silent = new ArrayList<>();
    for (Node n : fleet) {
      JsonNode h;
      try {
        h = state(n).path("handoffs");
      } catch (NoAnswer e) {
        silent.add(n.id); // the change is complete; only its figures are missing
        continue;
      }
      served += h.path("served").asLong(0);
      reset += h.path("reset").asLong(0);
    }
    out.printf(
        "done: map %d -> %d on %d nodes; handoffs served %d, reset %d%s%n",
        current.version(),
        next.version(),
        fleet.size(),
        served,
        reset,
        silent.isEmpty() ? "" : " (without " + String.join(", ", silent) + ": no answer)");
  }

  private void rollback(List<Node> fleet, PrintWriter err) {
    err.println("rolling back: DELETE /v1/admin/map/pending on every node");
    long deadline = deadline(stepTimeout); // one attempt per node at least, retries until then
    for (Node n : fleet) {
      try {
        ask(n, "DELETE", "/v1/admin/map/pending", null, deadline); // idempotent
        err.println("  " + n.id + ": pending map withdrawn");
      } catch (StepFailed e) {
        err.println("  " + n.id + ": NOT withdrawn (" + e.getMessage() + "); do it by hand");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        err.println("  interrupted");
        return;
      }
    }
  }

  /** One poll of a node's state (no retry: a waiting step asks again at its next round). */
  private JsonNode state(Node n) throws StepFailed, NoAnswer, InterruptedException {
    return call(n, "GET", "/v1/admin/map/state", null);
  }

  /**
   * An idempotent request, sent again (every --poll) while it gets no answer, until {@code
   * deadline}; then the step fails at {@code n}. A definite answer other than 200 fails at once.
   */
  private JsonNode ask(Node n, String method, String path, String body, long deadline)
      throws StepFailed, InterruptedException {
    long started = System.nanoTime();
    int attempts = 0;
    while (true) {
      attempts++;
      try {
        return call(n, method, path, body);
      } catch (NoAnswer e) {
        if (System.nanoTime() - deadline >= 0) {
          throw new StepFailed(
              n.id,
              e.getMessage()
                  + " ("
                  + attempts
                  + (attempts == 1 ? " attempt in " : " attempts in ")
                  + elapsed(started)
                  + ")");
        }
        out.printf("  %s: %s; asking again%n", n.id, e.getMessage());
        out.flush();
        long left = deadline - System.nanoTime();
        Thread.sleep(Math.max(0, Math.min(poll.toMillis(), TimeUnit.NANOSECONDS.toMillis(left))));
      }
    }
  }

  /**
   * One request with --request-timeout to answer (so a step may end up to one request timeout after
   * its deadline: a last poll is never cut short into a certain "no answer"): 200 is its JSON; no
   * answer or 503 is {@link NoAnswer}; any other answer is a failed step at {@code n}.
   */
  private JsonNode call(Node n, String method, String path, String body)
      throws StepFailed, NoAnswer, InterruptedException {
    Duration timeout = requestTimeout();
    HttpRequest.Builder request =
        HttpRequest.newBuilder(resolve(n.url, path))
            .timeout(timeout)
            .header("Authorization", authorization)
            .method(
                method,
                body == null
                    ? HttpRequest.BodyPublishers.noBody()
                    : HttpRequest.BodyPublishers.ofString(body));
    if (body != null) {
      request.header("Content-Type", "application/json");
    }
    HttpResponse<String> response;
    try {
      response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new NoAnswer(method + " " + path + ": no answer (" + e + ")");
    }
    JsonNode json;
    try {
      json = response.body().isEmpty() ? JSON.nullNode() : JSON.readTree(response.body());
    } catch (IOException e) {
      json = JSON.nullNode();
    }
    if (response.statusCode() != 200) {
      String code = json.path("error").asText("");
      String message = json.path("message").asText("");
      String what =
          method
              + " "
              + path
              + ": HTTP "
              + response.statusCode()
              + (code.isEmpty() ? "" : " " + code)
              + (message.isEmpty() ? "" : " (" + message + ")");
      if (response.statusCode() == 503) {
        throw new NoAnswer(what); // overloaded, draining or not ready yet: not a refusal
      }
      throw new StepFailed(n.id, what);
    }
    return json;
  }

  private static URI resolve(URI base, String path) {
    String b = base.toString();
    return URI.create((b.endsWith("/") ? b.substring(0, b.length() - 1) : b) + path);
  }

  /** The time since {@code startedNanos}, in whole seconds ("4s"), for messages. */
  private static String elapsed(long startedNanos) {
    return TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - startedNanos) + "s";
  }

  static String format(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms";
  }

  /** {@code 500ms}, {@code 10s}, {@code 2m}, or an ISO-8601 duration ({@code PT10S}). */
  static final class DurationConverter implements ITypeConverter<Duration> {
    private static final Pattern SIMPLE = Pattern.compile("(\\d{1,9})(ms|s|m)");

    @Override
    public Duration convert(String value) {
      Matcher m = SIMPLE.matcher(value.trim());
      Duration d;
      if (m.matches()) {
        long n = Long.parseLong(m.group(1));
        d =
            switch (m.group(2)) {
              case "ms" -> Duration.ofMillis(n);
              case "s" -> Duration.ofSeconds(n);
              default -> Duration.ofMinutes(n);
            };
      } else {
        try {
          d = Duration.parse(value.trim());
        } catch (RuntimeException e) {
          throw new IllegalArgumentException("not a duration (e.g. 500ms, 10s, 2m): " + value);
        }
      }
      if (d.isNegative()) {
        throw new IllegalArgumentException("must be >= 0: " + value);
      }
      return d;
    }
  }
}
