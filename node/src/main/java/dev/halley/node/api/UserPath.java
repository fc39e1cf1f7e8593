package dev.halley.node.api;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Ids;
import io.undertow.server.HttpServerExchange;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Parses {@code /v1/users/{user}/channels/{channel}} and {@code /v1/users/{user}/presence} from the
 * raw request URI (each segment percent-decoded once, so user IDs may contain {@code /} as {@code
 * %2F}, and channels may contain {@code /}).
 */
record UserPath(String user, String rest) {
  static final String PREFIX = "/v1/users/";

  /**
   * @throws HttpError 400 for a bad user ID, 404 for a path of another shape
   */
  static UserPath parse(HttpServerExchange exchange) {
    String raw = exchange.getRequestURI();
    int q = raw.indexOf('?');
    if (q >= 0) {
      raw = raw.substring(0, q);
    }
    int at = raw.indexOf(PREFIX);
    if (at < 0) {
      throw new HttpError(404, ErrorCodes.NOT_FOUND, "no such path");
    }
    String after = raw.substring(at + PREFIX.length());
    int slash = after.indexOf('/');
    if (slash <= 0) {
      throw new HttpError(404, ErrorCodes.NOT_FOUND, "no such path");
    }
    String user = decode(after.substring(0, slash));
    if (!Ids.isUserId(user)) {
      throw HttpError.badRequest("bad user ID in the path");
    }
    return new UserPath(user, decode(after.substring(slash + 1)));
  }

  /** The channel of a {@code channels/{channel}} path. */
  String channel() {
    if (!rest.startsWith("channels/")) {
      throw new HttpError(404, ErrorCodes.NOT_FOUND, "no such path");
    }
    String channel = rest.substring("channels/".length());
    if (!Ids.isChannel(channel)) {
      throw HttpError.badRequest("channel must be 1..128 characters from [A-Za-z0-9_.:@/-]");
    }
    return channel;
  }

  /**
   * Percent-decodes one segment strictly: every {@code %} starts two hex digits and the decoded
   * bytes are well-formed UTF-8 (no U+FFFD stand-ins, so one user has one spelling).
   */
  static String decode(String s) {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream(s.length());
    byte[] raw = s.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < raw.length; i++) {
      if (raw[i] != '%') {
        bytes.write(raw[i]);
        continue;
      }
      int hi = i + 2 < raw.length ? Character.digit(raw[i + 1], 16) : -1;
      int lo = hi < 0 ? -1 : Character.digit(raw[i + 2], 16);
      if (lo < 0) {
        throw HttpError.badRequest("bad percent-encoding in the path");
      }
      bytes.write(hi << 4 | lo);
      i += 2;
    }
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes.toByteArray()))
          .toString();
    } catch (CharacterCodingException e) {
      throw HttpError.badRequest("the path's percent-encoding is not UTF-8");
    }
  }
}
