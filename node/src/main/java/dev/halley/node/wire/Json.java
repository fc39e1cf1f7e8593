package dev.halley.node.wire;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.nio.ByteBuffer;

/** The node's one JSON mapper and the helpers that write JSON responses. */
public final class Json {
  /** Strict: duplicate keys and trailing tokens are errors. */
  public static final ObjectMapper MAPPER =
      JsonMapper.builder()
          .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .build();

  /**
   * Request bodies: as strict as {@link #MAPPER}, but a duplicate key is found where the tree puts
   * it (one lookup in the map being filled) instead of by the parser's duplicate detector, which
   * keeps a set of names per object (a quarter of a publish request's allocation).
   */
  private static final ObjectMapper BODY =
      JsonMapper.builder()
          .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .build();

  private static final String TREE_DUPLICATE = " for `ObjectNode`";

  private Json() {}

  public static byte[] bytes(JsonNode node) {
    try {
      return MAPPER.writeValueAsBytes(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Parses a request body, turning every failure into 400 {@code invalid_json}. */
  public static JsonNode parse(byte[] body) {
    try {
      JsonNode node = BODY.readTree(body);
      if (node == null || node.isMissingNode()) {
        throw new HttpError(400, ErrorCodes.INVALID_JSON, "the body is empty");
      }
      return node;
    } catch (java.io.IOException e) {
      String detail = e instanceof JsonProcessingException p ? p.getOriginalMessage() : "";
      if (detail.startsWith("Duplicate field") && detail.contains(TREE_DUPLICATE)) {
        detail = detail.substring(0, detail.indexOf(TREE_DUPLICATE)); // as the parser says it
      }
      throw new HttpError(400, ErrorCodes.INVALID_JSON, "the body is not JSON: " + detail);
    }
  }

  /** Ends the exchange with {@code status} and a JSON body. */
  public static void send(HttpServerExchange exchange, int status, byte[] json) {
    exchange.setStatusCode(status);
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
    exchange.getResponseSender().send(ByteBuffer.wrap(json));
  }

  public static void send(HttpServerExchange exchange, int status, JsonNode json) {
    send(exchange, status, bytes(json));
  }

  public static void sendError(HttpServerExchange exchange, HttpError error) {
    if (exchange.isResponseStarted()) {
      exchange.endExchange();
      return;
    }
    send(exchange, error.status(), error.body());
  }

  public static void sendError(
      HttpServerExchange exchange, int status, String code, String message) {
    sendError(exchange, new HttpError(status, code, message));
  }
}
