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
    assertEquals(1, message.get("seq").asInt());
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
