package dev.halley.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.awaitility.Awaitility;

/** A small client of a node's internal API for tests. */
public final class InternalApi {
  public static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

  private final int port;
  private final String apiKey;

  public InternalApi(HalleyNode node) {
    this(node.internalPort(), TestNodes.API_KEY);
  }

  public InternalApi(int port, String apiKey) {
    this.port = port;
    this.apiKey = apiKey;
  }

  /** A status and a parsed JSON body. */
  public record Reply(int status, JsonNode body) {
    public String error() {
      return body.path("error").asText();
    }
  }

  public Reply send(String method, String path, String body) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(20))
            .method(
                method,
                body == null
                    ? HttpRequest.BodyPublishers.noBody()
                    : HttpRequest.BodyPublishers.ofString(body));
    if (apiKey != null) {
      b.header("Authorization", "Bearer " + apiKey);
    }
    return call(b.build());
  }

  public static Reply call(HttpRequest request) {
    try {
      HttpResponse<String> r = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
      JsonNode body = r.body().isEmpty() ? JSON.nullNode() : JSON.readTree(r.body());
      return new Reply(r.statusCode(), body);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  public Reply publish(String body) {
    return send("POST", "/v1/publish", body);
  }

  /** Publishes {@code data} to users; returns the single result. */
  public JsonNode publishToUsers(JsonNode data, String... users) {
    ObjectNode msg = JSON.createObjectNode();
    ArrayNode us = msg.putArray("users");
    for (String u : users) {
      us.add(u);
    }
    msg.set("data", data);
    return publishOne(msg);
  }

  public JsonNode publishToChannel(String channel, JsonNode data) {
    ObjectNode msg = JSON.createObjectNode();
    msg.put("channel", channel);
    msg.set("data", data);
    return publishOne(msg);
  }

  public JsonNode publishOne(ObjectNode msg) {
    ObjectNode root = JSON.createObjectNode();
    root.putArray("messages").add(msg);
    Reply r = publish(root.toString());
    if (r.status() != 200) {
      throw new AssertionError("publish failed: " + r);
    }
    return r.body().get("results").get(0);
  }

  public Reply subscribe(String user, String channel) {
    return send("PUT", "/v1/users/" + user + "/channels/" + channel, null);
  }

  public int connections(String user) {
    return send("GET", "/v1/users/" + user + "/presence", null).body().get("connections").asInt();
  }

  /** Waits (generously) until the user has exactly {@code n} live connections. */
  public void awaitConnections(String user, int n) {
    Awaitility.await("user " + user + " has " + n + " live connections")
        .atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofMillis(10))
        .until(() -> connections(user) == n);
  }

  /** A JSON string value, as a message's {@code data}. */
  public static JsonNode text(String s) {
    return JSON.getNodeFactory().textNode(s);
  }

  public static JsonNode json(String s) {
    try {
      return JSON.readTree(s);
    } catch (IOException e) {
      throw new IllegalArgumentException(e);
    }
  }

  public static List<String> texts(JsonNode array) {
    return JSON.convertValue(
        array, JSON.getTypeFactory().constructCollectionType(List.class, String.class));
  }
}
