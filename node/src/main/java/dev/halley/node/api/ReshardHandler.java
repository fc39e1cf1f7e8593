package dev.halley.node.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.http.BodyReader;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Methods;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;

/**
 * The pending-map endpoints of lossless resharding (issue 14, docs/protocol.md "Resharding"), all
 * behind the API key:
 *
 * <pre>
 * GET    /v1/admin/map/pending    the pending map document; 404 no_pending_map
 * POST   /v1/admin/map/pending    install (body: the map document); 409 map_version_conflict
 * DELETE /v1/admin/map/pending    abort: the pending map and the pre-streams are dropped
 * POST   /v1/admin/map/activate   {"version": P}: the pending map becomes active; 409 if none of P
 * GET    /v1/admin/map/state      {"node", "active", "pending", "publishers", "preStreams", "handoffs"}
 * </pre>
 *
 * Bodies are read without blocking (413 over {@code maxBodyBytes}); changes run on a worker thread
 * (they walk every user stream).
 */
public final class ReshardHandler implements HttpHandler {
  public static final String PENDING = "/v1/admin/map/pending";
  public static final String ACTIVATE = "/v1/admin/map/activate";
  public static final String STATE = "/v1/admin/map/state";

  private final NodeContext node;
  private final long maxBodyBytes;

  public ReshardHandler(NodeContext node, long maxBodyBytes) {
    this.node = node;
    this.maxBodyBytes = maxBodyBytes;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    String path = exchange.getRequestPath();
    boolean get =
        exchange.getRequestMethod().equals(Methods.GET)
            || exchange.getRequestMethod().equals(Methods.HEAD);
    if (path.equals(STATE)) {
      exchange.dispatch(() -> answer(exchange, () -> Json.send(exchange, 200, node.ops.state())));
    } else if (path.equals(PENDING) && get) {
      ClusterMap p = node.core.pending();
      if (p == null) {
        Json.sendError(
            exchange,
            404,
            ErrorCodes.NO_PENDING_MAP,
            "no pending map is installed (active version " + node.map().version() + ")");
      } else {
        Json.send(exchange, 200, p.toJson().getBytes(StandardCharsets.UTF_8));
      }
    } else if (path.equals(PENDING) && exchange.getRequestMethod().equals(Methods.DELETE)) {
      exchange.dispatch(
          () -> answer(exchange, () -> Json.send(exchange, 200, node.ops.abortPending())));
    } else if (path.equals(PENDING)) {
      BodyReader.read(
          exchange,
          maxBodyBytes,
          body ->
              exchange.dispatch(
                  () ->
                      answer(
                          exchange,
                          () ->
                              Json.send(
                                  exchange,
                                  200,
                                  node.ops.installPending(AdminMapHandler.parseMap(body))))));
    } else {
      BodyReader.read(
          exchange,
          maxBodyBytes,
          body ->
              exchange.dispatch(
                  () ->
                      answer(
                          exchange,
                          () -> {
                            node.ops.activate(version(body));
                            Json.send(exchange, 200, node.ops.mapVersions());
                          })));
    }
  }

  private static void answer(HttpServerExchange exchange, Runnable r) {
    try {
      r.run();
    } catch (HttpError e) {
      Json.sendError(exchange, e);
    }
  }

  /** {@code {"version": P}}. */
  static int version(byte[] body) {
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(body);
    } catch (java.io.IOException e) {
      throw new HttpError(400, ErrorCodes.INVALID_JSON, "the body is not JSON");
    }
    if (root == null || !root.isObject()) {
      throw HttpError.invalidField("the body must be an object {\"version\": <pending version>}");
    }
    for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      if (!name.equals("version")) {
        throw new HttpError(
            400, ErrorCodes.UNKNOWN_FIELD, "unknown field " + name + " (allowed: version)");
      }
    }
    JsonNode v = root.get("version");
    if (v == null || !v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 1) {
      throw HttpError.invalidField("version must be a positive integer");
    }
    return v.intValue();
  }

  @Override
  public String toString() {
    return "ReshardHandler{" + PENDING + ", " + ACTIVATE + ", " + STATE + "}";
  }
}
