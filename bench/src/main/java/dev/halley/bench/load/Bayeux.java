package dev.halley.bench.load;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * A Bayeux 1.0 client session per subscriber, for the CometD target: handshake, subscribe to the
 * room's channel, then {@code /meta/connect} again every time the server answers one (the first
 * with {@code advice.timeout = 0}, so the server answers it at once; later ones it holds until its
 * timeout or, on long-poll, until there is a message to carry). Messages arrive as {@code
 * [{"channel":"/room/room-k","data":"{\"t\":...}"}]}; the generator's scanner reads them in place,
 * and only frames or responses holding a {@code /meta/} reply are parsed as JSON.
 *
 * <p>A subscriber counts as connected once its subscription is confirmed. A refused handshake,
 * subscribe or connect closes the connection (counted like any lost connection); long-poll
 * re-handshakes on a new connection as the Bayeux advice says.
 *
 * <p>Threading: the handlers run on the generator's event loop, like the other readers.
 */
final class Bayeux {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final byte[] META = "\"/meta/".getBytes(StandardCharsets.US_ASCII);

  private Bayeux() {}

  /** The Bayeux messages of one session, numbered by {@code id}. */
  private static final class Messages {
    private final String connectionType;
    private final String subscription;
    private String clientId;
    private long id;

    Messages(String connectionType, String subscription) {
      this.connectionType = connectionType;
      this.subscription = subscription;
    }

    String handshake() {
      return "[{\"id\":\""
          + ++id
          + "\",\"channel\":\"/meta/handshake\",\"version\":\"1.0\",\"minimumVersion\":\"1.0\","
          + "\"supportedConnectionTypes\":[\""
          + connectionType
          + "\"],\"advice\":{\"timeout\":60000,\"interval\":0}}]";
    }

    String subscribe() {
      return "[{\"id\":\""
          + ++id
          + "\",\"channel\":\"/meta/subscribe\",\"clientId\":\""
          + clientId
          + "\",\"subscription\":\""
          + subscription
          + "\"}]";
    }

    String connect(boolean first) {
      return "[{\"id\":\""
          + ++id
          + "\",\"channel\":\"/meta/connect\",\"clientId\":\""
          + clientId
          + "\",\"connectionType\":\""
          + connectionType
          + "\""
          + (first ? ",\"advice\":{\"timeout\":0}" : "")
          + "}]";
    }
  }

  /** What the {@code /meta/} replies of one frame or response said. */
  private record Replies(String handshakeClientId, Boolean subscribed, Boolean connected) {
    static Replies of(ByteBuf b) throws IOException {
      String clientId = null;
      Boolean subscribed = null;
      Boolean connected = null;
      byte[] bytes = new byte[b.readableBytes()];
      b.getBytes(b.readerIndex(), bytes);
      JsonNode all = JSON.readTree(bytes);
      for (JsonNode m : all.isArray() ? all : JSON.createArrayNode().add(all)) {
        boolean ok = m.path("successful").asBoolean(false);
        switch (m.path("channel").asText()) {
          case "/meta/handshake" -> clientId = ok ? m.path("clientId").asText(null) : "";
          case "/meta/subscribe" -> subscribed = ok;
          case "/meta/connect" -> connected = ok;
          default -> {}
        }
      }
      return new Replies(clientId, subscribed, connected);
    }
  }

  private static boolean hasMeta(ByteBuf b) {
    return LoadGen.indexOf(b, META, b.readerIndex(), b.writerIndex()) >= 0;
  }

  /** Bayeux over WebSocket ({@code ws://host:port/cometd}): one session per connection. */
  static final class WsSession extends SimpleChannelInboundHandler<Object> {
    private final LoadGen g;
    private final LoadGen.Sub s;
    private final Messages m;

    WsSession(LoadGen g, LoadGen.Sub s, String subscription) {
      this.g = g;
      this.s = s;
      this.m = new Messages("websocket", subscription);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
      if (evt == WebSocketClientProtocolHandler.ClientHandshakeStateEvent.HANDSHAKE_COMPLETE) {
        send(ctx, m.handshake());
      }
      super.userEventTriggered(ctx, evt);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, Object msg) throws IOException {
      if (!(msg instanceof TextWebSocketFrame f)) {
        return;
      }
      ByteBuf c = f.content();
      g.scan(s, c, c.readerIndex(), c.writerIndex());
      if (!hasMeta(c)) {
        return;
      }
      Replies r = Replies.of(c);
      if (r.handshakeClientId() != null) {
        if (r.handshakeClientId().isEmpty()) {
          ctx.close();
          return;
        }
        m.clientId = r.handshakeClientId();
        send(ctx, m.subscribe());
        send(ctx, m.connect(true));
      }
      if (r.subscribed() != null) {
        if (!r.subscribed()) {
          ctx.close();
          return;
        }
        if (!s.up) {
          g.settled(s, true);
        }
      }
      if (r.connected() != null) {
        if (!r.connected()) {
          ctx.close(); // the session is gone (e.g. expired): counted as a lost connection
          return;
        }
        send(ctx, m.connect(false));
      }
    }

    private static void send(ChannelHandlerContext ctx, String json) {
      ctx.writeAndFlush(new TextWebSocketFrame(json));
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      g.lostConnection(s);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable t) {
      ctx.close();
    }
  }

  /**
   * Bayeux long-polling ({@code POST /cometd}) on one keep-alive connection: handshake, subscribe,
   * then one {@code /meta/connect} after another; messages published while no connect is held wait
   * in the server's session queue for the next one.
   */
  static final class PollSession extends SimpleChannelInboundHandler<FullHttpResponse> {
    private enum State {
      HANDSHAKE,
      SUBSCRIBE,
      CONNECT
    }

    private final LoadGen g;
    private final LoadGen.Sub s;
    private final Messages m;
    private State state = State.HANDSHAKE;
    private String cookie;

    PollSession(LoadGen g, LoadGen.Sub s, String subscription) {
      this.g = g;
      this.s = s;
      this.m = new Messages("long-polling", subscription);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      post(ctx, m.handshake());
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) throws IOException {
      String setCookie = r.headers().get(HttpHeaderNames.SET_COOKIE);
      if (setCookie != null) {
        cookie = setCookie.split(";", 2)[0];
      }
      if (r.status().code() != 200) {
        g.pollError();
        ctx.close();
        return;
      }
      ByteBuf body = r.content();
      g.scan(s, body, body.readerIndex(), body.writerIndex());
      switch (state) {
        case HANDSHAKE -> {
          Replies rep = Replies.of(body);
          if (rep.handshakeClientId() == null || rep.handshakeClientId().isEmpty()) {
            g.pollError();
            ctx.close();
            return;
          }
          m.clientId = rep.handshakeClientId();
          state = State.SUBSCRIBE;
          post(ctx, m.subscribe());
        }
        case SUBSCRIBE -> {
          Replies rep = Replies.of(body);
          if (!Boolean.TRUE.equals(rep.subscribed())) {
            g.pollError();
            ctx.close();
            return;
          }
          if (!s.up) {
            g.settled(s, true);
          }
          state = State.CONNECT;
          post(ctx, m.connect(true));
        }
        case CONNECT -> {
          if (hasMeta(body) && Boolean.FALSE.equals(Replies.of(body).connected())) {
            g.pollError(); // the server forgot the session: handshake again on this connection
            state = State.HANDSHAKE;
            post(ctx, m.handshake());
            return;
          }
          post(ctx, m.connect(false));
        }
      }
    }

    private void post(ChannelHandlerContext ctx, String json) {
      byte[] b = json.getBytes(StandardCharsets.UTF_8);
      FullHttpRequest req =
          new DefaultFullHttpRequest(
              HttpVersion.HTTP_1_1, HttpMethod.POST, "/cometd", Unpooled.wrappedBuffer(b));
      req.headers()
          .set(HttpHeaderNames.HOST, g.hostHeader())
          .set(HttpHeaderNames.CONTENT_TYPE, "application/json;charset=UTF-8")
          .setInt(HttpHeaderNames.CONTENT_LENGTH, b.length);
      if (cookie != null) {
        req.headers().set(HttpHeaderNames.COOKIE, cookie);
      }
      ctx.writeAndFlush(req);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      g.pollClosed(s);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable t) {
      ctx.close();
    }
  }
}
