package dev.halley.router.internal;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Request bodies, reply parsing and URLs of the internal listener (docs/protocol.md). */
final class Wire {
  static final String PUBLISH_PATH = "/v1/publish";
  static final String NOT_OWNER = "not_owner";
  static final String STATUS_DUPLICATE = "duplicate";

  // Our own failure reasons (the node's error codes are passed through as they are).
  static final String TIMEOUT = "timeout";
  static final String UNREACHABLE = "unreachable";
  static final String SERVER_ERROR = "server_error";
  static final String MISDIRECTED = "misdirected";
  static final String BACKLOG_FULL = "backlog_full";
  static final String NO_NODE = "no_node";
  static final String CLOSED = "closed";
  static final String BAD_REPLY = "bad_reply";

  private static final JsonFactory FACTORY = new JsonFactory();

  private Wire() {}

  /** {@code {"messages": [...]}} with each fragment's pre-serialized data written raw. */
  static byte[] publishBody(List<Fragment> batch) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(256 + 128 * batch.size());
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      g.writeStartObject();
      g.writeArrayFieldStart("messages");
      for (Fragment f : batch) {
        g.writeStartObject();
        g.writeStringField("id", f.wireId);
        if (f.users != null) {
          g.writeArrayFieldStart("users");
          for (String user : f.users) {
            g.writeString(user);
          }
          g.writeEndArray();
        } else {
          g.writeStringField("channel", f.channel);
        }
        g.writeFieldName("data");
        g.writeRawValue(f.dataJson);
        if (f.ttlMs != null) {
          g.writeNumberField("ttlMs", f.ttlMs);
        }
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // writing to memory does not fail
    }
    return out.toByteArray();
  }

  /** Parses a JSON reply; null if it is not JSON. */
  static JsonNode parse(ObjectMapper mapper, byte[] body) {
    try {
      return body.length == 0 ? null : mapper.readTree(body);
    } catch (IOException e) {
      return null;
    }
  }

  /** The {@code error} code of an error body, or {@code http_<status>} when there is none. */
  static String errorCode(JsonNode body, int status) {
    if (body != null && body.path("error").isTextual()) {
      return body.get("error").asText();
    }
    return "http_" + status;
  }

  static String errorMessage(JsonNode body, int status) {
    if (body != null && body.path("message").isTextual()) {
      return body.get("message").asText();
    }
    return "HTTP " + status;
  }

  /** {@code base + path}, where base may carry a path prefix with or without a trailing slash. */
  static URI resolve(URI base, String path) {
    String b = base.toString();
    if (b.endsWith("/")) {
      b = b.substring(0, b.length() - 1);
    }
    return URI.create(b + path);
  }

  /** One percent-encoded path segment (a {@code /} in a channel name becomes {@code %2F}). */
  static String segment(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
