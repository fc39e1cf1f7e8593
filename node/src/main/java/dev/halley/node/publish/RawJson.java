package dev.halley.node.publish;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

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
    Utf8Check check = UTF8.get();
    CharsetDecoder d = check.decoder.reset();
    CharBuffer out = check.out;
    ByteBuffer in = ByteBuffer.wrap(body);
    while (true) {
      out.clear();
      CoderResult r = d.decode(in, out, true);
      if (r.isError()) {
        throw new HttpError(400, ErrorCodes.INVALID_JSON, "the body is not valid UTF-8");
      }
      if (r.isUnderflow()) {
        out.clear();
        d.flush(out); // nothing is left over in UTF-8 once the input ended
        return;
      }
    }
  }

  /**
   * A publish thread's UTF-8 decoder and a small output buffer the check decodes into piece by
   * piece (the text itself is not kept: decoding the whole body into one buffer allocated twice the
   * body's size per request).
   */
  private static final class Utf8Check {
    final CharsetDecoder decoder =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    final CharBuffer out = CharBuffer.allocate(512);
  }

  private static final ThreadLocal<Utf8Check> UTF8 = ThreadLocal.withInitial(Utf8Check::new);

  /** The value starting at {@code start} of valid JSON, without whitespace outside strings. */
  static byte[] compactValue(byte[] json, int start) {
    int[] span = new int[1];
    int kept = scan(json, start, null, span);
    if (kept == span[0] - start) {
      return java.util.Arrays.copyOfRange(json, start, span[0]); // no whitespace to remove
    }
    byte[] out = new byte[kept];
    scan(json, start, out, span);
    return out;
  }

  /**
   * Walks the value at {@code start}: returns how many of its bytes are kept (all but whitespace
   * outside strings), copies them to {@code out} unless it is null, and sets {@code end[0]} to the
   * index after the value's last byte.
   */
  private static int scan(byte[] json, int start, byte[] out, int[] end) {
    int n = 0;
    int depth = 0;
    int i = start;
    boolean scalar = json[i] != '{' && json[i] != '[';
    while (i < json.length) {
      byte b = json[i];
      if (b == '"') {
        int close = i + 1;
        while (json[close] != '"') {
          close += json[close] == '\\' ? 2 : 1;
        }
        if (out != null) {
          System.arraycopy(json, i, out, n, close + 1 - i);
        }
        n += close + 1 - i;
        i = close + 1;
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
      if (out != null) {
        out[n] = b;
      }
      n++;
      i++;
      if (b == '{' || b == '[') {
        depth++;
      } else if (b == '}' || b == ']') {
        if (--depth == 0) {
          break;
        }
      }
    }
    end[0] = i;
    return n;
  }
}
