package dev.halley.node.publish;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The original text of JSON values inside a request body, so {@code data} is delivered as it was
 * published (numbers such as {@code 1e400} or {@code 0.1000000000000000055511151231257827} keep
 * their digits), only with insignificant whitespace removed (an SSE {@code data:} line must not
 * break). Stateless.
 */
final class RawJson {
  private RawJson() {}

  /**
   * Checks that {@code body} is well-formed UTF-8 (no overlong forms, no encoded surrogates, no
   * truncated sequences).
   *
   * @throws HttpError 400 {@code invalid_json}
   */
  static void requireUtf8(byte[] body) {
    try {
      StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(body));
    } catch (CharacterCodingException e) {
      throw new HttpError(400, ErrorCodes.INVALID_JSON, "the body is not valid UTF-8");
    }
  }

  /**
   * The compact original text of {@code messages[i].data} for every message of a publish body that
   * has already been parsed and validated as JSON (null where a message has no data).
   */
  static List<byte[]> publishData(byte[] body) {
    List<byte[]> out = new ArrayList<>();
    try (JsonParser p = Json.MAPPER.createParser(body)) {
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
                data = compactValue(body, start);
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

  /** The value starting at {@code start} of valid JSON, without whitespace outside strings. */
  static byte[] compactValue(byte[] json, int start) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int depth = 0;
    int i = start;
    boolean scalar = json[i] != '{' && json[i] != '[';
    while (i < json.length) {
      byte b = json[i];
      if (b == '"') {
        int end = i + 1;
        while (json[end] != '"') {
          end += json[end] == '\\' ? 2 : 1;
        }
        out.write(json, i, end + 1 - i);
        i = end + 1;
        if (depth == 0) {
          break;
        }
        continue;
      }
      if (b == ' ' || b == '\t' || b == '\n' || b == '\r') {
        if (scalar) {
          break;
        }
        i++;
        continue;
      }
      if (scalar && (b == ',' || b == '}' || b == ']')) {
        break;
      }
      out.write(b);
      i++;
      if (b == '{' || b == '[') {
        depth++;
      } else if (b == '}' || b == ']') {
        if (--depth == 0) {
          break;
        }
      }
    }
    return out.toByteArray();
  }
}
