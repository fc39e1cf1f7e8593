package dev.halley.bench.load;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What one load generator process does: which server, transport and shape, how many users, the
 * offered rate and the phases. Parsed from {@code key=value} arguments, e.g. {@code target=nchan
 * transport=sse users=15000 rate=50000}.
 *
 * <p>Shapes: {@code rooms} (the Webtide chat shape: users in rooms of {@code roomSize}, each burst
 * publishes one message to each of {@code burstRooms} random rooms) and {@code unicast} (one
 * message per user, to random users). {@code rate} is the offered rate in deliveries per second
 * over all generator processes (rooms: messages per second times {@code roomSize}).
 *
 * <p>Targets: {@code halley}, {@code nchan}, {@code cometd} (Bayeux over WebSocket or long-poll:
 * handshake, subscribe, connect) and {@code pushpin} (its GRIP origin and publish API), as started
 * from {@code ../shared/peers/}.
 *
 * <p>Several generator processes split one run with {@code slice}/{@code slices}: each takes the
 * rooms (or users) whose index modulo {@code slices} is its {@code slice}, and {@code 1/slices} of
 * the rate, so every room's subscribers and publisher live in one process and loss is counted
 * exactly.
 */
final class LoadOptions {
  String target = "halley"; // halley | nchan | cometd | pushpin
  String transport = "ws"; // ws | sse | longpoll
  String shape = "rooms"; // rooms | unicast
  String host = "127.0.0.1";
  int port = 8080; // subscribers (Halley public listener, nchan)
  int publishPort = 9080; // publishers (Halley internal listener, nchan: the same port)
  String apiKey = "bench-api-key-0123456789";
  String secret = "bench-secret-0123456789-0123456789-abcdef";
  String userPrefix = "u";
  int users = 1000;
  int roomSize = 200;
  int burstRooms = 10;
  int payloadBytes = 50;
  double rate = 10_000; // offered deliveries per second, all slices together
  double warmupSeconds = 10;
  double measureSeconds = 30;
  double drainSeconds = 5;
  double connectTimeoutSeconds = 120;
  int slice = 0;
  int slices = 1;
  long publishAtMs = 0; // epoch ms at which publishing starts (0: once connected)
  String serverPids = ""; // comma-separated; sampled from /proc by slice 0
  int publishConnections = 0; // 0: chosen per target and shape
  int maxPendingConnects = 200;
  int maxPublishQueue = 20_000; // per publisher connection; more counts as publishOverflow
  long seed = 1;

  static LoadOptions parse(String... args) {
    LoadOptions o = new LoadOptions();
    Map<String, String> kv = new LinkedHashMap<>();
    for (String a : args) {
      int eq = a.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("arguments are key=value: " + a);
      }
      kv.put(a.substring(0, eq), a.substring(eq + 1));
    }
    for (Map.Entry<String, String> e : kv.entrySet()) {
      String v = e.getValue();
      switch (e.getKey()) {
        case "target" -> o.target = oneOf(e.getKey(), v, "halley", "nchan", "cometd", "pushpin");
        case "transport" -> o.transport = oneOf(e.getKey(), v, "ws", "sse", "longpoll");
        case "shape" -> o.shape = oneOf(e.getKey(), v, "rooms", "unicast");
        case "host" -> o.host = v;
        case "port" -> o.port = Integer.parseInt(v);
        case "publishPort" -> o.publishPort = Integer.parseInt(v);
        case "apiKey" -> o.apiKey = v;
        case "secret" -> o.secret = v;
        case "userPrefix" -> o.userPrefix = v;
        case "users" -> o.users = positive(e.getKey(), Integer.parseInt(v));
        case "roomSize" -> o.roomSize = positive(e.getKey(), Integer.parseInt(v));
        case "burstRooms" -> o.burstRooms = positive(e.getKey(), Integer.parseInt(v));
        case "payloadBytes" -> o.payloadBytes = Integer.parseInt(v);
        case "rate" -> o.rate = Double.parseDouble(v);
        case "warmup" -> o.warmupSeconds = Double.parseDouble(v);
        case "measure" -> o.measureSeconds = Double.parseDouble(v);
        case "drain" -> o.drainSeconds = Double.parseDouble(v);
        case "connectTimeout" -> o.connectTimeoutSeconds = Double.parseDouble(v);
        case "slice" -> o.slice = Integer.parseInt(v);
        case "slices" -> o.slices = positive(e.getKey(), Integer.parseInt(v));
        case "publishAtMs" -> o.publishAtMs = Long.parseLong(v);
        case "serverPids" -> o.serverPids = v;
        case "publishConnections" -> o.publishConnections = Integer.parseInt(v);
        case "maxPendingConnects" ->
            o.maxPendingConnects = positive(e.getKey(), Integer.parseInt(v));
        case "maxPublishQueue" -> o.maxPublishQueue = positive(e.getKey(), Integer.parseInt(v));
        case "seed" -> o.seed = Long.parseLong(v);
        default -> throw new IllegalArgumentException(e.getKey() + " is not an option");
      }
    }
    if (o.slice < 0 || o.slice >= o.slices) {
      throw new IllegalArgumentException("slice must be in 0..slices-1: " + o.slice);
    }
    if (o.rate <= 0) {
      throw new IllegalArgumentException("rate must be > 0: " + o.rate);
    }
    if (o.target.equals("cometd") && o.transport.equals("sse")) {
      throw new IllegalArgumentException("cometd has no SSE transport (Bayeux: ws, longpoll)");
    }
    if (o.shape.equals("rooms") && o.users % o.roomSize != 0) {
      throw new IllegalArgumentException(
          "users must be a multiple of roomSize: " + o.users + " % " + o.roomSize);
    }
    return o;
  }

  boolean unicast() {
    return shape.equals("unicast");
  }

  /** Rooms (unicast: users) over all slices. */
  int rooms() {
    return unicast() ? users : users / roomSize;
  }

  int membersPerRoom() {
    return unicast() ? 1 : roomSize;
  }

  /** Messages per second this slice publishes. */
  double messageRate() {
    return rate / membersPerRoom() / slices;
  }

  private static String oneOf(String key, String v, String... allowed) {
    for (String a : allowed) {
      if (a.equals(v)) {
        return v;
      }
    }
    throw new IllegalArgumentException(
        key + " must be one of " + String.join("|", allowed) + ": " + v);
  }

  private static int positive(String key, int v) {
    if (v <= 0) {
      throw new IllegalArgumentException(key + " must be > 0: " + v);
    }
    return v;
  }
}
