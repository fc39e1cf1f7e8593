package dev.halley.router;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Objects;

/**
 * Everything a page needs to connect one user: the owner node's public URL, a fresh token, and the
 * public view of the cluster map with its version (never internal URLs).
 *
 * <pre>{@code
 * ConnectInfo ci = publisher.connectInfo("alice", minter, Duration.ofMinutes(10), Set.of("room:1"));
 * response.setContentType("application/json");
 * response.getWriter().write(ci.toJson());
 * // {"user":"alice","node":"a","url":"https://a.example.com","token":"eyJ...","mapVersion":3,"map":{...}}
 * }</pre>
 *
 * <p>The map lets the browser client compute owners itself (the same hash) and follow a {@code
 * moved} event without another round trip to the app. Immutable.
 *
 * @param user the user ID ({@code sub} of the token)
 * @param node the owner node's ID
 * @param url the owner node's public base URL
 * @param token the JWT to present on connect
 * @param mapVersion the version of the map the owner was computed from
 * @param mapJson the public view of that map, a JSON object as text
 */
public record ConnectInfo(
    String user, String node, String url, String token, long mapVersion, String mapJson) {
  private static final ObjectMapper JSON = new ObjectMapper();

  public ConnectInfo {
    Objects.requireNonNull(user, "user");
    Objects.requireNonNull(node, "node");
    Objects.requireNonNull(url, "url");
    Objects.requireNonNull(token, "token");
    Objects.requireNonNull(mapJson, "mapJson");
  }

  /**
   * This info as one JSON object: {@code user}, {@code node}, {@code url}, {@code token}, {@code
   * mapVersion} and {@code map} (the public map, embedded as an object).
   */
  public String toJson() {
    ObjectNode root = JSON.createObjectNode();
    root.put("user", user);
    root.put("node", node);
    root.put("url", url);
    root.put("token", token);
    root.put("mapVersion", mapVersion);
    try {
      root.set("map", JSON.readTree(mapJson));
      return JSON.writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("the public map is not JSON: " + e.getMessage(), e);
    }
  }

  @Override
  public String toString() {
    // The token is a credential: keep it out of logs.
    return "ConnectInfo{user="
        + user
        + ", node="
        + node
        + ", url="
        + url
        + ", mapVersion="
        + mapVersion
        + "}";
  }
}
