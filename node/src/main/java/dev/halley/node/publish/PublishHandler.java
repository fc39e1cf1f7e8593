package dev.halley.node.publish;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.http.BodyReader;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Ids;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * {@code POST /v1/publish}: reads the body without blocking (413 over {@code maxBodyBytes}),
 * validates the whole batch first (400 {@code invalid_json}, {@code invalid_field}, {@code
 * unknown_field}; 413 {@code message_too_large}, {@code too_many_recipients}), then hands it to the
 * {@link FanOut} and replies with each message's outcome.
 */
public final class PublishHandler implements HttpHandler {
  private static final Set<String> TOP_FIELDS = Set.of("messages");
  private static final Set<String> MESSAGE_FIELDS =
      Set.of("id", "users", "channel", "data", "ttlMs", "conflationKey", "relay");
  private static final int MAX_KEY_LENGTH = 256;

  private final NodeContext node;
  private final FanOut fanOut;

  private final java.util.concurrent.Executor publishThreads;

  /** {@code publishThreads}: where requests are parsed and published (not an IO thread). */
  public PublishHandler(
      NodeContext node, FanOut fanOut, java.util.concurrent.Executor publishThreads) {
    this.node = node;
    this.fanOut = fanOut;
    this.publishThreads = publishThreads;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    BodyReader.read(
        exchange,
        node.config.maxBodyBytes(),
        body ->
            // Issue 11 item 7: parsing, ownership and fan-out run on the publish threads, never
            // on an IO thread that also serves browsers.
            exchange.dispatch(
                publishThreads,
                () -> {
                  try {
                    RawJson.requireUtf8(body);
                    List<FanOut.Item> items = parse(Json.parse(body), RawJson.publishData(body));
                    PublishReply reply = fanOut.reply(items);
                    int[] counts = reply.acceptedCounts();
                    node.ops.published(counts[0], counts[1], counts[2]);
                    Json.send(exchange, 200, reply.toJson());
                  } catch (HttpError e) {
                    Json.sendError(exchange, e);
                  }
                }));
  }

  /** {@code data}: the original text of each message's data ({@link RawJson#publishData}). */
  List<FanOut.Item> parse(JsonNode root, List<byte[]> data) {
    if (!root.isObject()) {
      throw HttpError.invalidField("the body must be an object {\"messages\": [...]}");
    }
    checkFields(root, TOP_FIELDS, -1);
    JsonNode messages = root.get("messages");
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      throw HttpError.invalidField("messages must be a non-empty array");
    }
    List<FanOut.Item> items = new ArrayList<>(messages.size());
    long recipients = 0;
    for (int i = 0; i < messages.size(); i++) {
      FanOut.Item item = parseMessage(messages.get(i), i, i < data.size() ? data.get(i) : null);
      if (item.relay() != null) {
        recipients += item.relay().size();
      }
      if (item.users() != null) {
        recipients += item.users().size();
        if (recipients > node.config.maxRecipientsPerRequest()) {
          throw new HttpError(
              413,
              ErrorCodes.TOO_MANY_RECIPIENTS,
              "more than " + node.config.maxRecipientsPerRequest() + " users in one request");
        }
      }
      items.add(item);
    }
    return items;
  }

  /** Where in the body message {@code i} is, for an error (built only then). */
  private static String where(int i) {
    return "messages[" + i + "]";
  }

  private FanOut.Item parseMessage(JsonNode m, int index, byte[] rawData) {
    if (!m.isObject()) {
      throw HttpError.invalidField(where(index) + " must be an object");
    }
    checkFields(m, MESSAGE_FIELDS, index);
    String id = null;
    JsonNode idNode = m.get("id");
    if (idNode != null) {
      if (!idNode.isTextual()
          || idNode.asText().isEmpty()
          || idNode.asText().length() > MAX_KEY_LENGTH) {
        throw HttpError.invalidField(
            where(index) + ".id must be a string of 1.." + MAX_KEY_LENGTH + " characters");
      }
      id = idNode.asText();
    }
    JsonNode users = m.get("users");
    JsonNode channel = m.get("channel");
    if ((users == null) == (channel == null)) {
      throw HttpError.invalidField(where(index) + " must have exactly one of users or channel");
    }
    List<String> userList = null;
    if (users != null) {
      if (!users.isArray() || users.isEmpty()) {
        throw HttpError.invalidField(where(index) + ".users must be a non-empty array of user IDs");
      }
      userList = new ArrayList<>(users.size());
      for (int j = 0; j < users.size(); j++) {
        JsonNode u = users.get(j);
        if (!u.isTextual() || !Ids.isUserId(u.asText())) {
          throw HttpError.invalidField(
              where(index) + ".users[" + j + "] must be a user ID (1..256 UTF-8 bytes)");
        }
        userList.add(u.asText());
      }
    }
    String channelName = null;
    if (channel != null) {
      if (!channel.isTextual() || !Ids.isChannel(channel.asText())) {
        throw HttpError.invalidField(
            where(index) + ".channel must be 1..128 characters from [A-Za-z0-9_.:@/-]");
      }
      channelName = channel.asText();
    }
    JsonNode data = m.get("data");
    if (data == null) {
      throw HttpError.invalidField(where(index) + ".data is required");
    }
    byte[] bytes = rawData != null ? rawData : FanOut.serialize(data);
    if (bytes.length > node.config.maxMessageBytes()) {
      throw new HttpError(
          413,
          ErrorCodes.MESSAGE_TOO_LARGE,
          where(index)
              + ".data is "
              + bytes.length
              + " bytes, over the limit of "
              + node.config.maxMessageBytes());
    }
    Long ttl = null;
    JsonNode ttlNode = m.get("ttlMs");
    if (ttlNode != null) {
      if (!ttlNode.isIntegralNumber() || !ttlNode.canConvertToLong() || ttlNode.longValue() < 0) {
        throw HttpError.invalidField(where(index) + ".ttlMs must be an integer >= 0");
      }
      ttl = ttlNode.longValue();
    }
    String conflationKey = null;
    JsonNode keyNode = m.get("conflationKey");
    if (keyNode != null) {
      if (!keyNode.isTextual() || keyNode.asText().isEmpty() || keyNode.asText().length() > 128) {
        throw HttpError.invalidField(
            where(index) + ".conflationKey must be a string of 1..128 characters");
      }
      conflationKey = keyNode.asText();
    }
    java.util.Map<String, Object> relay = null;
    JsonNode relayNode = m.get("relay");
    if (relayNode != null) {
      relay = parseRelay(relayNode, index, userList);
    }
    return new FanOut.Item(id, userList, channelName, bytes, ttl, conflationKey, relay);
  }

  /**
   * {@code "relay": {"alice": "<epoch>:<seq>", "bob": null}} (issue 14): per user the old owner's
   * event ID of this message, or null when its outcome is unknown; for a user message, only users
   * of the message.
   */
  private static java.util.Map<String, Object> parseRelay(
      JsonNode relay, int index, List<String> users) {
    if (!relay.isObject() || relay.isEmpty()) {
      throw HttpError.invalidField(
          where(index) + ".relay must be a non-empty object of user IDs to event IDs or null");
    }
    java.util.Map<String, Object> out = new java.util.LinkedHashMap<>();
    for (Iterator<java.util.Map.Entry<String, JsonNode>> it = relay.fields(); it.hasNext(); ) {
      java.util.Map.Entry<String, JsonNode> e = it.next();
      String u = e.getKey();
      if (!Ids.isUserId(u)) {
        throw HttpError.invalidField(where(index) + ".relay has a key that is not a user ID");
      }
      if (users != null && !users.contains(u)) {
        throw HttpError.invalidField(
            where(index) + ".relay." + u + " is not one of the message's users");
      }
      JsonNode v = e.getValue();
      if (v.isNull()) {
        out.put(u, dev.halley.node.stream.Handoff.UNKNOWN_POSITION);
      } else if (v.isTextual()) {
        try {
          out.put(u, dev.halley.node.wire.EventCodec.parseId(v.asText()));
        } catch (HttpError bad) {
          throw HttpError.invalidField(
              where(index) + ".relay." + u + " must be an event ID <epoch>:<seq> or null");
        }
      } else {
        throw HttpError.invalidField(
            where(index) + ".relay." + u + " must be an event ID <epoch>:<seq> or null");
      }
    }
    return out;
  }

  /** {@code index}: the message whose fields these are, or -1 for the top level. */
  private static void checkFields(JsonNode object, Set<String> allowed, int index) {
    for (Iterator<String> it = object.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      if (!allowed.contains(name)) {
        String prefix = index < 0 ? "" : where(index) + ".";
        throw new HttpError(
            400,
            ErrorCodes.UNKNOWN_FIELD,
            "unknown field "
                + prefix
                + name
                + " (allowed: "
                + String.join(", ", new java.util.TreeSet<>(allowed))
                + ")");
      }
    }
  }

  @Override
  public String toString() {
    return "PublishHandler(POST /v1/publish)";
  }
}
