package dev.halley.router;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.halley.cluster.ClusterMap;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real HTTP server that answers publishes the way the resharding contract (docs/protocol.md,
 * /work/notes/reshard-contract.md) says a node with an active and a pending map does, for
 * router-lib's dual-mode tests while real nodes do not implement it: it accepts users it owns under
 * the active map (reporting {@code positions} for the moving ones), accepts users it gains under
 * the pending map (keeping each message's {@code relay}), and answers the others {@code
 * misdirected}; after {@link #activate()} the pending map is its active map. It records every
 * request's headers and every stored event, per user, in arrival order.
 */
final class ContractNode implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One stored event of a user's stream: its key, its position here, the relay it came with. */
  record Event(String key, String position, boolean relayed, String relay, long receivedNanos) {}

  /** One request's headers and path. */
  record Seen(String method, String path, String publisher, String versions, long atNanos) {}

  final String id;
  private final HttpServer server;
  private final AtomicLong seq = new AtomicLong();
  private final Map<String, List<Event>> streams = new HashMap<>(); // guarded by this
  private final Map<String, Set<String>> channelMembers = new HashMap<>(); // guarded by this
  final List<Seen> seen = new CopyOnWriteArrayList<>();

  /** Keys of the channel messages that came with {@code "relayIncomplete": true}. */
  final Set<String> incomplete = java.util.concurrent.ConcurrentHashMap.newKeySet();

  private volatile ClusterMap active;
  private volatile ClusterMap pending;
  private volatile boolean refuse; // answer 503 to publishes
  // While set, a publish is answered only once it opens (the server has one thread: so are the
  // requests behind it); the publish is stored when it is answered.
  private volatile java.util.concurrent.CountDownLatch gate;
  final java.util.concurrent.atomic.AtomicInteger gated =
      new java.util.concurrent.atomic.AtomicInteger();

  ContractNode(String id) throws IOException {
    this.id = id;
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.start();
  }

  URI url() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
  }

  void maps(ClusterMap active, ClusterMap pending) {
    this.active = active;
    this.pending = pending;
  }

  void activate() {
    if (pending != null) {
      active = pending;
      pending = null;
    }
  }

  void withdrawPending() {
    pending = null;
  }

  void refuse(boolean refuse) {
    this.refuse = refuse;
  }

  /** Publishes wait for {@code gate} to open before they are stored and answered. */
  void gate(java.util.concurrent.CountDownLatch gate) {
    this.gate = gate;
  }

  /** {@code user} receives channel {@code channel} here (a subscription or a token grant). */
  synchronized void member(String channel, String user) {
    channelMembers.computeIfAbsent(channel, k -> new HashSet<>()).add(user);
  }

  synchronized List<Event> stream(String user) {
    return List.copyOf(streams.getOrDefault(user, List.of()));
  }

  /** Appends, unless the user's stream holds the key (a retry: idempotent per key and user). */
  private synchronized String append(String user, String key, boolean relayed, String relay) {
    List<Event> stream = streams.computeIfAbsent(user, k -> new ArrayList<>());
    for (Event e : stream) {
      if (e.key().equals(key)) {
        repeats.incrementAndGet();
        return e.position();
      }
    }
    String position = id + ":" + seq.incrementAndGet();
    stream.add(new Event(key, position, relayed, relay, System.nanoTime()));
    return position;
  }

  /** Appends answered from an earlier attempt's event (retries the node saw). */
  final AtomicLong repeats = new AtomicLong();

  private void handle(HttpExchange exchange) throws IOException {
    String path = exchange.getRequestURI().getPath();
    String method = exchange.getRequestMethod();
    seen.add(
        new Seen(
            method,
            path,
            exchange.getRequestHeaders().getFirst("Halley-Publisher"),
            exchange.getRequestHeaders().getFirst("Halley-Map-Versions"),
            System.nanoTime()));
    try {
      if (path.equals("/v1/publish") && method.equals("POST")) {
        java.util.concurrent.CountDownLatch g = gate;
        if (g != null) {
          gated.incrementAndGet();
          try {
            if (!g.await(30, java.util.concurrent.TimeUnit.SECONDS)) {
              throw new IllegalStateException("the gate stayed shut");
            }
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
          }
        }
        if (refuse) {
          reply(exchange, 503, "{\"error\":\"overloaded\",\"message\":\"test\"}");
          return;
        }
        reply(exchange, 200, publish(JSON.readTree(exchange.getRequestBody())).toString());
      } else if (path.equals("/v1/admin/map/pending") && method.equals("GET")) {
        ClusterMap p = pending;
        if (p == null) {
          reply(exchange, 404, "{\"error\":\"no_pending_map\",\"message\":\"none\"}");
        } else {
          reply(exchange, 200, p.toJson());
        }
      } else if (path.startsWith("/v1/users/") && path.contains("/channels/")) {
        String channel = path.substring(path.indexOf("/channels/") + "/channels/".length());
        reply(exchange, 200, "{\"channels\":[" + JSON.writeValueAsString(channel) + "]}");
      } else {
        reply(exchange, 404, "{\"error\":\"not_found\",\"message\":\"" + path + "\"}");
      }
    } catch (RuntimeException e) {
      reply(exchange, 500, "{\"error\":\"internal\",\"message\":\"" + e + "\"}");
    }
  }

  private ObjectNode publish(JsonNode body) {
    ClusterMap a = active;
    ClusterMap p = pending;
    ObjectNode out = JSON.createObjectNode();
    out.put("node", id);
    out.put("mapVersion", a.version());
    if (p != null) {
      out.put("pendingMapVersion", p.version());
    }
    ArrayNode results = out.putArray("results");
    for (JsonNode m : body.get("messages")) {
      String key = m.get("id").asText();
      JsonNode relay = m.path("relay");
      ObjectNode r = results.addObject();
      r.put("id", key);
      r.put("status", "accepted");
      ObjectNode positions = JSON.createObjectNode();
      if (m.has("users")) {
        ArrayNode buffered = r.putArray("buffered");
        ArrayNode misdirected = JSON.createArrayNode();
        for (JsonNode u : m.get("users")) {
          String user = u.asText();
          boolean ownsNow = a.owner(user).id().equals(id);
          boolean gains = p != null && p.owner(user).id().equals(id);
          if (ownsNow) {
            String pos = append(user, key, relay.has(user), text(relay.get(user)));
            buffered.add(user);
            if (p != null && !gains) {
              positions.put(user, pos);
            }
          } else if (gains) {
            append(user, key, relay.has(user), text(relay.get(user)));
            buffered.add(user);
          } else {
            misdirected.add(user);
          }
        }
        r.putArray("delivered");
        r.set("misdirected", misdirected);
      } else {
        String channel = m.get("channel").asText();
        if (m.path("relayIncomplete").asBoolean(false)) {
          incomplete.add(key);
        }
        Set<String> members;
        synchronized (this) {
          members = new HashSet<>(channelMembers.getOrDefault(channel, Set.of()));
        }
        int users = 0;
        for (String user : members) {
          boolean ownsNow = a.owner(user).id().equals(id);
          boolean gains = p != null && p.owner(user).id().equals(id);
          if (ownsNow) {
            String pos = append(user, key, false, null);
            users++;
            if (p != null && !gains) {
              positions.put(user, pos);
            }
          }
        }
        for (var it = relay.fields(); it.hasNext(); ) {
          var e = it.next();
          if (p != null && p.owner(e.getKey()).id().equals(id)) {
            append(e.getKey(), key, true, text(e.getValue()));
            users++;
          }
        }
        r.put("users", users);
        r.put("connections", 0);
      }
      if (!positions.isEmpty()) {
        r.set("positions", positions);
      }
    }
    return out;
  }

  private static String text(JsonNode n) {
    return n == null || n.isNull() ? null : n.asText();
  }

  private static void reply(HttpExchange exchange, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().add("Content-Type", "application/json");
    exchange.sendResponseHeaders(status, bytes.length);
    exchange.getResponseBody().write(bytes);
    exchange.close();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
