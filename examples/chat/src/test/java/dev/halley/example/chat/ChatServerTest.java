package dev.halley.example.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.HalleyNode;
import dev.halley.node.config.NodeConfig;
import dev.halley.router.MapSource;
import dev.halley.router.Publisher;
import dev.halley.router.TokenMinter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The chat server's JSON API against one real node: login, connect info, posting, bad input. */
class ChatServerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String KEY = "test-api-key-0123456789";
  private static final String SECRET = "test-token-secret-0123456789-0123456789";

  private HalleyNode node;
  private Publisher publisher;
  private ChatServer chat;
  private final HttpClient http = HttpClient.newHttpClient();
  private String base;

  @BeforeEach
  void start() {
    // Bind on port 0 first, then publish the real ports in the map.
    ClusterMap placeholder =
        ClusterMap.of(
            1,
            List.of(
                new NodeInfo(
                    "a", URI.create("http://127.0.0.1:1"), URI.create("http://127.0.0.1:2"))));
    node =
        HalleyNode.start(
            NodeConfig.builder()
                .nodeId("a")
                .map(placeholder)
                .publicHost("127.0.0.1")
                .publicPort(0)
                .internalHost("127.0.0.1")
                .internalPort(0)
                .apiKeys(List.of(KEY))
                .tokenHmacSecret(SECRET)
                .build());
    ClusterMap map =
        ClusterMap.of(
            2,
            List.of(
                new NodeInfo(
                    "a",
                    URI.create("http://127.0.0.1:" + node.publicPort()),
                    URI.create("http://127.0.0.1:" + node.internalPort()))));
    node.updateMap(map);
    publisher = Publisher.builder().mapSource(MapSource.of(() -> map)).apiKey(KEY).build();
    chat = ChatServer.start("127.0.0.1", 0, publisher, TokenMinter.hs256(SECRET), List.of("lobby"));
    base = "http://127.0.0.1:" + chat.port();
  }

  @AfterEach
  void stop() {
    chat.close();
    publisher.close();
    node.close();
  }

  @Test
  void loggedInUserGetsConnectInfoAndPostsToTheRoom() throws Exception {
    HttpResponse<String> login = post("/api/login", "{\"name\": \"alice\"}", null);
    assertEquals(200, login.statusCode(), login.body());
    String cookie = login.headers().firstValue("set-cookie").orElseThrow().split(";")[0];

    JsonNode info = JSON.readTree(get("/api/connect", cookie).body());
    assertEquals("alice", info.get("user").asText());
    assertEquals("a", info.get("node").asText());
    assertEquals("http://127.0.0.1:" + node.publicPort(), info.get("url").asText());
    assertEquals(2, info.get("map").get("version").asInt());
    assertTrue(info.get("token").asText().split("\\.").length == 3, info.toString());
    assertEquals("[\"lobby\"]", info.get("rooms").toString());

    HttpResponse<String> posted = post("/api/rooms/lobby/messages", "{\"text\": \"hi\"}", cookie);
    assertEquals(200, posted.statusCode(), posted.body());
    JsonNode message = JSON.readTree(posted.body());
    assertEquals("alice", message.get("from").asText());
    assertTrue(message.get("seq").asLong() > System.currentTimeMillis() * 1000 - 60_000_000L);
    assertEquals("a", message.get("nodes").get(0).get("node").asText());

    JsonNode history = JSON.readTree(get("/api/rooms/lobby/messages", cookie).body());
    assertEquals("hi", history.get("messages").get(0).get("text").asText());
  }

  @Test
  void badInputGetsStatusAndJsonError() throws Exception {
    assertError(
        post("/api/login", "{\"name\": \"no spaces allowed\"}", null), 400, "invalid_field");
    assertError(post("/api/login", "not json", null), 400, "invalid_json");
    assertError(post("/api/login", "[1]", null), 400, "invalid_json");
    assertError(get("/api/connect", null), 401, "not_logged_in");
    assertError(get("/api/nope", null), 404, "not_found");
    String cookie =
        post("/api/login", "{\"name\": \"bob\"}", null)
            .headers()
            .firstValue("set-cookie")
            .orElseThrow()
            .split(";")[0];
    assertError(
        post("/api/rooms/kitchen/messages", "{\"text\": \"hi\"}", cookie), 404, "not_found");
    assertError(
        post("/api/rooms/lobby/messages", "{\"text\": \"  \"}", cookie), 400, "invalid_field");
    assertError(post("/api/rooms/lobby/messages", "{\"text\": 5}", cookie), 400, "invalid_field");
    String big = "{\"text\": \"" + "x".repeat(20_000) + "\"}";
    assertError(post("/api/rooms/lobby/messages", big, cookie), 413, "payload_too_large");
  }

  @Test
  void aLoginSurvivesARestartWithTheSameSessionKeyAndNoOther() throws Exception {
    byte[] key = SessionCookie.deriveKey(SECRET, "halley-chat-session");
    chat.close();
    chat = startChat(key);
    String cookie = loginCookie("alice");
    chat.close();
    chat = startChat(key); // a restart: nothing of the first server's memory is left
    assertEquals("alice", JSON.readTree(get("/api/session", cookie).body()).get("user").asText());
    assertEquals(200, get("/api/connect", cookie).statusCode());
    chat.close();
    chat = startChat(SessionCookie.deriveKey("another secret", "halley-chat-session"));
    assertTrue(JSON.readTree(get("/api/session", cookie).body()).get("user").isNull());
    assertError(get("/api/connect", cookie), 401, "not_logged_in");
  }

  @Test
  void aForgedOrAlteredSessionCookieIsRefused() throws Exception {
    String cookie = loginCookie("alice");
    String value = cookie.substring(cookie.indexOf('=') + 1);
    String forged = "halley_chat=mallory" + value.substring(value.indexOf('.'));
    assertError(get("/api/connect", forged), 401, "not_logged_in");
    String[] parts = value.split("\\.");
    String extended = "halley_chat=alice." + (Long.parseLong(parts[1]) + 1) + "." + parts[2];
    assertError(get("/api/connect", extended), 401, "not_logged_in");
    assertError(get("/api/connect", "halley_chat=garbage"), 401, "not_logged_in");
  }

  @Test
  void expiredSessionsAreRefused() {
    SessionCookie sessions = new SessionCookie(new byte[32], java.time.Duration.ofMinutes(1));
    java.time.Instant now = java.time.Instant.parse("2026-01-01T00:00:00Z");
    String value = sessions.issue("alice", now);
    assertEquals("alice", sessions.verify(value, now.plusSeconds(59)));
    assertEquals(null, sessions.verify(value, now.plusSeconds(60)));
  }

  @Test
  void suggestedNamesAreOwnedByDifferentNodes() throws Exception {
    ClusterMap three = ClusterMap.load(java.nio.file.Path.of("../../docs/examples/cluster-3.json"));
    java.util.Map<String, String> names = ChatServer.suggestedNames(three);
    assertEquals(3, names.size(), names.toString());
    names.forEach((node, name) -> assertEquals(node, three.owner(name).id(), name));
    // README's quick start names them for ./halley run's nodes a, b, c
    ClusterMap run =
        ClusterMap.of(
            1,
            List.of(
                new NodeInfo("a", URI.create("http://h:1"), URI.create("http://h:2")),
                new NodeInfo("b", URI.create("http://h:3"), URI.create("http://h:4")),
                new NodeInfo("c", URI.create("http://h:5"), URI.create("http://h:6"))));
    assertEquals(
        java.util.Map.of("a", "carol", "b", "judy", "c", "alice"), ChatServer.suggestedNames(run));
    JsonNode reply = JSON.readTree(get("/api/suggestions", null).body());
    assertEquals(1, reply.get("names").size(), reply.toString());
    assertEquals("a", reply.get("names").get(0).get("node").asText());
  }

  @Test
  void onlineListsUsersWithALiveConnection() throws Exception {
    String alice = loginCookie("alice");
    String bob = loginCookie("bob");
    String token = JSON.readTree(get("/api/connect", alice).body()).get("token").asText();
    get("/api/connect", bob); // known, but never connects
    assertEquals("[]", JSON.readTree(get("/api/online", alice).body()).get("users").toString());
    HttpRequest sse =
        HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + node.publicPort() + "/v1/sse?token=" + token))
            .build();
    HttpResponse<java.io.InputStream> stream =
        http.send(sse, HttpResponse.BodyHandlers.ofInputStream());
    try {
      assertEquals(200, stream.statusCode());
      // the node counts the connection once it has written hello
      java.io.BufferedReader lines =
          new java.io.BufferedReader(
              new java.io.InputStreamReader(
                  stream.body(), java.nio.charset.StandardCharsets.UTF_8));
      for (String line = lines.readLine(); !line.contains("hello"); line = lines.readLine()) {}
      JsonNode users = JSON.readTree(get("/api/online", bob).body()).get("users");
      assertEquals(1, users.size(), users.toString());
      assertEquals("alice", users.get(0).get("user").asText());
      assertEquals("a", users.get(0).get("node").asText());
      assertEquals(1, users.get(0).get("connections").asInt());
    } finally {
      stream.body().close();
    }
    assertError(get("/api/online", null), 401, "not_logged_in");
  }

  @Test
  void theNextStepsThatRunPrintsWork(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    ClusterMap map = publisher.map();
    java.nio.file.Path file = dir.resolve("cluster.json");
    java.nio.file.Files.writeString(file, map.toJson());
    String steps = Main.nextSteps(map, file, KEY);
    assertTrue(steps.contains("API key: " + KEY), steps);
    java.util.regex.Matcher curl =
        java.util.regex.Pattern.compile("-d '([^']*)' (\\S+?)/v1/publish").matcher(steps);
    int curls = 0;
    while (curl.find()) {
      curls++;
      String url =
          curl.group(2).equals("$node")
              ? map.nodes().get(0).internalUrl().toString()
              : curl.group(2);
      HttpResponse<String> published =
          http.send(
              HttpRequest.newBuilder(URI.create(url + "/v1/publish"))
                  .header("authorization", "Bearer " + KEY)
                  .header("content-type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(curl.group(1)))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, published.statusCode(), published.body());
      assertEquals(
          "accepted",
          JSON.readTree(published.body()).get("results").get(0).get("status").asText(),
          published.body());
    }
    assertEquals(2, curls, steps);
    java.util.regex.Matcher route =
        java.util.regex.Pattern.compile("\\./halley route (.*)").matcher(steps);
    assertTrue(route.find(), steps);
    assertEquals(0, dev.halley.cluster.cli.HalleyCli.execute(route.group(1).trim().split(" ")));
  }

  private ChatServer startChat(byte[] key) {
    ChatServer server =
        ChatServer.start(
            "127.0.0.1",
            0,
            publisher,
            TokenMinter.hs256(SECRET),
            ChatServer.TOKEN_TTL,
            List.of("lobby"),
            key);
    base = "http://127.0.0.1:" + server.port();
    return server;
  }

  private String loginCookie(String name) throws Exception {
    HttpResponse<String> login = post("/api/login", "{\"name\": \"" + name + "\"}", null);
    assertEquals(200, login.statusCode(), login.body());
    return login.headers().firstValue("set-cookie").orElseThrow().split(";")[0];
  }

  private void assertError(HttpResponse<String> response, int status, String code)
      throws Exception {
    assertEquals(status, response.statusCode(), response.body());
    JsonNode body = JSON.readTree(response.body());
    assertEquals(code, body.get("error").asText(), response.body());
    assertTrue(body.get("message").isTextual(), response.body());
  }

  private HttpResponse<String> get(String path, String cookie) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path));
    if (cookie != null) {
      request.header("cookie", cookie);
    }
    return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> post(String path, String body, String cookie) throws Exception {
    HttpRequest.Builder request =
        HttpRequest.newBuilder(URI.create(base + path))
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    if (cookie != null) {
      request.header("cookie", cookie);
    }
    return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }
}
