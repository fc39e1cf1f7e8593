package dev.halley.node.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.UserStream;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Methods;
import java.util.Set;

/**
 * {@code PUT|DELETE /v1/users/{user}/channels/{channel}}: adds or removes an API subscription of an
 * owned user, or of a user the pending map brings here (issue 14: its pre-stream keeps it for the
 * cut-over; 421 otherwise), and answers {@code {"user", "channels": [...]}} (token and API
 * channels).
 */
public final class SubscriptionHandler implements HttpHandler {
  private final NodeContext node;

  public SubscriptionHandler(NodeContext node) {
    this.node = node;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    try {
      UserPath path = UserPath.parse(exchange);
      String channel = path.channel();
      // Under the map lock's read side, as a connect: see NodeContext.whileOwner.
      Set<String> channels =
          node.whileOwnerOrGainer(path.user(), () -> change(exchange, path.user(), channel));
      if (node.ops.channelEvents() != null) {
        node.ops.channelEvents().changed(path.user());
      }
      ObjectNode reply = Json.MAPPER.createObjectNode();
      reply.put("user", path.user());
      channels.forEach(reply.putArray("channels")::add);
      node.pendingMapVersion(reply);
      Json.send(exchange, 200, reply);
    } catch (HttpError e) {
      Json.sendError(exchange, e);
    }
  }

  /** Adds or removes the API subscription; the caller holds the user's ownership. */
  private Set<String> change(HttpServerExchange exchange, String user, String channel) {
    Set<String> channels;
    if (!exchange.getRequestMethod().equals(Methods.PUT)) {
      // A state carried from the old owner later must not subscribe it again (issue 14).
      node.core.carryRecord.unsubscribed(user, channel, node.clock.millis());
      channels = node.streams.unsubscribe(user, channel);
    } else if (node.latest.applies(channel) && !node.gains(user)) {
      // (A user the pending map brings here gets no copy: its old owner gave it one, and the
      // client reads it there.)
      // A new subscriber of a latest-value channel gets its last message first.
      channels =
          node.latest.subscribe(
              channel,
              () -> {
                UserStream s = node.streams.get(user);
                return s != null && s.channels().contains(channel);
              },
              () -> node.streams.subscribe(user, channel),
              () -> node.streams.get(user),
              node.clock.millis());
    } else {
      channels = node.streams.subscribe(user, channel);
    }
    return channels;
  }

  @Override
  public String toString() {
    return "SubscriptionHandler(PUT|DELETE /v1/users/{user}/channels/{channel})";
  }
}
