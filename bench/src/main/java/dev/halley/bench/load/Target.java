package dev.halley.bench.load;

import dev.halley.router.TokenMinter;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/**
 * The server under load: how a subscriber connects to a room (or, unicast, to its own stream), how
 * a long-poll resumes, and how messages are published. Halley, nchan, CometD and Pushpin are
 * covered; each carries the generator's payload inside whatever framing it uses (CometD as a JSON
 * string, so its quotes arrive escaped: {@link #escapedPayload}), so one scanner reads them all.
 * CometD's Bayeux sessions (handshake, subscribe, connect) are driven by {@link Bayeux}.
 */
abstract class Target {
  final LoadOptions o;

  Target(LoadOptions o) {
    this.o = o;
  }

  static Target of(LoadOptions o) {
    return switch (o.target) {
      case "halley" -> new Halley(o);
      case "nchan" -> new Nchan(o);
      case "cometd" -> new Cometd(o);
      case "pushpin" -> new Pushpin(o);
      default -> throw new IllegalArgumentException("target: " + o.target);
    };
  }

  /** The channel a room is published to (unicast: the user). */
  String channel(int room) {
    return o.unicast() ? o.userPrefix + room : "room-" + room;
  }

  /** Whether payloads arrive inside a JSON string ({@code {\"t\":...}}) rather than verbatim. */
  boolean escapedPayload() {
    return false;
  }

  /** Whether a long-poll response carries a resume cursor worth parsing ({@link #afterPoll}). */
  boolean pollBodyNeeded() {
    return false;
  }

  /** Called once per subscriber before it connects (Halley mints its token here). */
  void prepare(LoadGen.Sub s) {}

  /** Path and query of the subscriber's WebSocket, SSE or long-poll request. */
  abstract String subscribePath(LoadGen.Sub s);

  /** Headers of a long-poll or SSE request (resume headers for nchan's long-poll). */
  void subscribeHeaders(LoadGen.Sub s, HttpHeaders h) {}

  /**
   * Whether a long-poll subscriber counts as connected only at its first answer (the server took
   * the subscription when it answered) rather than at its TCP connect.
   */
  boolean subscribedByFirstAnswer() {
    return false;
  }

  /** Whether a WebSocket subscriber counts as connected at the server's {@code hello} event. */
  boolean hello() {
    return false;
  }

  /** Reads the resume cursor out of a long-poll response. */
  abstract void afterPoll(LoadGen.Sub s, FullHttpResponse r, String body);

  /** Whether several messages go out in one publish request. */
  abstract boolean batches();

  abstract String publishPath(int room);

  /** The body of a publish request carrying {@code payloads[i]} to {@code rooms[i]}. */
  abstract byte[] publishBody(int[] rooms, byte[][] payloads, int n);

  abstract String publishContentType();

  /** {@code Authorization} of publish requests, or null. */
  String publishAuthorization() {
    return null;
  }

  /** Halley: one internal-API request carries a whole burst; users mint HS256 tokens. */
  static final class Halley extends Target {
    private final TokenMinter minter;

    Halley(LoadOptions o) {
      super(o);
      this.minter = TokenMinter.hs256(o.secret);
    }

    @Override
    void prepare(LoadGen.Sub s) {
      s.token =
          o.unicast()
              ? minter.mint(s.user, Duration.ofHours(6))
              : minter.mint(s.user, Duration.ofHours(6), List.of(channel(s.room)));
    }

    @Override
    String subscribePath(LoadGen.Sub s) {
      String base =
          switch (o.transport) {
            case "ws" -> "/v1/ws";
            case "sse" -> "/v1/sse";
            default -> "/v1/longpoll";
          };
      String q = base + "?token=" + s.token;
      if (s.lastEventId != null) {
        q += "&lastEventId=" + URLEncoder.encode(s.lastEventId, StandardCharsets.US_ASCII);
      } else if (o.transport.equals("longpoll")) {
        // The first request is answered at once with the stream's position: from then on the
        // node buffers the room's messages for this user (its token's grant), so the subscriber
        // counts as connected only then (a message published before it is not the user's).
        q += "&timeoutMs=0";
      }
      return q;
    }

    @Override
    boolean subscribedByFirstAnswer() {
      return true;
    }

    @Override
    boolean hello() {
      return true;
    }

    @Override
    boolean pollBodyNeeded() {
      return true;
    }

    @Override
    void afterPoll(LoadGen.Sub s, FullHttpResponse r, String body) {
      String key = "\"lastEventId\":\"";
      int i = body.lastIndexOf(key);
      if (i >= 0) {
        int from = i + key.length();
        int to = body.indexOf('"', from);
        if (to > from) {
          s.lastEventId = body.substring(from, to);
        }
      }
    }

    @Override
    boolean batches() {
      return true;
    }

    @Override
    String publishPath(int room) {
      return "/v1/publish";
    }

    @Override
    byte[] publishBody(int[] rooms, byte[][] payloads, int n) {
      StringBuilder b = new StringBuilder(64 + n * 96).append("{\"messages\":[");
      for (int i = 0; i < n; i++) {
        if (i > 0) {
          b.append(',');
        }
        if (o.unicast()) {
          b.append("{\"users\":[\"").append(channel(rooms[i])).append("\"],\"data\":");
        } else {
          b.append("{\"channel\":\"").append(channel(rooms[i])).append("\",\"data\":");
        }
        b.append(new String(payloads[i], StandardCharsets.US_ASCII)).append('}');
      }
      return b.append("]}").toString().getBytes(StandardCharsets.US_ASCII);
    }

    @Override
    String publishContentType() {
      return "application/json";
    }

    @Override
    String publishAuthorization() {
      return "Bearer " + o.apiKey;
    }
  }

  /**
   * nginx + nchan ({@code ../shared/peers/nchan/nginx.conf}): subscribers of a room share the nchan
   * channel {@code room-k}; one {@code POST /pub/room-k} per message.
   */
  static final class Nchan extends Target {
    Nchan(LoadOptions o) {
      super(o);
    }

    @Override
    String subscribePath(LoadGen.Sub s) {
      return "/sub/" + channel(s.room);
    }

    @Override
    void subscribeHeaders(LoadGen.Sub s, HttpHeaders h) {
      if (o.transport.equals("sse")) {
        h.set(HttpHeaderNames.ACCEPT, "text/event-stream");
      }
      if (s.etag != null) {
        h.set(HttpHeaderNames.IF_NONE_MATCH, s.etag);
      }
      if (s.lastModified != null) {
        h.set(HttpHeaderNames.IF_MODIFIED_SINCE, s.lastModified);
      }
    }

    @Override
    void afterPoll(LoadGen.Sub s, FullHttpResponse r, String body) {
      String etag = r.headers().get(HttpHeaderNames.ETAG);
      String lm = r.headers().get(HttpHeaderNames.LAST_MODIFIED);
      if (etag != null) {
        s.etag = etag;
      }
      if (lm != null) {
        s.lastModified = lm;
      }
    }

    @Override
    boolean batches() {
      return false;
    }

    @Override
    String publishPath(int room) {
      return "/pub/" + channel(room);
    }

    @Override
    byte[] publishBody(int[] rooms, byte[][] payloads, int n) {
      return payloads[0];
    }

    @Override
    String publishContentType() {
      return "text/plain";
    }
  }

  /**
   * CometD 9 on Jetty 12 ({@code ../shared/peers/cometd}): Bayeux over WebSocket or long-poll at
   * {@code /cometd}, each room the channel {@code /room/room-k}; one {@code POST /pubroom/room-k}
   * per message, its body the payload as a string (so it arrives escaped inside the Bayeux
   * message's {@code data}).
   */
  static final class Cometd extends Target {
    Cometd(LoadOptions o) {
      super(o);
    }

    /** The Bayeux channel a subscriber subscribes to. */
    String bayeuxChannel(LoadGen.Sub s) {
      return "/room/" + channel(s.room);
    }

    @Override
    boolean escapedPayload() {
      return true;
    }

    @Override
    String subscribePath(LoadGen.Sub s) {
      return "/cometd";
    }

    @Override
    void afterPoll(LoadGen.Sub s, FullHttpResponse r, String body) {}

    @Override
    boolean batches() {
      return false;
    }

    @Override
    String publishPath(int room) {
      return "/pubroom/" + channel(room);
    }

    @Override
    byte[] publishBody(int[] rooms, byte[][] payloads, int n) {
      return payloads[0];
    }

    @Override
    String publishContentType() {
      return "text/plain";
    }
  }

  /**
   * Pushpin ({@code ../shared/peers/pushpin}): subscribers reach its GRIP origin, which holds SSE
   * ({@code /sub/room-k}), long-poll ({@code /lp/room-k}) or WebSocket ({@code /ws/room-k}) on the
   * channel {@code room-k}; one {@code POST /publish/} per burst carries every message as an item
   * in the one format the transport reads. Pushpin keeps no history: a long-poll misses what is
   * published between its response and its next request, and the generator counts that as lost.
   */
  static final class Pushpin extends Target {
    Pushpin(LoadOptions o) {
      super(o);
    }

    @Override
    String subscribePath(LoadGen.Sub s) {
      String base =
          switch (o.transport) {
            case "ws" -> "/ws/";
            case "sse" -> "/sub/";
            default -> "/lp/";
          };
      return base + channel(s.room);
    }

    @Override
    void afterPoll(LoadGen.Sub s, FullHttpResponse r, String body) {}

    @Override
    boolean batches() {
      return true;
    }

    @Override
    String publishPath(int room) {
      return "/publish/";
    }

    @Override
    byte[] publishBody(int[] rooms, byte[][] payloads, int n) {
      StringBuilder b = new StringBuilder(64 + n * 160).append("{\"items\":[");
      for (int i = 0; i < n; i++) {
        if (i > 0) {
          b.append(',');
        }
        String p = jsonString(new String(payloads[i], StandardCharsets.US_ASCII));
        b.append("{\"channel\":\"").append(channel(rooms[i])).append("\",\"formats\":{");
        switch (o.transport) {
          case "ws" -> b.append("\"ws-message\":{\"content\":\"").append(p).append("\"}");
          case "sse" ->
              b.append("\"http-stream\":{\"content\":\"event: message\\ndata: ")
                  .append(p)
                  .append("\\n\\n\"}");
          default -> b.append("\"http-response\":{\"body\":\"").append(p).append("\\n\"}");
        }
        b.append("}}");
      }
      return b.append("]}").toString().getBytes(StandardCharsets.US_ASCII);
    }

    @Override
    String publishContentType() {
      return "application/json";
    }

    private static String jsonString(String s) {
      return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }
  }
}
