package dev.halley.node.api;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.UserStream;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Ids;
import dev.halley.node.wire.Json;
import dev.halley.node.wire.Params;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code GET /v1/channels/{channel}/presence[?limit=n]}: the members of {@code channel} online on
 * this node (subscribed through their token or the API, with at least one live connection): {@code
 * {"node", "channel", "users", "connections", "members": [{"user", "connections"}], "truncated"}}.
 * {@code members} is sorted by user ID and holds at most {@code limit} (1..10000, default 1000)
 * entries; {@code users} and {@code connections} always count them all. router-lib merges the
 * answers of every node.
 */
public final class ChannelPresenceHandler implements HttpHandler {
  static final String PREFIX = "/v1/channels/";
  static final String SUFFIX = "/presence";
  static final int DEFAULT_LIMIT = 1000;
  static final int MAX_LIMIT = 10_000;

  private final NodeContext node;

  public ChannelPresenceHandler(NodeContext node) {
    this.node = node;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    try {
      String channel = channel(exchange);
      int limit = limit(Params.query(exchange, "limit"));
      Map<String, Integer> online = new TreeMap<>();
      long connections = 0;
      for (UserStream s : node.streams.subscribers(channel)) {
        int n = s.connectionCount();
        if (n > 0) {
          online.merge(s.user(), n, Integer::sum);
          connections += n;
        }
      }
      ObjectNode reply = Json.MAPPER.createObjectNode();
      reply.put("node", node.nodeId);
      reply.put("channel", channel);
      reply.put("users", online.size());
      reply.put("connections", connections);
      ArrayNode members = reply.putArray("members");
      for (Map.Entry<String, Integer> e : online.entrySet()) {
        if (members.size() == limit) {
          break;
        }
        members.addObject().put("user", e.getKey()).put("connections", e.getValue());
      }
      reply.put("truncated", online.size() > members.size());
      Json.send(exchange, 200, reply);
    } catch (HttpError e) {
      Json.sendError(exchange, e);
    }
  }

  private static String channel(HttpServerExchange exchange) {
    String raw = exchange.getRequestURI();
    int q = raw.indexOf('?');
    if (q >= 0) {
      raw = raw.substring(0, q);
    }
    int at = raw.indexOf(PREFIX);
    if (at < 0 || !raw.endsWith(SUFFIX) || raw.length() <= at + PREFIX.length() + SUFFIX.length()) {
      throw new HttpError(404, ErrorCodes.NOT_FOUND, "no such path");
    }
    String segment = raw.substring(at + PREFIX.length(), raw.length() - SUFFIX.length());
    String channel;
    try {
      channel = URLDecoder.decode(segment.replace("+", "%2B"), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw HttpError.badRequest("bad percent-encoding in the path");
    }
    if (!Ids.isChannel(channel)) {
      throw HttpError.badRequest("channel must be 1..128 characters from [A-Za-z0-9_.:@/-]");
    }
    return channel;
  }

  private static int limit(String v) {
    if (v == null) {
      return DEFAULT_LIMIT;
    }
    try {
      int n = Integer.parseInt(v);
      if (n >= 1 && n <= MAX_LIMIT) {
        return n;
      }
    } catch (NumberFormatException ignored) {
      // reported below
    }
    throw HttpError.badRequest("limit must be an integer in 1.." + MAX_LIMIT + ": " + v);
  }

  @Override
  public String toString() {
    return "ChannelPresenceHandler(GET /v1/channels/{channel}/presence)";
  }
}
