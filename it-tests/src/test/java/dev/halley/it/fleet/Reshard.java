package dev.halley.it.fleet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.MapChange;
import dev.halley.cluster.NodeInfo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The steps of a live reshard from map A to map P through the nodes' admin API, in the order of
 * docs/operations.md's runbook (the same steps {@code ./halley reshard} drives): install P as the
 * pending map on every node; wait until every node sees every publisher declare [A, P] (dual mode);
 * activate P on the gainers, then the unchanged nodes, then the losers; wait until the old owners'
 * finishing streams have handed their clients over; wait until the publishers declare [P] only.
 * Every step checks what each node reports and fails the test naming the node that did not get
 * there.
 */
public final class Reshard {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration STEP = Duration.ofSeconds(60);

  private final List<NodeContainer> nodes;
  private final ClusterMap from;
  private final ClusterMap to;
  private final List<String> log = new ArrayList<>();

  /** {@code nodes}: every node of both maps. */
  public Reshard(List<NodeContainer> nodes, ClusterMap from, ClusterMap to) {
    this.nodes = List.copyOf(nodes);
    this.from = from;
    this.to = to;
  }

  /** What each step did, for the record. */
  public List<String> log() {
    return List.copyOf(log);
  }

  /** A node's {@code GET /v1/admin/map/state}. */
  public static JsonNode state(NodeContainer n) {
    NodeContainer.Answer a = n.admin("GET", "/v1/admin/map/state", null);
    if (a.status() != 200) {
      throw new AssertionError(n.nodeId + ": map state answered " + a);
    }
    try {
      return JSON.readTree(a.body());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The state, or null when the node did not answer in time (a loaded node: a waiting step asks
   * again until its deadline).
   */
  private static JsonNode poll(NodeContainer n) {
    try {
      return state(n);
    } catch (AssertionError | RuntimeException e) {
      return null;
    }
  }

  /**
   * An idempotent admin POST (installing the same pending map, activating an active version): sent
   * again when the node did not answer in time; any answer but 200 fails the step.
   */
  private static void post(NodeContainer n, String path, String body) {
    NodeContainer.Answer[] last = new NodeContainer.Answer[1];
    Await.until(
        () -> {
          try {
            last[0] = n.admin("POST", path, body);
          } catch (AssertionError e) {
            return false; // no answer in time
          }
          if (last[0].status() != 200) {
            throw new AssertionError(n.nodeId + ": POST " + path + ": " + last[0]);
          }
          return true;
        },
        () -> n.nodeId + " answers POST " + path,
        STEP);
  }

  private static long field(NodeContainer n, String name) {
    JsonNode s = poll(n);
    return s == null ? Long.MIN_VALUE : s.path(name).asLong();
  }

  /** 1. Every node serves A and is ready. */
  public void check() {
    for (NodeContainer n : nodes) {
      Await.until(
          () -> field(n, "active") == from.version(),
          () -> n.nodeId + " serves map " + from.version() + ": " + poll(n),
          STEP);
      // Under the test's traffic a node may answer seconds late (ReshardIT at load 44: no answer
      // within 1 s for a minute, while it answered the state polls): a late answer counts.
      Await.until(
          () -> n.status("/readyz", Duration.ofSeconds(10)) == 200, n.nodeId + " ready", STEP);
    }
    log.add("check: every node on map " + from.version());
  }

  /**
   * 2. P pending on every node, in the activation order (gainers, unchanged nodes, losers): every
   * new owner holds P before any old owner reports a position. The other way round, a publisher
   * that learned P from an old owner relays that position to a new owner still without P, which
   * answers {@code misdirected}: the relay is lost and the user's handoff ends in {@code reset}
   * (ReshardIT: the first message after the install, on the nodes installed first).
   */
  public void installPending() {
    String body = to.toJson();
    for (NodeContainer n : inActivationOrder()) {
      post(n, "/v1/admin/map/pending", body);
    }
    for (NodeContainer n : nodes) {
      Await.until(
          () -> field(n, "pending") == to.version(),
          n.nodeId + " reports pending " + to.version(),
          STEP);
    }
    log.add("pending " + to.version() + " on " + ids(nodes));
  }

  /** 3. Every publisher each node has seen declares [A, P], and some node has seen one. */
  public void awaitPublishersDual() {
    awaitPublishers(List.of(from.version(), to.version()));
  }

  /** 6. Every publisher each node has seen declares [P] only. */
  public void awaitPublishersOnNew() {
    awaitPublishers(List.of(to.version()));
  }

  private void awaitPublishers(List<Integer> versions) {
    Await.until(
        () -> {
          int seen = 0;
          for (NodeContainer n : nodes) {
            JsonNode s = poll(n);
            if (s == null) {
              return false;
            }
            for (JsonNode p : s.path("publishers")) {
              List<Integer> declared = new ArrayList<>();
              p.path("versions").forEach(v -> declared.add(v.asInt()));
              if (!declared.equals(versions)) {
                return false;
              }
              seen++;
            }
          }
          return seen > 0;
        },
        () -> "every publisher declares " + versions + ": " + publishers(),
        STEP);
    log.add("publishers declare " + versions + ": " + publishers());
  }

  private String publishers() {
    StringBuilder b = new StringBuilder();
    for (NodeContainer n : nodes) {
      JsonNode s = poll(n);
      b.append(n.nodeId).append('=').append(s == null ? "?" : s.path("publishers")).append(' ');
    }
    return b.toString().trim();
  }

  /** 4. P active in {@link MapChange#activationOrder()}: gainers, unchanged nodes, losers. */
  public void activate() {
    List<NodeContainer> order = inActivationOrder();
    String body = "{\"version\": " + to.version() + "}";
    for (NodeContainer n : order) {
      post(n, "/v1/admin/map/activate", body);
      Await.until(
          () -> field(n, "active") == to.version(),
          n.nodeId + " reports active " + to.version(),
          STEP);
    }
    log.add("active " + to.version() + " on " + ids(order));
  }

  /** The nodes in {@link MapChange#activationOrder()}: gainers, unchanged nodes, losers. */
  private List<NodeContainer> inActivationOrder() {
    List<NodeContainer> order = new ArrayList<>();
    for (NodeInfo info : MapChange.of(from, to).activationOrder()) {
      nodes.stream().filter(n -> n.nodeId.equals(info.id())).forEach(order::add);
    }
    return order;
  }

  /** 5. No finishing stream left on any node (every moved client was handed over). */
  public void awaitFinishingDrained() {
    Await.until(
        () ->
            nodes.stream()
                .allMatch(
                    n -> {
                      JsonNode s = poll(n);
                      return s != null && s.path("handoffs").path("finishing").asLong() == 0;
                    }),
        () -> "no finishing streams: " + handoffs(),
        STEP);
    log.add("finishing streams drained: " + handoffs());
  }

  /** Each node's {@code handoffs} and {@code preStreams} figures. */
  public String handoffs() {
    StringBuilder b = new StringBuilder();
    for (NodeContainer n : nodes) {
      JsonNode s = poll(n);
      if (s == null) {
        b.append(n.nodeId).append(": no answer; ");
        continue;
      }
      b.append(n.nodeId)
          .append(": handoffs ")
          .append(s.path("handoffs"))
          .append(" preStreams ")
          .append(s.path("preStreams"))
          .append("; ");
    }
    return b.toString();
  }

  private static String ids(List<NodeContainer> ns) {
    return ns.stream().map(n -> n.nodeId).toList().toString();
  }
}
