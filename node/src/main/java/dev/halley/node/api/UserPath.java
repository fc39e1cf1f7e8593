package dev.halley.node.api;

import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Ids;
import io.undertow.server.HttpServerExchange;
import java.net.URLDecoder;
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

  private static String decode(String s) {
    try {
      return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw HttpError.badRequest("bad percent-encoding in the path");
    }
  }
}
