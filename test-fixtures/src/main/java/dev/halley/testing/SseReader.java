package dev.halley.testing;

import java.io.IOException;
import java.io.InputStream;

/**
 * The tests' one reader of SSE framing (docs/protocol.md, "SSE"): {@code id:}, {@code event:},
 * {@code data:} and {@code retry:} fields and comment lines, an event dispatched at each blank line
 * that ends a non-empty {@code data}. {@link SseTestClient} reads its raw socket with it, it-tests'
 * {@code StreamClient} the body of a JDK HTTP response (any host, TLS).
 *
 * <p>The caller buffers {@code in}: lines are taken a byte at a time. Data lines of one event are
 * joined without a separator (the node sends each event's JSON on one line).
 */
public final class SseReader {
  /** What the reader found, called on the reading thread in stream order. */
  public interface Handler {
    /** Any line, before it is handled (a sign of life: the node's pings are lines too). */
    default void onLine(String line) {}

    /** One event: its {@code id:} and {@code event:} (null if absent) and its data. */
    void onEvent(String id, String event, String data);

    /** A line starting with {@code :} (the node's {@code : ping}), whole. */
    default void onComment(String line) {}

    /** The value of a {@code retry:} line. */
    default void onRetry(String value) {}

    /** A line that is none of the above. */
    default void onOther(String line) {}
  }

  private SseReader() {}

  /** Reads until the stream ends (returns) or fails (throws). */
  public static void read(InputStream in, Handler h) throws IOException {
    String id = null;
    String event = null;
    StringBuilder data = new StringBuilder();
    String line;
    while ((line = RawHttp.readLine(in)) != null) {
      h.onLine(line);
      if (line.isEmpty()) {
        if (data.length() > 0) {
          h.onEvent(id, event, data.toString());
        }
        id = null;
        event = null;
        data.setLength(0);
      } else if (line.startsWith(":")) {
        h.onComment(line);
      } else if (line.startsWith("retry:")) {
        h.onRetry(value(line, 6));
      } else if (line.startsWith("id:")) {
        id = value(line, 3);
      } else if (line.startsWith("event:")) {
        event = value(line, 6);
      } else if (line.startsWith("data:")) {
        data.append(value(line, 5));
      } else {
        h.onOther(line);
      }
    }
  }

  /** A field's value: after the colon, one leading space dropped. */
  private static String value(String line, int colonEnd) {
    return line.startsWith(" ", colonEnd) ? line.substring(colonEnd + 1) : line.substring(colonEnd);
  }
}
