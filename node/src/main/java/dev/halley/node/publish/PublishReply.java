package dev.halley.node.publish;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonSerializable;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.jsontype.TypeSerializer;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.wire.Json;
import dev.halley.node.wire.PublishStatus;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The reply to one publish request ({@code {"node", "mapVersion", ["pendingMapVersion",] "results":
 * [...]}}, docs/protocol.md), written straight to JSON bytes: a user message's result is kept as
 * its outcome codes and written from them, instead of a tree of an object and five arrays per
 * message (the unicast path's main allocation). Channel and {@code pending} results, which are
 * small and per channel message, stay trees. Built and written by one publish thread.
 *
 * <p>{@link #toJson} writes the bytes itself into the publish thread's scratch array ({@link
 * ReplyBytes}) and copies out only the reply, without a Jackson generator, its contexts and its
 * segmented output (most of a unicast request's reply cost). Its bytes are those of {@link
 * #toJsonByJackson} (the writer it replaced, kept as the reference): a string that is not plain
 * printable ASCII, and a tree result, is encoded by Jackson itself; {@code PublishReplyTest}
 * compares both on many generated replies.
 */
final class PublishReply implements JsonSerializable {
  /** One message's result. */
  interface Result {
    String status();

    /** Users of this result in {@code buffered} / {@code misdirected} (for the metrics). */
    int buffered();

    int misdirected();

    void write(JsonGenerator g) throws IOException;

    /** The same bytes as {@link #write(JsonGenerator)}, into {@code out}. */
    void write(ReplyBytes out);
  }

  private final String node;
  private final int mapVersion;
  private final int pendingMapVersion; // -1: none
  private final List<Result> results = new ArrayList<>();

  PublishReply(String node, int mapVersion, int pendingMapVersion) {
    this.node = node;
    this.mapVersion = mapVersion;
    this.pendingMapVersion = pendingMapVersion;
  }

  void add(Result r) {
    results.add(r);
  }

  List<Result> results() {
    return results;
  }

  /** The reply's JSON bytes, written without a generator (see the class comment). */
  byte[] toJson() {
    return write(ReplyBytes.forThread()).copy();
  }

  /**
   * Answers {@code exchange} with 200 and this reply, sent from a buffer of the connection's pool
   * ({@link ReplyBytes#send}): no array of the reply's size per request.
   */
  void send(io.undertow.server.HttpServerExchange exchange) {
    write(ReplyBytes.forThread()).send(exchange, 200);
  }

  private ReplyBytes write(ReplyBytes out) {
    out.ascii("{\"node\":").string(node).ascii(",\"mapVersion\":").number(mapVersion);
    if (pendingMapVersion >= 0) {
      out.ascii(",\"pendingMapVersion\":").number(pendingMapVersion);
    }
    out.ascii(",\"results\":[");
    for (int i = 0; i < results.size(); i++) {
      if (i > 0) {
        out.ascii(",");
      }
      results.get(i).write(out);
    }
    return out.ascii("]}");
  }

  /** The reply as Jackson's generator writes it (the reference for {@link #toJson}). */
  byte[] toJsonByJackson() {
    try {
      return Json.MAPPER.writeValueAsBytes(this);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void serialize(JsonGenerator g, SerializerProvider provider) throws IOException {
    g.writeStartObject();
    g.writeStringField("node", node);
    g.writeNumberField("mapVersion", mapVersion);
    if (pendingMapVersion >= 0) {
      g.writeNumberField("pendingMapVersion", pendingMapVersion);
    }
    g.writeArrayFieldStart("results");
    for (Result r : results) {
      r.write(g);
    }
    g.writeEndArray();
    g.writeEndObject();
  }

  @Override
  public void serializeWithType(
      JsonGenerator g, SerializerProvider provider, TypeSerializer typeSer) throws IOException {
    serialize(g, provider);
  }

  /** The reply as a tree (tests). */
  ObjectNode toTree() {
    try {
      return (ObjectNode) Json.MAPPER.readTree(toJson());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A result built as a tree (channel messages, {@code pending} answers). */
  record Tree(ObjectNode node) implements Result {
    @Override
    public String status() {
      return node.path("status").asText();
    }

    @Override
    public int buffered() {
      return node.path("buffered").size();
    }

    @Override
    public int misdirected() {
      return node.path("misdirected").size();
    }

    @Override
    public void write(JsonGenerator g) throws IOException {
      g.writeTree(node);
    }

    @Override
    public void write(ReplyBytes out) {
      out.jackson(node);
    }
  }

  /**
   * A user message's result: {@code id}, {@code status}, {@code connections}, then each user (in
   * the message's order, repeats removed) in the array of its outcome code ({@code delivered},
   * {@code buffered}, {@code dropped}, {@code misdirected}, {@code pending}), then {@code
   * positions} if there are any.
   */
  static final class Users implements Result {
    private static final String[] ARRAYS = {
      "delivered", "buffered", "dropped", "misdirected", "pending"
    };

    private final String id;
    private final List<String> users;
    private final int[] outcomes;
    private final ObjectNode positions; // null: none
    private final String status;
    private final long connections;
    private final int present; // bit a: some user is in ARRAYS[a] (no int[] of counts per message)
    private final int buffered;
    private final int misdirected;

    /** {@code remembered}: some user's outcome came from an earlier request with this key. */
    Users(
        String id,
        List<String> users,
        int[] outcomes,
        ObjectNode positions,
        boolean remembered,
        boolean fresh) {
      this.id = id;
      this.users = users;
      this.outcomes = outcomes;
      this.positions = positions == null || positions.isEmpty() ? null : positions;
      long c = 0;
      int in = 0;
      int b = 0;
      int m = 0;
      for (int code : outcomes) {
        int a = array(code);
        in |= 1 << a;
        b += a == 1 ? 1 : 0;
        m += a == 3 ? 1 : 0;
        if (Idempotency.isDelivered(code)) {
          c += Idempotency.connections(code);
        }
      }
      this.connections = c;
      this.present = in;
      this.buffered = b;
      this.misdirected = m;
      this.status =
          (in & 1 << 4) != 0
              ? PublishStatus.PENDING
              : remembered && !fresh ? PublishStatus.DUPLICATE : PublishStatus.ACCEPTED;
    }

    private static int array(int code) {
      if (Idempotency.isDelivered(code)) {
        return 0;
      }
      if (code == Idempotency.BUFFERED) {
        return 1;
      }
      if (code == Idempotency.DROPPED) {
        return 2;
      }
      return code == Idempotency.MISDIRECTED ? 3 : 4;
    }

    @Override
    public String status() {
      return status;
    }

    @Override
    public int buffered() {
      return buffered;
    }

    @Override
    public int misdirected() {
      return misdirected;
    }

    private boolean has(int a) {
      return (present & 1 << a) != 0;
    }

    @Override
    public void write(JsonGenerator g) throws IOException {
      g.writeStartObject();
      if (id != null) {
        g.writeStringField("id", id);
      }
      g.writeStringField("status", status);
      g.writeNumberField("connections", connections);
      for (int a = 0; a < ARRAYS.length; a++) {
        g.writeArrayFieldStart(ARRAYS[a]);
        for (int i = 0; has(a) && i < outcomes.length; i++) {
          if (array(outcomes[i]) == a) {
            g.writeString(users.get(i));
          }
        }
        g.writeEndArray();
      }
      if (positions != null) {
        g.writeFieldName("positions");
        g.writeTree(positions);
      }
      g.writeEndObject();
    }

    @Override
    public void write(ReplyBytes out) {
      out.ascii("{");
      if (id != null) {
        out.ascii("\"id\":").string(id).ascii(",");
      }
      out.ascii("\"status\":").string(status).ascii(",\"connections\":").number(connections);
      for (int a = 0; a < ARRAYS.length; a++) {
        out.ascii(",\"").ascii(ARRAYS[a]).ascii("\":[");
        boolean first = true;
        for (int i = 0; has(a) && i < outcomes.length; i++) {
          if (array(outcomes[i]) == a) {
            if (!first) {
              out.ascii(",");
            }
            out.string(users.get(i));
            first = false;
          }
        }
        out.ascii("]");
      }
      if (positions != null) {
        out.ascii(",\"positions\":{");
        boolean first = true;
        for (java.util.Iterator<
                    java.util.Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>>
                it = positions.fields();
            it.hasNext(); ) {
          java.util.Map.Entry<String, com.fasterxml.jackson.databind.JsonNode> e = it.next();
          if (!first) {
            out.ascii(",");
          }
          out.string(e.getKey()).ascii(":");
          if (e.getValue().isTextual()) {
            out.string(e.getValue().textValue());
          } else {
            out.jackson(e.getValue());
          }
          first = false;
        }
        out.ascii("}");
      }
      out.ascii("}");
    }
  }

  /** Counts for {@code NodeOperations.published}: accepted messages and their users by outcome. */
  int[] acceptedCounts() {
    int messages = 0;
    int buffered = 0;
    int misdirected = 0;
    for (Result r : results) {
      if (!PublishStatus.ACCEPTED.equals(r.status())) {
        continue;
      }
      messages++;
      buffered += r.buffered();
      misdirected += r.misdirected();
    }
    return new int[] {messages, buffered, misdirected};
  }
}
