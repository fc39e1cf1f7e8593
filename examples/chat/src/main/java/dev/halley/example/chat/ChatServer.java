package dev.halley.example.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.ChannelPresence;
import dev.halley.router.ConnectInfo;
import dev.halley.router.Presence;
import dev.halley.router.PublishResult;
import dev.halley.router.Publisher;
import dev.halley.router.TokenMinter;
import io.undertow.Handlers;
import io.undertow.Undertow;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.handlers.Cookie;
import io.undertow.server.handlers.CookieImpl;
import io.undertow.server.handlers.resource.ClassPathResourceManager;
import io.undertow.server.handlers.resource.ResourceHandler;
import io.undertow.util.Headers;
import io.undertow.util.PathTemplateMatch;
import io.undertow.util.SameThreadExecutor;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The chat example's app server: a static page plus a small JSON API, publishing through
 * router-lib. Authentication is the app's business; here any name logs in. The session is a signed
 * cookie ({@link SessionCookie}): it survives a restart of the chat server with the same session
 * key, and a page whose session is gone anyway (another key) goes back to the login form.
 *
 * <pre>{@code
 * ChatServer chat = ChatServer.start("127.0.0.1", 8080, publisher, minter, List.of("lobby"));
 * chat.close();
 * }</pre>
 *
 * <p>API (bad input answers a status and {@code {"error", "message"}}):
 *
 * <ul>
 *   <li>{@code POST /api/login {"name"}}: logs in, sets the session cookie; {@code POST
 *       /api/logout}; {@code GET /api/session}: {@code {"user"}}, null when not logged in.
 *   <li>{@code GET /api/suggestions}: {@code {"names": [{"name", "node"}]}}, one name owned by each
 *       of the map's first {@value #MAX_SUGGESTIONS} nodes, so two people trying the demo land on
 *       different nodes.
 *   <li>{@code GET /api/online}: {@code {"users": [{"user", "node", "connections"}]}}, the users
 *       who connected through this server lately (the last {@value #MAX_MEMBERS}) and are online
 *       now, asked from their owner nodes (router-lib presence). Every user is in every room.
 *   <li>{@code GET /api/connect}: router-lib's connect info (owner URL, token, public map) and the
 *       rooms; the token subscribes the user to {@code room:<name>} for every room.
 *   <li>{@code GET /api/token}: a fresh token (the page's {@code getToken}); {@code GET /api/map}:
 *       the public map (the page's {@code getMap}).
 *   <li>{@code GET /api/rooms/{room}/members}: {@code {"room", "users", "connections", "members":
 *       [{"user", "node", "connections"}], "answered": [...], "missing": {node: reason}}}, the
 *       room's channel members online across the cluster (router-lib channel presence).
 *   <li>{@code GET /api/rooms/{room}/messages}: the room's recent history (the page reloads it on
 *       {@code reset}); {@code POST /api/rooms/{room}/messages {"text"}}: posts, publishing to
 *       channel {@code room:<room>}.
 * </ul>
 *
 * <p>Threads: handlers run on Undertow IO threads and never block: bodies are read with the async
 * receiver and publishes complete the exchange from the publisher's future.
 */
public final class ChatServer implements AutoCloseable {
  /** Longest user name, in characters. */
  public static final int MAX_NAME_LENGTH = 32;

  /** Longest message text, in characters. */
  public static final int MAX_TEXT_LENGTH = 1000;

  /** Messages kept per room for the page to reload. */
  public static final int HISTORY_SIZE = 100;

  /** How long a login lasts (the session cookie's lifetime). */
  public static final Duration SESSION_LIFETIME = Duration.ofDays(1);

  /** Users remembered for {@code /api/online}; the least recently connected is forgotten first. */
  public static final int MAX_MEMBERS = 50;

  /** Nodes that get a suggested name. */
  public static final int MAX_SUGGESTIONS = 6;

  private static final List<String> NAMES =
      List.of(
          "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
          "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter");

  /** Default lifetime of a token handed to the page; the page asks for another when it expires. */
  public static final Duration TOKEN_TTL = Duration.ofMinutes(10);

  private static final String COOKIE = "halley_chat";
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1," + MAX_NAME_LENGTH + "}");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Publisher publisher;
  private final TokenMinter minter;
  private final Duration tokenTtl;
  private final List<String> rooms;
  private final Map<String, RoomHistory> history;
  private final SessionCookie sessions;
  // Guarded by itself; access order, so the least recently connected user goes first.
  private final Map<String, Boolean> members =
      new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
          return size() > MAX_MEMBERS;
        }
      };
  private final Undertow server;

  private ChatServer(
      String host,
      int port,
      Publisher publisher,
      TokenMinter minter,
      Duration tokenTtl,
      List<String> rooms,
      byte[] sessionKey) {
    this.publisher = publisher;
    this.sessions = new SessionCookie(sessionKey, SESSION_LIFETIME);
    this.minter = minter;
    this.tokenTtl = tokenTtl;
    this.rooms = List.copyOf(rooms);
    this.history =
        this.rooms.stream().collect(Collectors.toMap(r -> r, r -> new RoomHistory(HISTORY_SIZE)));
    HttpHandler api =
        Handlers.routing()
            .post("/api/login", this::login)
            .post("/api/logout", this::logout)
            .get("/api/session", this::session)
            .get("/api/suggestions", this::suggestions)
            .get("/api/online", this::online)
            .get("/api/connect", this::connect)
            .get("/api/token", this::token)
            .get("/api/map", this::map)
            .get("/api/rooms/{room}/messages", this::roomHistory)
            .get("/api/rooms/{room}/members", this::roomMembers)
            .post("/api/rooms/{room}/messages", this::post)
            .setFallbackHandler(
                ex -> error(ex, 404, "not_found", "no such path: " + ex.getRequestPath()))
            .setInvalidMethodHandler(
                ex ->
                    error(
                        ex,
                        405,
                        "method_not_allowed",
                        ex.getRequestMethod() + " " + ex.getRequestPath()));
    HttpHandler files =
        new ResourceHandler(new ClassPathResourceManager(ChatServer.class.getClassLoader(), "chat"))
            .setWelcomeFiles("index.html")
            .setCacheTime(0);
    HttpHandler root =
        ex -> {
          if (ex.getRequestPath().startsWith("/api/")) {
            api.handleRequest(ex);
          } else {
            files.handleRequest(ex);
          }
        };
    this.server = Undertow.builder().addHttpListener(port, host).setHandler(root).build();
  }

  /** Starts the server on {@code host:port} (0 picks a free port), with the default token TTL. */
  public static ChatServer start(
      String host, int port, Publisher publisher, TokenMinter minter, List<String> rooms) {
    return start(host, port, publisher, minter, TOKEN_TTL, rooms);
  }

  /**
   * Starts the server; tokens handed to pages live {@code tokenTtl} (at least 1 second). Sessions
   * are signed with a random key: they end when the server stops.
   */
  public static ChatServer start(
      String host,
      int port,
      Publisher publisher,
      TokenMinter minter,
      Duration tokenTtl,
      List<String> rooms) {
    byte[] key = new byte[32];
    RANDOM.nextBytes(key);
    return start(host, port, publisher, minter, tokenTtl, rooms, key);
  }

  /**
   * Starts the server; sessions are signed with {@code sessionKey} (at least 32 bytes), so they
   * survive a restart with the same key.
   */
  public static ChatServer start(
      String host,
      int port,
      Publisher publisher,
      TokenMinter minter,
      Duration tokenTtl,
      List<String> rooms,
      byte[] sessionKey) {
    if (rooms.isEmpty()) {
      throw new IllegalArgumentException("rooms must not be empty");
    }
    if (tokenTtl.compareTo(Duration.ofSeconds(1)) < 0) {
      throw new IllegalArgumentException("tokenTtl must be >= 1 second: " + tokenTtl);
    }
    ChatServer chat = new ChatServer(host, port, publisher, minter, tokenTtl, rooms, sessionKey);
    chat.server.start();
    return chat;
  }

  /** The port it listens on. */
  public int port() {
    return ((InetSocketAddress) server.getListenerInfo().get(0).getAddress()).getPort();
  }

  @Override
  public void close() {
    server.stop();
  }

  private void login(HttpServerExchange ex) {
    readJson(
        ex,
        body -> {
          JsonNode name = body.get("name");
          if (name == null || !name.isTextual() || !NAME.matcher(name.asText()).matches()) {
            error(
                ex,
                400,
                "invalid_field",
                "name must be 1 to " + MAX_NAME_LENGTH + " characters from [A-Za-z0-9_.-]");
            return;
          }
          String session = sessions.issue(name.asText(), Instant.now());
          ex.setResponseCookie(
              new CookieImpl(COOKIE, session)
                  .setPath("/")
                  .setMaxAge((int) sessions.lifetime().toSeconds())
                  .setHttpOnly(true)
                  .setSameSiteMode("Strict"));
          ObjectNode reply = JSON.createObjectNode().put("user", name.asText());
          send(ex, 200, reply);
        });
  }

  private void logout(HttpServerExchange ex) {
    ex.setResponseCookie(new CookieImpl(COOKIE, "").setPath("/").setMaxAge(0));
    send(ex, 200, JSON.createObjectNode().put("user", (String) null));
  }

  private void session(HttpServerExchange ex) {
    send(ex, 200, JSON.createObjectNode().put("user", sessionUser(ex)));
  }

  private void suggestions(HttpServerExchange ex) {
    ObjectNode reply = JSON.createObjectNode();
    ArrayNode names = reply.putArray("names");
    suggestedNames(publisher.map())
        .forEach((node, name) -> names.addObject().put("name", name).put("node", node));
    send(ex, 200, reply);
  }

  /** One name per node (of the first {@value #MAX_SUGGESTIONS}), node ID to name, in map order. */
  static Map<String, String> suggestedNames(ClusterMap map) {
    Map<String, String> byNode = new LinkedHashMap<>();
    List<NodeInfo> nodes = map.nodes().subList(0, Math.min(MAX_SUGGESTIONS, map.nodes().size()));
    nodes.forEach(n -> byNode.put(n.id(), null));
    for (int round = 0; round < 1000 && byNode.containsValue(null); round++) {
      for (String base : NAMES) {
        String name = round == 0 ? base : base + round;
        String owner = map.owner(name).id();
        if (byNode.containsKey(owner) && byNode.get(owner) == null) {
          byNode.put(owner, name);
        }
      }
    }
    byNode.values().removeIf(java.util.Objects::isNull);
    return byNode;
  }

  private void online(HttpServerExchange ex) {
    if (user(ex) == null) {
      return;
    }
    List<String> users;
    synchronized (members) {
      users = List.copyOf(members.keySet());
    }
    List<CompletableFuture<Presence>> asks =
        users.stream().map(u -> publisher.presence(u).exceptionally(failure -> null)).toList();
    // Dispatched so the exchange stays open; the last answer completes it on its IO thread.
    ex.dispatch(
        SameThreadExecutor.INSTANCE,
        () ->
            CompletableFuture.allOf(asks.toArray(CompletableFuture[]::new))
                .whenComplete(
                    (done, failure) ->
                        ex.getIoThread()
                            .execute(
                                () -> {
                                  ObjectNode reply = JSON.createObjectNode();
                                  ArrayNode list = reply.putArray("users");
                                  asks.stream()
                                      .map(CompletableFuture::join)
                                      .filter(p -> p != null && p.online())
                                      .sorted(Comparator.comparing(Presence::user))
                                      .forEach(
                                          p ->
                                              list.addObject()
                                                  .put("user", p.user())
                                                  .put("node", p.node())
                                                  .put("connections", p.connections()));
                                  send(ex, 200, reply);
                                })));
  }

  private void connect(HttpServerExchange ex) {
    String user = user(ex);
    if (user == null) {
      return;
    }
    synchronized (members) {
      members.put(user, Boolean.TRUE);
    }
    ConnectInfo info = publisher.connectInfo(user, minter, tokenTtl, channels());
    try {
      ObjectNode reply = (ObjectNode) JSON.readTree(info.toJson());
      ArrayNode list = reply.putArray("rooms");
      rooms.forEach(list::add);
      send(ex, 200, reply);
    } catch (Exception e) {
      error(ex, 500, "server_error", e.getMessage());
    }
  }

  private void token(HttpServerExchange ex) {
    String user = user(ex);
    if (user != null) {
      send(ex, 200, JSON.createObjectNode().put("token", minter.mint(user, tokenTtl, channels())));
    }
  }

  private void map(HttpServerExchange ex) {
    ex.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
    ex.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-store");
    ex.getResponseSender().send(publisher.map().publicViewJson());
  }

  private void roomHistory(HttpServerExchange ex) {
    String room = room(ex);
    if (room == null || user(ex) == null) {
      return;
    }
    ObjectNode reply = JSON.createObjectNode().put("room", room);
    reply.set("messages", JSON.valueToTree(history.get(room).recent()));
    send(ex, 200, reply);
  }

  /**
   * The room's members online across the cluster (router-lib channel presence: every node asked,
   * the answers merged within a second), with the nodes that did not answer.
   */
  private void roomMembers(HttpServerExchange ex) {
    String room = room(ex);
    if (room == null || user(ex) == null) {
      return;
    }
    CompletableFuture<ChannelPresence> ask =
        publisher.channelPresence("room:" + room, java.time.Duration.ofSeconds(1), 1000);
    ex.dispatch(
        SameThreadExecutor.INSTANCE,
        () ->
            ask.whenComplete(
                (p, failure) ->
                    ex.getIoThread()
                        .execute(
                            () -> {
                              if (failure != null) {
                                send(
                                    ex,
                                    502,
                                    JSON.createObjectNode()
                                        .put("error", "presence_failed")
                                        .put("message", String.valueOf(failure)));
                                return;
                              }
                              ObjectNode reply =
                                  JSON.createObjectNode()
                                      .put("room", room)
                                      .put("users", p.users())
                                      .put("connections", p.connections());
                              ArrayNode list = reply.putArray("members");
                              for (ChannelPresence.Member m : p.members()) {
                                list.addObject()
                                    .put("user", m.user())
                                    .put("node", m.node())
                                    .put("connections", m.connections());
                              }
                              reply.set("answered", JSON.valueToTree(p.answered()));
                              reply.set("missing", JSON.valueToTree(p.missing()));
                              send(ex, 200, reply);
                            })));
  }

  private void post(HttpServerExchange ex) {
    String room = room(ex);
    String user = room == null ? null : user(ex);
    if (user == null) {
      return;
    }
    readJson(
        ex,
        body -> {
          JsonNode text = body.get("text");
          if (text == null
              || !text.isTextual()
              || text.asText().isBlank()
              || text.asText().length() > MAX_TEXT_LENGTH) {
            error(ex, 400, "invalid_field", "text must be 1 to " + MAX_TEXT_LENGTH + " characters");
            return;
          }
          Map<String, Object> message =
              history.get(room).add(room, user, text.asText(), Instant.now());
          // Dispatched so the exchange stays open; the future completes it on its IO thread.
          ex.dispatch(
              SameThreadExecutor.INSTANCE,
              () ->
                  publisher
                      .publishToChannel("room:" + room, message)
                      .whenComplete(
                          (result, failure) ->
                              ex.getIoThread()
                                  .execute(() -> published(ex, message, result, failure))));
        });
  }

  private void published(
      HttpServerExchange ex, Map<String, Object> message, PublishResult result, Throwable failure) {
    if (failure != null) {
      error(ex, 500, "server_error", "publish failed: " + failure.getMessage());
      return;
    }
    ObjectNode reply = JSON.valueToTree(message);
    ArrayNode nodes = reply.putArray("nodes");
    for (PublishResult.NodeResult node : result.nodes()) {
      ObjectNode n =
          nodes.addObject().put("node", node.node()).put("connections", node.connections());
      if (node.failed() || node.unknown()) {
        n.put("failure", node.reason());
      }
    }
    send(ex, result.succeeded() ? 200 : 502, reply);
  }

  private Set<String> channels() {
    return rooms.stream().map(r -> "room:" + r).collect(Collectors.toSet());
  }

  /** The user of a valid session cookie, or null. */
  private String sessionUser(HttpServerExchange ex) {
    Cookie cookie = ex.getRequestCookie(COOKIE);
    return cookie == null ? null : sessions.verify(cookie.getValue(), Instant.now());
  }

  /** The logged-in user, or null after answering 401. */
  private String user(HttpServerExchange ex) {
    String user = sessionUser(ex);
    if (user == null) {
      error(ex, 401, "not_logged_in", "log in first: POST /api/login {\"name\": ...}");
    }
    return user;
  }

  /** The room of the path, or null after answering 404. */
  private String room(HttpServerExchange ex) {
    String room = ex.getAttachment(PathTemplateMatch.ATTACHMENT_KEY).getParameters().get("room");
    if (!history.containsKey(room)) {
      error(ex, 404, "not_found", "no such room: " + room + " (rooms: " + rooms + ")");
      return null;
    }
    return room;
  }

  private interface BodyHandler {
    void handle(JsonNode body);
  }

  private static void readJson(HttpServerExchange ex, BodyHandler handler) {
    if (ex.getRequestContentLength() > 16 * 1024) {
      error(ex, 413, "payload_too_large", "request body over 16384 bytes");
      return;
    }
    ex.getRequestReceiver()
        .receiveFullString(
            (exchange, text) -> {
              JsonNode body;
              try {
                body = JSON.readTree(text);
              } catch (Exception e) {
                error(exchange, 400, "invalid_json", "the body is not JSON");
                return;
              }
              if (body == null || !body.isObject()) {
                error(exchange, 400, "invalid_json", "the body must be a JSON object");
                return;
              }
              handler.handle(body);
            },
            (exchange, e) ->
                error(exchange, 400, "bad_request", "cannot read the body: " + e.getMessage()),
            StandardCharsets.UTF_8);
  }

  private static void send(HttpServerExchange ex, int status, JsonNode body) {
    ex.setStatusCode(status);
    ex.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
    ex.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-store");
    try {
      ex.getResponseSender().send(JSON.writeValueAsString(body));
    } catch (Exception e) {
      ex.setStatusCode(500);
      ex.endExchange();
    }
  }

  static void error(HttpServerExchange ex, int status, String code, String message) {
    send(ex, status, JSON.createObjectNode().put("error", code).put("message", message));
  }

  @Override
  public String toString() {
    return "ChatServer{port=" + port() + ", rooms=" + rooms + "}";
  }
}
