package dev.halley.node.publish;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import dev.halley.node.stream.Handoff;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.EventCodec;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Ids;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads a {@code POST /v1/publish} body in one streaming pass into validated {@link FanOut.Item}s,
 * without building a JSON tree: each message's {@code data} is kept as the compact original text of
 * its span ({@link RawJson#compactValue}).
 *
 * <p>It answers exactly as a strict tree parse followed by validation would: a body that is not
 * JSON (a syntax error, a repeated key at any depth, a trailing token) is 400 {@code invalid_json}
 * wherever the problem is, ahead of any field error; then the top level ({@code unknown_field},
 * {@code messages}), then the messages in order, each checked field by field in a fixed order
 * (unknown fields, {@code id}, {@code users}/{@code channel}, {@code data} and its size, {@code
 * ttlMs}, {@code conflationKey}, {@code relay}) and the recipients counted after each. So the first
 * field error is kept while the rest of the body is still read for syntax. {@code PublishBodyTest}
 * compares it with such a tree parse on many bodies.
 *
 * <p>One instance per parse, confined to the publish thread that runs it.
 */
final class PublishBody {
  private static final Set<String> TOP_FIELDS = Set.of("messages");
  private static final Set<String> MESSAGE_FIELDS =
      Set.of(
          "id", "users", "channel", "data", "ttlMs", "conflationKey", "relay", "relayIncomplete");
  private static final int MAX_KEY_LENGTH = 256;

  /** Plain: repeated keys are found by {@link Names}, which allocates nothing per object. */
  private static final JsonFactory FACTORY = new JsonFactory();

  private final JsonParser p;
  private final byte[] body;
  private final int maxMessageBytes;
  private final long maxRecipients;
  private final Names names = Names.forThread();

  private final List<FanOut.Item> items = new ArrayList<>();
  private long recipients;
  private String unknownTop; // the first unknown top-level field
  private HttpError messagesError; // "messages" missing or not a non-empty array
  private boolean messagesSeen;
  private HttpError firstMessageError; // the first error of a message, in order

  private PublishBody(JsonParser p, byte[] body, int maxMessageBytes, long maxRecipients) {
    this.p = p;
    this.body = body;
    this.maxMessageBytes = maxMessageBytes;
    this.maxRecipients = maxRecipients;
  }

  /**
   * The validated messages of {@code body} (already checked to be UTF-8).
   *
   * @throws HttpError 400 {@code invalid_json}, {@code invalid_field}, {@code unknown_field}; 413
   *     {@code message_too_large}, {@code too_many_recipients}
   */
  static List<FanOut.Item> parse(byte[] body, int maxMessageBytes, long maxRecipients) {
    try (JsonParser p = FACTORY.createParser(body)) {
      return new PublishBody(p, body, maxMessageBytes, maxRecipients).read();
    } catch (JsonProcessingException e) {
      throw notJson(e.getOriginalMessage());
    } catch (IOException e) {
      throw notJson(e.getMessage());
    }
  }

  private static HttpError notJson(String detail) {
    return new HttpError(400, ErrorCodes.INVALID_JSON, "the body is not JSON: " + detail);
  }

  private List<FanOut.Item> read() throws IOException {
    JsonToken t = p.nextToken();
    if (t == null) {
      throw new HttpError(400, ErrorCodes.INVALID_JSON, "the body is empty");
    }
    boolean object = t == JsonToken.START_OBJECT;
    if (object) {
      readTop();
    } else {
      skip(t);
    }
    JsonToken trailing = p.nextToken();
    if (trailing != null) {
      throw notJson(
          "Trailing token (of type "
              + trailing
              + ") found after value (bound as `com.fasterxml.jackson.databind.JsonNode`): not"
              + " allowed as per `DeserializationFeature.FAIL_ON_TRAILING_TOKENS`");
    }
    if (!object) {
      throw HttpError.invalidField("the body must be an object {\"messages\": [...]}");
    }
    if (unknownTop != null) {
      throw unknownField(unknownTop, TOP_FIELDS, -1);
    }
    if (!messagesSeen || messagesError != null) {
      throw HttpError.invalidField("messages must be a non-empty array");
    }
    if (firstMessageError != null) {
      throw firstMessageError;
    }
    return items;
  }

  private void readTop() throws IOException {
    names.open();
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = names.add(p.currentName());
      JsonToken t = p.nextToken();
      if (name.equals("messages")) {
        messagesSeen = true;
        if (t == JsonToken.START_ARRAY) {
          readMessages();
          continue;
        }
        messagesError = HttpError.invalidField("messages must be a non-empty array");
      } else if (unknownTop == null) {
        unknownTop = name;
      }
      skip(t);
    }
    names.close();
  }

  private void readMessages() throws IOException {
    int index = 0;
    for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken(), index++) {
      if (t == JsonToken.START_OBJECT) {
        Fields f = readMessage();
        if (firstMessageError == null) {
          try {
            add(f.validate(index));
          } catch (HttpError e) {
            firstMessageError = e;
          }
        }
      } else {
        skip(t);
        if (firstMessageError == null) {
          firstMessageError = HttpError.invalidField(where(index) + " must be an object");
        }
      }
    }
    if (index == 0) {
      messagesError = HttpError.invalidField("messages must be a non-empty array");
    }
  }

  private void add(FanOut.Item item) {
    if (item.relay() != null) {
      recipients += item.relay().size();
    }
    if (item.users() != null) {
      recipients += item.users().size();
      if (recipients > maxRecipients) {
        throw new HttpError(
            413,
            ErrorCodes.TOO_MANY_RECIPIENTS,
            "more than " + maxRecipients + " users in one request");
      }
    }
    items.add(item);
  }

  /** The fields of one message object as read, checked only by {@link Fields#validate}. */
  private final class Fields {
    String unknown;
    JsonToken idToken;
    String id;
    JsonToken usersToken;
    List<String> users; // a null element: not a string
    JsonToken channelToken;
    String channel;
    int dataStart = -1; // where data's value starts in the body
    JsonToken ttlToken;
    boolean ttlInLong;
    long ttl;
    JsonToken keyToken;
    String key;
    JsonToken relayToken;
    List<Object[]> relay; // {user, token, text}
    JsonToken incompleteToken;

    FanOut.Item validate(int index) {
      if (unknown != null) {
        throw unknownField(unknown, MESSAGE_FIELDS, index);
      }
      if (idToken != null
          && (idToken != JsonToken.VALUE_STRING || id.isEmpty() || id.length() > MAX_KEY_LENGTH)) {
        throw HttpError.invalidField(
            where(index) + ".id must be a string of 1.." + MAX_KEY_LENGTH + " characters");
      }
      if ((usersToken == null) == (channelToken == null)) {
        throw HttpError.invalidField(where(index) + " must have exactly one of users or channel");
      }
      if (usersToken != null) {
        if (usersToken != JsonToken.START_ARRAY || users.isEmpty()) {
          throw HttpError.invalidField(
              where(index) + ".users must be a non-empty array of user IDs");
        }
        for (int j = 0; j < users.size(); j++) {
          if (!Ids.isUserId(users.get(j))) {
            throw HttpError.invalidField(
                where(index) + ".users[" + j + "] must be a user ID (1..256 UTF-8 bytes)");
          }
        }
      }
      if (channelToken != null
          && (channelToken != JsonToken.VALUE_STRING || !Ids.isChannel(channel))) {
        throw HttpError.invalidField(
            where(index) + ".channel must be 1..128 characters from [A-Za-z0-9_.:@/-]");
      }
      if (dataStart < 0) {
        throw HttpError.invalidField(where(index) + ".data is required");
      }
      // Only now: the message's closing brace was read, so the parser has checked the value to
      // its end (a string token is read to its closing quote only when the parser moves on).
      byte[] data = RawJson.compactValue(body, dataStart);
      if (data.length > maxMessageBytes) {
        throw new HttpError(
            413,
            ErrorCodes.MESSAGE_TOO_LARGE,
            where(index)
                + ".data is "
                + data.length
                + " bytes, over the limit of "
                + maxMessageBytes);
      }
      if (ttlToken != null && (ttlToken != JsonToken.VALUE_NUMBER_INT || !ttlInLong || ttl < 0)) {
        throw HttpError.invalidField(where(index) + ".ttlMs must be an integer >= 0");
      }
      if (keyToken != null
          && (keyToken != JsonToken.VALUE_STRING || key.isEmpty() || key.length() > 128)) {
        throw HttpError.invalidField(
            where(index) + ".conflationKey must be a string of 1..128 characters");
      }
      Map<String, Object> relayMap = relayToken == null ? null : relay(index);
      if (incompleteToken != null
          && ((incompleteToken != JsonToken.VALUE_TRUE && incompleteToken != JsonToken.VALUE_FALSE)
              || channelToken == null)) {
        throw HttpError.invalidField(
            where(index) + ".relayIncomplete must be true or false, on a channel message");
      }
      return new FanOut.Item(
          id,
          users,
          channelToken == null ? null : channel,
          data,
          ttlToken == null ? null : ttl,
          key,
          relayMap,
          incompleteToken == JsonToken.VALUE_TRUE);
    }

    /**
     * {@code "relay": {"alice": "<epoch>:<seq>", "bob": null}} (issue 14): per user the old owner's
     * event ID of this message, or null when its outcome is unknown; for a user message, only users
     * of the message.
     */
    private Map<String, Object> relay(int index) {
      if (relayToken != JsonToken.START_OBJECT || relay.isEmpty()) {
        throw HttpError.invalidField(
            where(index) + ".relay must be a non-empty object of user IDs to event IDs or null");
      }
      Map<String, Object> out = new LinkedHashMap<>();
      for (Object[] e : relay) {
        String u = (String) e[0];
        if (!Ids.isUserId(u)) {
          throw HttpError.invalidField(where(index) + ".relay has a key that is not a user ID");
        }
        if (users != null && !users.contains(u)) {
          throw HttpError.invalidField(
              where(index) + ".relay." + u + " is not one of the message's users");
        }
        if (e[1] == JsonToken.VALUE_NULL) {
          out.put(u, Handoff.UNKNOWN_POSITION);
        } else if (e[1] == JsonToken.VALUE_STRING) {
          try {
            out.put(u, EventCodec.parseId((String) e[2]));
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
  }

  private Fields readMessage() throws IOException {
    Fields f = new Fields();
    names.open();
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = names.add(p.currentName());
      JsonToken t = p.nextToken();
      switch (name) {
        case "id" -> {
          f.idToken = t;
          f.id = text(t);
        }
        case "users" -> {
          f.usersToken = t;
          if (t == JsonToken.START_ARRAY) {
            f.users = strings();
            continue;
          }
        }
        case "channel" -> {
          f.channelToken = t;
          f.channel = text(t);
        }
        case "data" -> {
          f.dataStart = (int) p.currentTokenLocation().getByteOffset();
        }
        case "ttlMs" -> {
          f.ttlToken = t;
          if (t == JsonToken.VALUE_NUMBER_INT
              && p.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
            f.ttlInLong = true;
            f.ttl = p.getLongValue();
          }
        }
        case "conflationKey" -> {
          f.keyToken = t;
          f.key = text(t);
        }
        case "relayIncomplete" -> f.incompleteToken = t;
        case "relay" -> {
          f.relayToken = t;
          if (t == JsonToken.START_OBJECT) {
            f.relay = relayEntries();
            continue;
          }
        }
        default -> {
          if (f.unknown == null) {
            f.unknown = name;
          }
        }
      }
      skip(t);
    }
    names.close();
    return f;
  }

  private String text(JsonToken t) throws IOException {
    return t == JsonToken.VALUE_STRING ? p.getText() : null;
  }

  /** The elements of the array just opened: strings as they are, anything else as null. */
  private List<String> strings() throws IOException {
    List<String> out = new ArrayList<>(4);
    for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
      if (t == JsonToken.VALUE_STRING) {
        out.add(p.getText());
      } else {
        out.add(null);
        skip(t);
      }
    }
    return out;
  }

  private List<Object[]> relayEntries() throws IOException {
    List<Object[]> out = new ArrayList<>(4);
    names.open();
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String user = names.add(p.currentName());
      JsonToken t = p.nextToken();
      out.add(new Object[] {user, t, text(t)});
      skip(t);
    }
    names.close();
    return out;
  }

  /** Reads past the value that starts with {@code t}, checking its objects for repeated keys. */
  private void skip(JsonToken t) throws IOException {
    if (t == JsonToken.START_ARRAY) {
      for (JsonToken e = p.nextToken(); e != JsonToken.END_ARRAY; e = p.nextToken()) {
        skip(e);
      }
    } else if (t == JsonToken.START_OBJECT) {
      names.open();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        names.add(p.currentName());
        skip(p.nextToken());
      }
      names.close();
    }
  }

  private static HttpError unknownField(String name, Set<String> allowed, int index) {
    String prefix = index < 0 ? "" : where(index) + ".";
    return new HttpError(
        400,
        ErrorCodes.UNKNOWN_FIELD,
        "unknown field "
            + prefix
            + name
            + " (allowed: "
            + String.join(", ", new TreeSet<>(allowed))
            + ")");
  }

  /** Where in the body message {@code i} is, for an error (built only then). */
  private static String where(int i) {
    return "messages[" + i + "]";
  }

  /**
   * The keys of every object open on the path being read, to refuse a repeated key as a tree parse
   * would ({@code Duplicate field 'x'}). Small objects are searched linearly in one shared array;
   * an object with many keys gets a set. Nothing is allocated per object once the arrays have
   * grown, nor per request: each publish thread keeps its one instance ({@link #forThread}),
   * emptied at the start of each parse (a parse that failed half-way left it open).
   */
  private static final class Names {
    private static final int LINEAR = 16;

    /** Arrays grown past these by one body are replaced at the next parse, not kept. */
    private static final int KEEP_KEYS = 1024;

    private static final int KEEP_DEPTH = 64;

    private static final ThreadLocal<Names> CURRENT = ThreadLocal.withInitial(Names::new);

    private String[] keys = new String[32];
    private int size;
    private int[] starts = new int[8];
    private Set<?>[] sets = new Set<?>[8];
    private int depth;

    /** This thread's instance, empty. */
    static Names forThread() {
      Names n = CURRENT.get();
      if (n.keys.length > KEEP_KEYS) {
        n.keys = new String[32]; // the keys past size are never read again, only overwritten
      }
      if (n.starts.length > KEEP_DEPTH) {
        n.starts = new int[8];
        n.sets = new Set<?>[8];
      } else {
        java.util.Arrays.fill(n.sets, 0, n.depth, null);
      }
      n.size = 0;
      n.depth = 0;
      return n;
    }

    void open() {
      if (depth == starts.length) {
        starts = java.util.Arrays.copyOf(starts, depth * 2);
        sets = java.util.Arrays.copyOf(sets, depth * 2);
      }
      starts[depth] = size;
      sets[depth] = null;
      depth++;
    }

    void close() {
      depth--;
      size = starts[depth];
      sets[depth] = null;
    }

    /** {@code key}, once it is known not to repeat one of its object. */
    @SuppressWarnings("unchecked")
    String add(String key) throws JsonProcessingException {
      int level = depth - 1;
      Set<String> set = (Set<String>) sets[level];
      if (set != null) {
        if (!set.add(key)) {
          throw repeated(key);
        }
        return key;
      }
      int start = starts[level];
      for (int i = start; i < size; i++) {
        if (keys[i].equals(key)) {
          throw repeated(key);
        }
      }
      if (size - start == LINEAR) {
        set = new HashSet<>();
        for (int i = start; i < size; i++) {
          set.add(keys[i]);
        }
        set.add(key);
        sets[level] = set;
        return key;
      }
      if (size == keys.length) {
        keys = java.util.Arrays.copyOf(keys, size * 2);
      }
      keys[size++] = key;
      return key;
    }

    private static JsonProcessingException repeated(String key) {
      return new JsonProcessingException("Duplicate field '" + key + "'") {};
    }
  }
}
