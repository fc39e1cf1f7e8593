package dev.halley.node.api;

import dev.halley.cluster.ClusterMap;
import dev.halley.node.cluster.NodeOperations;
import dev.halley.node.http.BodyReader;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * {@code POST /v1/admin/map}: loads a new cluster map without a restart (the body is the map
 * document, as in a {@code mapFile}). Replies {@code 200 {"node", "mapVersion", "previousVersion",
 * "changed", "movedUsers", "movedConnections"}}; see {@link NodeOperations#applyMap}.
 *
 * <pre>{@code
 * curl -X POST -H "Authorization: Bearer $KEY" --data-binary @map.json http://node:9080/v1/admin/map
 * }</pre>
 *
 * <p>Mounted behind the API key check. The body is read without blocking (413 {@code
 * payload_too_large} over {@code maxBodyBytes}); the map is applied on a worker thread (it walks
 * every user stream). Errors: 400 {@code invalid_json} / {@code invalid_field} (a bad map, or a
 * version not above the current one).
 */
public final class AdminMapHandler implements HttpHandler {
  private final NodeOperations ops;
  private final long maxBodyBytes;

  public AdminMapHandler(NodeOperations ops, long maxBodyBytes) {
    this.ops = Objects.requireNonNull(ops, "ops");
    this.maxBodyBytes = maxBodyBytes;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    // The 413 reaches a client still sending (BodyReader drains); applying the map may block.
    BodyReader.read(exchange, maxBodyBytes, body -> exchange.dispatch(() -> apply(exchange, body)));
  }

  private void apply(HttpServerExchange exchange, byte[] body) {
    try {
      Json.send(exchange, 200, ops.applyMap(parseMap(body)).toJson(ops.nodeId()));
    } catch (HttpError e) {
      Json.sendError(exchange, e);
    }
  }

  /**
   * A map document from a request body.
   *
   * @throws HttpError 400 {@code invalid_json} or {@code invalid_field}
   */
  static ClusterMap parseMap(byte[] body) {
    try {
      Json.MAPPER.readTree(body);
    } catch (java.io.IOException e) {
      throw new HttpError(400, ErrorCodes.INVALID_JSON, "the body is not JSON");
    }
    try {
      return ClusterMap.parse(new String(body, StandardCharsets.UTF_8));
    } catch (RuntimeException e) {
      throw new HttpError(
          400, ErrorCodes.INVALID_FIELD, "not a valid cluster map: " + e.getMessage());
    }
  }

  @Override
  public String toString() {
    return "AdminMapHandler{POST /v1/admin/map}";
  }
}
