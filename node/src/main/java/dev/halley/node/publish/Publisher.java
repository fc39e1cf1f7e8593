package dev.halley.node.publish;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.UserStream;
import dev.halley.node.wire.Json;
import dev.halley.node.wire.Message;
import dev.halley.node.wire.PublishStatus;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * Delivers validated publish requests: each message is serialized once into a shared {@link
 * Message} and appended to each recipient's {@link UserStream} (which queues the same reference on
 * every live connection). Never blocks; runs on the calling (IO) thread.
 */
public final class Publisher {
  /** One validated message of a publish request. */
  record Item(String id, List<String> users, String channel, byte[] data, Long ttlMs) {}

  private final NodeContext node;
  private final Idempotency idempotency;

  public Publisher(NodeContext node) {
    this.node = node;
    this.idempotency =
        new Idempotency(
            node.config.idempotencyWindowMs(), node.config.idempotencyMaxKeys(), node.clock);
  }

  /** Publishes every item in order; returns the reply body. */
  ObjectNode publish(List<Item> items) {
    ObjectNode reply = Json.MAPPER.createObjectNode();
    reply.put("node", node.nodeId);
    reply.put("mapVersion", node.map().version());
    ArrayNode results = reply.putArray("results");
    for (Item item : items) {
      results.add(publishOne(item));
    }
    return reply;
  }

  private ObjectNode publishOne(Item item) {
    if (item.id() != null) {
      ObjectNode first = idempotency.reserve(item.id());
      if (first != null) {
        ObjectNode dup = first.deepCopy();
        dup.put("id", item.id());
        dup.put("status", PublishStatus.DUPLICATE);
        return dup;
      }
    }
    ObjectNode result = Json.MAPPER.createObjectNode();
    if (item.id() != null) {
      result.put("id", item.id());
    }
    result.put("status", PublishStatus.ACCEPTED);
    long now = node.clock.millis();
    long expires = item.ttlMs() == null ? Long.MAX_VALUE : saturatedAdd(now, item.ttlMs());
    if (item.channel() != null) {
      Message m = new Message(tail(item.data(), item.channel()), now, expires);
      int users = 0;
      long connections = 0;
      for (UserStream s : node.streams.subscribers(item.channel())) {
        int n = s.publish(m, now);
        if (n >= 0) {
          users++;
          connections += n;
        }
      }
      result.put("channel", item.channel());
      result.put("users", users);
      result.put("connections", connections);
    } else {
      Message m = new Message(tail(item.data(), null), now, expires);
      ArrayNode delivered = Json.MAPPER.createArrayNode();
      ArrayNode buffered = Json.MAPPER.createArrayNode();
      ArrayNode misdirected = Json.MAPPER.createArrayNode();
      long connections = 0;
      for (String user : new LinkedHashSet<>(item.users())) {
        if (!node.owns(user)) {
          misdirected.add(user);
          continue;
        }
        int n = deliver(user, m, now);
        if (n > 0) {
          delivered.add(user);
          connections += n;
        } else if (n == 0) {
          buffered.add(user);
        }
      }
      result.put("connections", connections);
      result.set("delivered", delivered);
      result.set("buffered", buffered);
      result.set("misdirected", misdirected);
    }
    if (item.id() != null) {
      idempotency.complete(item.id(), result);
    }
    return result;
  }

  /** Connections written to; 0 if buffered; -1 if live-only and the user has no stream. */
  private int deliver(String user, Message m, long now) {
    while (true) {
      UserStream s = m.liveOnly() ? node.streams.get(user) : node.streams.getOrCreate(user);
      if (s == null) {
        return -1;
      }
      int n = s.publish(m, now);
      if (n >= 0) {
        return n == 0 && m.liveOnly() ? -1 : n;
      }
    }
  }

  /** The shared bytes after {@code "data":}: the data, the channel field, the closing brace. */
  private static byte[] tail(byte[] data, String channel) {
    byte[] suffix =
        (channel == null ? "}" : ",\"channel\":\"" + channel + "\"}")
            .getBytes(StandardCharsets.US_ASCII);
    byte[] t = new byte[data.length + suffix.length];
    System.arraycopy(data, 0, t, 0, data.length);
    System.arraycopy(suffix, 0, t, data.length, suffix.length);
    return t;
  }

  private static long saturatedAdd(long a, long b) {
    long r = a + b;
    return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
  }

  /** Serializes a data value compactly (once per message). */
  static byte[] serialize(JsonNode data) {
    return Json.bytes(data);
  }
}
