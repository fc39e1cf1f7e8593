package dev.halley.node.publish;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Ids;
import dev.halley.node.wire.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * {@link PublishBody} (one streaming pass) answers every body exactly as the tree parse it
 * replaced: the same messages, or the same status, code and message. The tree parse is kept below
 * as it was ({@code Json.parse}, then the handler's validation, then {@code RawJson.publishData}
 * for the data's original text) as the reference.
 */
class PublishBodyTest {
  private static final int MAX_MESSAGE_BYTES = 64;
  private static final int MAX_RECIPIENTS = 6;

  private static final List<String> CASES =
      List.of(
          "",
          "  ",
          "null",
          "[]",
          "{}",
          "7",
          "{\"messages\": []}",
          "{\"messages\": {}}",
          "{\"messages\": [1]}",
          "{\"messages\": [], \"messages\": []}",
          "{\"x\": 1, \"messages\": [{\"users\": [\"a\"], \"data\": 1}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1}], \"x\": 1}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"priority\": 9, \"p2\": 1}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1}]} {}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1}]} x",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"x\": {\"y\": 1, \"y\": 2}}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": {\"a\": 1, \"b\": 2, \"c\": 3,"
              + " \"d\": {\"e\": [{\"f\": 1, \"f\": 2}]}}}]}",
          "{\"messages\": [{\"users\": [\"a\", \"b\"], \"data\": 1}, {\"users\": [\"c\","
              + " \"d\", \"e\", \"f\", \"g\"], \"data\": 2}]}",
          "{\"messages\": [{\"users\": \"bob\", \"data\": 1}]}",
          "{\"messages\": [{\"users\": [1], \"data\": 1}]}",
          "{\"messages\": [{\"users\": [], \"data\": 1}]}",
          "{\"messages\": [{\"users\": [\"\"], \"data\": 1}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"channel\": \"c\", \"data\": 1}]}",
          "{\"messages\": [{\"data\": 1}]}",
          "{\"messages\": [{\"channel\": \"bad channel\", \"data\": 1}]}",
          "{\"messages\": [{\"channel\": 5, \"data\": 1}]}",
          "{\"messages\": [{\"channel\": \"room.1\", \"data\": {\"t\": \"hi \\\" there\"}}]}",
          "{\"messages\": [{\"users\": [\"a\"]}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": null}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": \"%s\"}]}".formatted("x".repeat(70)),
          "{\"messages\": [{\"users\": [\"a\"], \"data\": [1, 2 , {\"k\" : 1e400}]}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 0.1000000000000000055511151231257827}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"ttlMs\": -5}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"ttlMs\": \"5\"}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"ttlMs\": 5.0}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"ttlMs\": 99999999999999999999}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"ttlMs\": 0}]}",
          "{\"messages\": [{\"id\": 7, \"users\": [\"a\"], \"data\": 1}]}",
          "{\"messages\": [{\"id\": \"\", \"users\": [\"a\"], \"data\": 1}]}",
          "{\"messages\": [{\"id\": \"m1\", \"users\": [\"a\"], \"data\": 1}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"conflationKey\": \"\"}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"conflationKey\": \"k\"}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"relay\": {}}]}",
          "{\"messages\": [{\"channel\": \"r\", \"data\": 1, \"relayIncomplete\": true}]}",
          "{\"messages\": [{\"channel\": \"r\", \"data\": 1, \"relayIncomplete\": false}]}",
          "{\"messages\": [{\"channel\": \"r\", \"data\": 1, \"relayIncomplete\": 1}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"relayIncomplete\": true}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"relay\": []}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"relay\": {\"b\": null}}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"relay\": {\"a\": 3}}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"relay\": {\"a\": \"x\"}}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"relay\": {\"a\": null}}]}",
          "{\"messages\": [{\"users\": [\"a\", \"b\"], \"data\": 1, \"relay\":"
              + " {\"a\": \"0123456789abcdef:17\", \"b\": null}}]}",
          "{\"messages\": [{\"channel\": \"c\", \"data\": 1, \"relay\":"
              + " {\"z\": \"0123456789abcdef:17\", \"z\": null}}]}",
          "{\"messages\": [{\"channel\": \"c\", \"data\": 1, \"relay\": {\"\": null}}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1}, 5, {\"users\": 1}]}",
          "{\"messages\": [{\"users\": [\"a\"], \"data\": 1}, {\"users\": 1}, {\"users\":");

  @Test
  void answersEveryHandWrittenBodyAsTheTreeParseDid() {
    for (String body : CASES) {
      same(body);
    }
  }

  /** A repeated key is found in objects of any size (past the linear search's 16 keys too). */
  @Test
  void findsARepeatedKeyInALargeObject() {
    StringBuilder data = new StringBuilder("{");
    for (int i = 0; i < 40; i++) {
      data.append("\"k").append(i).append("\": ").append(i).append(", ");
    }
    String ok = data + "\"last\": {\"k1\": 1}}";
    String repeated = data + "\"k3\": 0}";
    same("{\"messages\": [{\"users\": [\"a\"], \"data\": " + ok + "}]}");
    HttpError e = same("{\"messages\": [{\"users\": [\"a\"], \"data\": " + repeated + "}]}");
    assertEquals("the body is not JSON: Duplicate field 'k3'", e.getMessage());
  }

  /**
   * Bodies made from valid ones by cutting, repeating and replacing pieces: every kind of error
   * meets every other, in every order.
   */
  @Test
  void answersTwentyThousandMutatedBodiesAsTheTreeParseDid() {
    String[] pieces = {
      "{",
      "}",
      "[",
      "]",
      ",",
      ":",
      "\"users\"",
      "\"channel\"",
      "\"data\"",
      "\"id\"",
      "\"ttlMs\"",
      "\"relay\"",
      "\"relayIncomplete\"",
      "\"conflationKey\"",
      "\"messages\"",
      "\"x\"",
      "1",
      "-1",
      "1.5",
      "null",
      "true",
      "\"a\"",
      "\"\"",
      "\"room.1\"",
      "\"0123456789abcdef:3\"",
      " "
    };
    List<String> seeds = new ArrayList<>();
    for (String c : CASES) {
      if (c.startsWith("{\"messages\": [{")) {
        seeds.add(c);
      }
    }
    Random random = new Random(20261202);
    int accepted = 0;
    for (int n = 0; n < 20_000; n++) {
      StringBuilder b = new StringBuilder(seeds.get(random.nextInt(seeds.size())));
      int edits = 1 + random.nextInt(3);
      for (int k = 0; k < edits; k++) {
        int at = random.nextInt(b.length() + 1);
        switch (random.nextInt(3)) {
          case 0 -> b.insert(at, pieces[random.nextInt(pieces.length)]);
          case 1 -> b.delete(at, Math.min(b.length(), at + 1 + random.nextInt(6)));
          default -> {
            int end = Math.min(b.length(), at + 1 + random.nextInt(4));
            b.replace(at, end, pieces[random.nextInt(pieces.length)]);
          }
        }
      }
      if (same(b.toString()) == null) {
        accepted++;
      }
    }
    assertTrue(accepted > 100, "some mutated bodies are still valid publishes: " + accepted);
  }

  /** Both parses agree on {@code body}; returns the error both gave, or null when both accepted. */
  private static HttpError same(String body) {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    List<FanOut.Item> expected = null;
    HttpError expectedError = null;
    try {
      expected = TreeParse.parse(Json.parse(bytes), TreeParse.publishData(bytes));
    } catch (HttpError e) {
      expectedError = e;
    }
    List<FanOut.Item> actual = null;
    HttpError actualError = null;
    try {
      actual = PublishBody.parse(bytes, MAX_MESSAGE_BYTES, MAX_RECIPIENTS);
    } catch (HttpError e) {
      actualError = e;
    }
    if (expectedError != null || actualError != null) {
      assertEquals(describe(expectedError), describe(actualError), body);
      return actualError;
    }
    assertEquals(expected.size(), actual.size(), body);
    for (int i = 0; i < expected.size(); i++) {
      FanOut.Item e = expected.get(i);
      FanOut.Item a = actual.get(i);
      assertEquals(e.id(), a.id(), body);
      assertEquals(e.users(), a.users(), body);
      assertEquals(e.channel(), a.channel(), body);
      assertArrayEquals(e.data(), a.data(), body);
      assertEquals(e.ttlMs(), a.ttlMs(), body);
      assertEquals(e.conflationKey(), a.conflationKey(), body);
      assertEquals(e.relay(), a.relay(), body);
      assertEquals(e.relayIncomplete(), a.relayIncomplete(), body);
    }
    return null;
  }

  private static String describe(HttpError e) {
    return e == null ? "accepted" : e.status() + " " + e.code() + " " + e.getMessage();
  }

  /** The replaced tree parse, as it was (PublishHandler and RawJson before the streaming pass). */
  private static final class TreeParse {
    private static final Set<String> TOP_FIELDS = Set.of("messages");
    private static final Set<String> MESSAGE_FIELDS =
        Set.of(
            "id", "users", "channel", "data", "ttlMs", "conflationKey", "relay", "relayIncomplete");
    private static final int MAX_KEY_LENGTH = 256;

    /** {@code data}: the original text of each message's data ({@link RawJson#publishData}). */
    static List<FanOut.Item> parse(JsonNode root, List<byte[]> data) {
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
          if (recipients > MAX_RECIPIENTS) {
            throw new HttpError(
                413,
                ErrorCodes.TOO_MANY_RECIPIENTS,
                "more than " + MAX_RECIPIENTS + " users in one request");
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

    private static FanOut.Item parseMessage(JsonNode m, int index, byte[] rawData) {
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
          throw HttpError.invalidField(
              where(index) + ".users must be a non-empty array of user IDs");
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
      byte[] bytes = rawData != null ? rawData : Json.bytes(data);
      if (bytes.length > MAX_MESSAGE_BYTES) {
        throw new HttpError(
            413,
            ErrorCodes.MESSAGE_TOO_LARGE,
            where(index)
                + ".data is "
                + bytes.length
                + " bytes, over the limit of "
                + MAX_MESSAGE_BYTES);
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
      JsonNode incomplete = m.get("relayIncomplete");
      if (incomplete != null && (!incomplete.isBoolean() || channelName == null)) {
        throw HttpError.invalidField(
            where(index) + ".relayIncomplete must be true or false, on a channel message");
      }
      return new FanOut.Item(
          id,
          userList,
          channelName,
          bytes,
          ttl,
          conflationKey,
          relay,
          incomplete != null && incomplete.booleanValue());
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

    /**
     * The compact original text of {@code messages[i].data} for every message of a publish body
     * that has already been parsed and validated as JSON (null where a message has no data).
     */
    static List<byte[]> publishData(byte[] body) {
      List<byte[]> out = new ArrayList<>(16);
      try (JsonParser p = Json.MAPPER.createParser(body)) {
        // The body was parsed strictly already (duplicate keys refused): this pass only finds
        // spans.
        p.disable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
        if (p.nextToken() != JsonToken.START_OBJECT) {
          return out; // not a publish body: the validation names the problem
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String field = p.currentName();
          JsonToken t = p.nextToken();
          if (!field.equals("messages") || t != JsonToken.START_ARRAY) {
            p.skipChildren();
            continue;
          }
          while (p.nextToken() != JsonToken.END_ARRAY) {
            byte[] data = null;
            if (p.currentToken() == JsonToken.START_OBJECT) {
              while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                if (name.equals("data")) {
                  int start = (int) p.currentTokenLocation().getByteOffset();
                  data = RawJson.compactValue(body, start);
                }
                p.skipChildren();
              }
            } else {
              p.skipChildren();
            }
            out.add(data);
          }
        }
      } catch (IOException e) {
        throw new HttpError(400, ErrorCodes.INVALID_JSON, "the body is not JSON");
      }
      return out;
    }
  }
}
