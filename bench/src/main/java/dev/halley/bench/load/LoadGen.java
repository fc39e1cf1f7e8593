package dev.halley.bench.load;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * The load generator: one process, one Netty event loop (epoll where available), subscribers on
 * WebSocket, SSE or long-poll and the publishers that feed them, against Halley, nchan, CometD
 * (Bayeux, {@link Bayeux}) or Pushpin.
 *
 * <pre>
 * java -cp bench/target/halley-loadgen.jar dev.halley.bench.load.LoadGen \
 *     target=halley transport=ws users=15000 rate=50000 port=8080 publishPort=9080
 * </pre>
 *
 * <p>Phases: connect every subscriber; publish open-loop at {@code rate} for {@code warmup}
 * seconds, then {@code measure} seconds; stop publishing and wait up to {@code drain} seconds for
 * the last messages. It prints one JSON line: deliveries per second, latency percentiles from
 * publish to receipt (HdrHistogram, coordinated-omission free: a message's time is when it was due,
 * not when the generator got round to sending it), loss and duplicates, the server's CPU ({@code
 * utime} and {@code stime} apart) and RSS from {@code /proc}, and the generator's own CPU.
 *
 * <p>Each payload is a JSON object {@code {"t":nanoTime,"r":room,"s":seq,"p":"..."}} padded to
 * {@code payloadBytes}: {@code t} is {@link System#nanoTime()} (CLOCK_MONOTONIC, one clock for
 * every process on the machine), {@code s} counts the room's messages from 1, so a subscriber knows
 * every gap (loss) and every repeat (duplicate) without keeping the messages. Every subscriber of a
 * room and its publisher connection live in one process, and a room always goes out on the same
 * publisher connection, so per-room order is the server's order.
 *
 * <p>Threading: everything after start-up runs on the single event loop; the main thread only
 * sleeps, samples {@code /proc} and reads results through tasks on the loop.
 */
public final class LoadGen {
  private static final byte[] MARK = "{\"t\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] ESCAPED_MARK = "{\\\"t\\\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] RESET = "\"type\":\"reset\"".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] HELLO = "\"type\":\"hello\"".getBytes(StandardCharsets.US_ASCII);
  private static final long TICK_MICROS = 1000;

  /** One subscriber: its room (unicast: its own stream) and its receive state. */
  static final class Sub {
    final String user;
    final int room; // global room index
    final int localRoom;
    String token;
    long lastSeq;
    boolean up;
    boolean everUp; // a subscriber that never connected expects nothing (connectFailures)
    int attempts;
    // Long-poll resume cursor (Halley: lastEventId; nchan: Etag / Last-Modified).
    String lastEventId;
    String etag;
    String lastModified;
    // A reset arrived since the last message: a gap before the next one is announced, not silent.
    boolean resetSeen;

    Sub(String user, int room, int localRoom) {
      this.user = user;
      this.room = room;
      this.localRoom = localRoom;
    }
  }

  /** A keep-alive publisher connection with its own FIFO of requests, one in flight. */
  private final class PubConn {
    final ArrayDeque<byte[]> bodies = new ArrayDeque<>();
    final ArrayDeque<String> paths = new ArrayDeque<>();
    final ArrayDeque<long[]> marks = new ArrayDeque<>(); // pairs of (localRoom, seq) it carries
    Channel ch;
    boolean busy;

    void enqueue(String path, byte[] body, long[] roomSeqs) {
      paths.add(path);
      bodies.add(body);
      marks.add(roomSeqs);
      maxPublishQueue = Math.max(maxPublishQueue, paths.size());
      sendNext();
    }

    void sendNext() {
      if (busy || ch == null || !ch.isActive() || paths.isEmpty()) {
        return;
      }
      busy = true;
      byte[] body = bodies.poll();
      long[] m = marks.poll();
      FullHttpRequest req =
          new DefaultFullHttpRequest(
              HttpVersion.HTTP_1_1, HttpMethod.POST, paths.poll(), Unpooled.wrappedBuffer(body));
      req.headers()
          .set(HttpHeaderNames.HOST, o.host + ":" + o.publishPort)
          .set(HttpHeaderNames.CONTENT_TYPE, target.publishContentType())
          .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
      String auth = target.publishAuthorization();
      if (auth != null) {
        req.headers().set(HttpHeaderNames.AUTHORIZATION, auth);
      }
      ch.writeAndFlush(req);
      for (int i = 0; i < m.length; i += 2) {
        published[(int) m[i]] = Math.max(published[(int) m[i]], m[i + 1]);
      }
      publishRequests++;
    }

    int queued() {
      return paths.size();
    }
  }

  private final LoadOptions o;
  private final Target target;
  private final EventLoopGroup group;
  private final EventLoop loop;
  private final Class<? extends SocketChannel> channelClass;
  private final Bootstrap bootstrap;
  private final SplittableRandom random;
  private final byte[] mark;

  // Event loop only from here on.
  private final Sub[] subs;
  private final int[] localRooms; // local room -> global room
  private final int[] members; // local room -> subscribers
  private final long[] nextSeq; // local room -> last seq assigned
  private final long[] published; // local room -> highest seq written to the server
  private final List<PubConn> pubs = new ArrayList<>();
  private final Histogram latency = new Histogram(TimeUnit.SECONDS.toMicros(120), 3);
  private int nextConnect;
  private int pendingConnects;
  private int connected;
  private long connectFailures;
  private long disconnects;
  private long received;
  private long receivedInWindow;
  private long measuredSamples;
  private long duplicates;
  private long gaps;
  private long misrouted;
  private long resets;
  private long gapsWithoutReset;
  private long publishRequests;
  private long publishErrors;
  private long publishSkipped;
  private long messagesCreated;
  private long pollErrors;
  private int maxPublishQueue;
  private long t0;
  private long measureStart;
  private long measureEnd;
  private boolean publishing;
  private long dueSent;

  private LoadGen(LoadOptions o) {
    this.o = o;
    this.target = Target.of(o);
    boolean epoll = Epoll.isAvailable();
    this.group =
        new MultiThreadIoEventLoopGroup(
            1, epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
    this.channelClass = epoll ? EpollSocketChannel.class : NioSocketChannel.class;
    this.loop = group.next();
    this.bootstrap =
        new Bootstrap()
            .group(loop)
            .channel(channelClass)
            .option(ChannelOption.TCP_NODELAY, true)
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 15_000);
    this.random = new SplittableRandom(o.seed * 31 + o.slice);
    this.mark = target.escapedPayload() ? ESCAPED_MARK : MARK;
    int rooms = o.rooms();
    int local = 0;
    for (int r = 0; r < rooms; r++) {
      if (r % o.slices == o.slice) {
        local++;
      }
    }
    localRooms = new int[local];
    members = new int[local];
    nextSeq = new long[local];
    published = new long[local];
    List<Sub> list = new ArrayList<>();
    int lr = 0;
    for (int r = 0; r < rooms; r++) {
      if (r % o.slices != o.slice) {
        continue;
      }
      localRooms[lr] = r;
      for (int m = 0; m < o.membersPerRoom(); m++) {
        int userIndex = o.unicast() ? r : r * o.roomSize + m;
        list.add(new Sub(o.userPrefix + userIndex, r, lr));
        members[lr]++;
      }
      lr++;
    }
    subs = list.toArray(new Sub[0]);
    for (Sub s : subs) {
      target.prepare(s);
    }
  }

  public static void main(String[] args) throws Exception {
    LoadOptions o = LoadOptions.parse(args);
    ObjectNode result = run(o);
    System.out.println(result.toString());
  }

  /** Runs one generator to the end and returns its result (the JSON line {@link #main} prints). */
  static ObjectNode run(LoadOptions o) throws Exception {
    LoadGen g = new LoadGen(o);
    try {
      return g.runPhases();
    } finally {
      g.group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  private ObjectNode runPhases() throws Exception {
    List<Long> serverPids = ProcStat.withChildren(o.serverPids);
    boolean sampler = o.slice == 0 && !serverPids.isEmpty();
    ProcStat serverBefore = sampler ? ProcStat.sample(serverPids) : null;
    long connectStart = System.nanoTime();
    onLoop(
        () -> {
          openPublishers();
          pumpConnects();
          return null;
        });
    long deadline = connectStart + (long) (o.connectTimeoutSeconds * 1e9);
    while (onLoop(() -> connected + connectFailures < subs.length || !publishersUp())
        && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    double connectSeconds = (System.nanoTime() - connectStart) / 1e9;
    log(
        "connected %d/%d in %.1f s (%d failed)",
        onLoop(() -> connected), subs.length, connectSeconds, onLoop(() -> connectFailures));
    if (o.publishAtMs > 0) {
      long wait = o.publishAtMs - System.currentTimeMillis();
      if (wait > 0) {
        Thread.sleep(wait);
      }
    } else {
      Thread.sleep(500);
    }
    ProcStat serverConnected = sampler ? ProcStat.sample(serverPids) : null;
    int connectedAtPublish = onLoop(() -> connected);

    onLoop(
        () -> {
          t0 = System.nanoTime();
          measureStart = t0 + (long) (o.warmupSeconds * 1e9);
          measureEnd = measureStart + (long) (o.measureSeconds * 1e9);
          publishing = true;
          loop.scheduleAtFixedRate(this::tick, 0, TICK_MICROS, TimeUnit.MICROSECONDS);
          return null;
        });
    long start = onLoop(() -> measureStart);
    sleepUntil(start);
    ProcStat serverA = sampler ? ProcStat.sample(serverPids) : null;
    long[] gcA = sampler ? ProcStat.gcThreads(serverPids) : null;
    ProcStat selfA = ProcStat.self();
    long receivedA = onLoop(() -> received);
    long end = onLoop(() -> measureEnd);
    sleepUntil(end);
    ProcStat serverB = sampler ? ProcStat.sample(serverPids) : null;
    long[] gcB = sampler ? ProcStat.gcThreads(serverPids) : null;
    ProcStat selfB = ProcStat.self();
    long receivedB = onLoop(() -> received);
    double window = (end - start) / 1e9;
    onLoop(
        () -> {
          publishing = false;
          return null;
        });
    long drainDeadline = System.nanoTime() + (long) (o.drainSeconds * 1e9);
    while (onLoop(() -> outstanding() > 0 || publishQueued() > 0)
        && System.nanoTime() < drainDeadline) {
      Thread.sleep(50);
    }

    return onLoop(
        () -> {
          long lost = gaps + outstanding();
          long expected = 0;
          for (Sub s : subs) {
            if (s.everUp) {
              expected += published[s.localRoom];
            }
          }
          ObjectNode r = new ObjectMapper().createObjectNode();
          r.put("target", o.target);
          r.put("transport", o.transport);
          r.put("shape", o.shape);
          r.put("users", o.users);
          r.put("roomSize", o.membersPerRoom());
          r.put("burstRooms", o.burstRooms);
          r.put("payloadBytes", o.payloadBytes);
          r.put("offeredPerSecond", o.rate);
          r.put("slice", o.slice);
          r.put("slices", o.slices);
          r.put("epoll", channelClass == EpollSocketChannel.class);
          r.put("subscribers", subs.length);
          r.put("connected", connectedAtPublish);
          r.put("connectSeconds", round(connectSeconds));
          r.put("connectFailures", connectFailures);
          r.put("disconnects", disconnects);
          r.put("messagesCreated", messagesCreated);
          r.put("publishRequests", publishRequests);
          r.put("publishErrors", publishErrors);
          r.put("publishSkipped", publishSkipped);
          r.put("maxPublishQueue", maxPublishQueue);
          r.put("pollErrors", pollErrors);
          r.put("expected", expected);
          r.put("received", received);
          r.put("lost", lost);
          r.put("duplicates", duplicates);
          r.put("misrouted", misrouted);
          r.put("resets", resets);
          r.put("lostWithoutReset", gapsWithoutReset);
          r.put("windowSeconds", round(window));
          r.put("measureStartNanos", start);
          r.put("measureEndNanos", end);
          r.put("deliveredInWindow", receivedB - receivedA);
          r.put("deliveriesPerSecond", round((receivedB - receivedA) / window));
          r.put("latencySamples", measuredSamples);
          r.put("p50Ms", ms(latency.getValueAtPercentile(50)));
          r.put("p90Ms", ms(latency.getValueAtPercentile(90)));
          r.put("p99Ms", ms(latency.getValueAtPercentile(99)));
          r.put("p999Ms", ms(latency.getValueAtPercentile(99.9)));
          r.put("maxMs", ms(latency.getMaxValue()));
          ProcStat self = selfB.minus(selfA);
          r.put(
              "generatorCpuPercent",
              round(100 * (self.utimeMicros() + self.stimeMicros()) / 1e6 / window));
          r.put("generatorRssKb", selfB.rssKb());
          if (sampler) {
            ProcStat cpu = serverB.minus(serverA);
            r.put("serverProcesses", cpu.processes());
            r.put("serverUtimeSeconds", round(cpu.utimeMicros() / 1e6));
            r.put("serverStimeSeconds", round(cpu.stimeMicros() / 1e6));
            r.put(
                "serverCpuPercent",
                round(100 * (cpu.utimeMicros() + cpu.stimeMicros()) / 1e6 / window));
            r.put("serverRssBeforeKb", serverBefore.rssKb());
            r.put("serverRssConnectedKb", serverConnected.rssKb());
            r.put("serverRssEndKb", serverB.rssKb());
            r.put("serverGcThreadsCpuMs", round((gcB[0] - gcA[0]) / 1e6));
            r.put("serverGcThreadsWaitMs", round((gcB[1] - gcA[1]) / 1e6));
          }
          ByteBuffer hb = ByteBuffer.allocate(latency.getNeededByteBufferCapacity());
          int n = latency.encodeIntoCompressedByteBuffer(hb);
          r.put(
              "histogram",
              Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(hb.array(), n)));
          return r;
        });
  }

  // ---- connecting ----------------------------------------------------------------------------

  private void openPublishers() {
    int n = o.publishConnections;
    if (n <= 0) {
      n = target.batches() ? (o.unicast() ? 4 : 1) : (o.unicast() ? 32 : 16);
    }
    for (int i = 0; i < n; i++) {
      PubConn p = new PubConn();
      pubs.add(p);
      connectPublisher(p);
    }
  }

  private void connectPublisher(PubConn p) {
    bootstrap
        .clone()
        .handler(
            new ChannelInitializer<SocketChannel>() {
              @Override
              protected void initChannel(SocketChannel ch) {
                ch.pipeline()
                    .addLast(new HttpClientCodec())
                    .addLast(new HttpObjectAggregator(4 << 20))
                    .addLast(
                        new SimpleChannelInboundHandler<FullHttpResponse>() {
                          @Override
                          protected void channelRead0(ChannelHandlerContext c, FullHttpResponse r) {
                            if (r.status().code() / 100 != 2) {
                              publishErrors++;
                              if (publishErrors < 5) {
                                log(
                                    "publish answered %s: %s",
                                    r.status(), r.content().toString(StandardCharsets.UTF_8));
                              }
                            }
                            p.busy = false;
                            p.sendNext();
                          }

                          @Override
                          public void channelInactive(ChannelHandlerContext c) {
                            if (p.busy) {
                              publishErrors++;
                            }
                            p.busy = false;
                            p.ch = null;
                            loop.schedule(() -> connectPublisher(p), 100, TimeUnit.MILLISECONDS);
                          }

                          @Override
                          public void exceptionCaught(ChannelHandlerContext c, Throwable t) {
                            c.close();
                          }
                        });
              }
            })
        .connect(o.host, o.publishPort)
        .addListener(
            (ChannelFuture f) -> {
              if (f.isSuccess()) {
                p.ch = f.channel();
                p.sendNext();
              } else {
                loop.schedule(() -> connectPublisher(p), 200, TimeUnit.MILLISECONDS);
              }
            });
  }

  private boolean publishersUp() {
    for (PubConn p : pubs) {
      if (p.ch == null) {
        return false;
      }
    }
    return true;
  }

  private int publishQueued() {
    int n = 0;
    for (PubConn p : pubs) {
      n += p.queued() + (p.busy ? 1 : 0);
    }
    return n;
  }

  private void pumpConnects() {
    while (pendingConnects < o.maxPendingConnects && nextConnect < subs.length) {
      pendingConnects++;
      connect(subs[nextConnect++]);
    }
  }

  void settled(Sub s, boolean ok) {
    pendingConnects--;
    if (ok) {
      s.up = true;
      s.everUp = true;
      connected++;
    } else if (++s.attempts < 3) {
      pendingConnects++;
      loop.schedule(() -> connect(s), 200, TimeUnit.MILLISECONDS);
      return;
    } else {
      connectFailures++;
    }
    pumpConnects();
  }

  private void connect(Sub s) {
    bootstrap
        .clone()
        .handler(
            new ChannelInitializer<SocketChannel>() {
              @Override
              protected void initChannel(SocketChannel ch) {
                ChannelPipeline p = ch.pipeline();
                p.addLast(new HttpClientCodec());
                switch (o.transport) {
                  case "ws" -> {
                    URI uri = URI.create("ws://" + o.host + ":" + o.port + target.subscribePath(s));
                    p.addLast(new HttpObjectAggregator(1 << 16));
                    p.addLast(
                        new WebSocketClientProtocolHandler(
                            WebSocketClientProtocolConfig.newBuilder()
                                .webSocketUri(uri)
                                .generateOriginHeader(false)
                                .handleCloseFrames(true)
                                .dropPongFrames(true)
                                .maxFramePayloadLength(1 << 20)
                                .handshakeTimeoutMillis(30_000)
                                .build()));
                    p.addLast(
                        target instanceof Target.Cometd c
                            ? new Bayeux.WsSession(LoadGen.this, s, c.bayeuxChannel(s))
                            : new WsReader(s));
                  }
                  case "sse" -> p.addLast(new SseReader(s));
                  default -> {
                    p.addLast(new HttpObjectAggregator(16 << 20));
                    p.addLast(
                        target instanceof Target.Cometd c
                            ? new Bayeux.PollSession(LoadGen.this, s, c.bayeuxChannel(s))
                            : new PollReader(s));
                  }
                }
              }
            })
        .connect(o.host, o.port)
        .addListener(
            (ChannelFuture f) -> {
              if (!f.isSuccess()) {
                if (!s.up) {
                  settled(s, false);
                }
              }
            });
  }

  /** A long-poll connection closed: a long-poll is a request, not a connection, so reopen it. */
  void pollClosed(Sub s) {
    if (s.up) {
      disconnects++;
      loop.schedule(() -> connect(s), 10, TimeUnit.MILLISECONDS);
    } else {
      settled(s, false);
    }
  }

  void pollError() {
    pollErrors++;
  }

  String hostHeader() {
    return o.host + ":" + o.port;
  }

  private FullHttpRequest subscribeRequest(Sub s) {
    FullHttpRequest req =
        new DefaultFullHttpRequest(
            HttpVersion.HTTP_1_1, HttpMethod.GET, target.subscribePath(s), Unpooled.EMPTY_BUFFER);
    req.headers().set(HttpHeaderNames.HOST, o.host + ":" + o.port);
    target.subscribeHeaders(s, req.headers());
    return req;
  }

  void lostConnection(Sub s) {
    if (s.up) {
      disconnects++;
      s.up = false;
      connected--;
    } else {
      settled(s, false);
    }
  }

  /** WebSocket: one text frame per event. */
  private final class WsReader extends SimpleChannelInboundHandler<Object> {
    private final Sub s;

    WsReader(Sub s) {
      this.s = s;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
      if (evt == WebSocketClientProtocolHandler.ClientHandshakeStateEvent.HANDSHAKE_COMPLETE
          && !target.hello()) {
        settled(s, true);
      }
      super.userEventTriggered(ctx, evt);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof TextWebSocketFrame f) {
        ByteBuf c = f.content();
        if (!s.up && indexOf(c, HELLO, c.readerIndex(), c.writerIndex()) >= 0) {
          settled(s, true); // Halley registers the connection on its stream before hello
        }
        scan(s, c, c.readerIndex(), c.writerIndex());
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      lostConnection(s);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable t) {
      ctx.close();
    }
  }

  /** SSE: complete lines are scanned, a partial line waits for the next chunk. */
  private final class SseReader extends SimpleChannelInboundHandler<HttpObject> {
    private final Sub s;
    private ByteBuf partial;

    SseReader(Sub s) {
      this.s = s;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      ctx.writeAndFlush(subscribeRequest(s));
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
      if (msg instanceof HttpResponse r) {
        if (r.status().code() == 200) {
          settled(s, true);
        } else {
          ctx.close();
          return;
        }
      }
      if (msg instanceof HttpContent c) {
        ByteBuf in = c.content();
        ByteBuf buf = in;
        if (partial != null) {
          partial.writeBytes(in);
          buf = partial;
        }
        int lastNl = buf.forEachByteDesc(buf.readerIndex(), buf.readableBytes(), b -> b != '\n');
        if (lastNl >= 0) {
          scan(s, buf, buf.readerIndex(), lastNl);
          buf.readerIndex(lastNl + 1);
        }
        if (buf == partial) {
          if (partial.isReadable()) {
            partial.discardReadBytes();
          } else {
            partial.release();
            partial = null;
          }
        } else if (buf.isReadable()) {
          partial = ctx.alloc().buffer(Math.max(256, buf.readableBytes() * 2));
          partial.writeBytes(buf);
        }
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (partial != null) {
        partial.release();
        partial = null;
      }
      lostConnection(s);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable t) {
      ctx.close();
    }
  }

  /** Long-poll: one request at a time, resumed from the cursor of the last response. */
  private final class PollReader extends SimpleChannelInboundHandler<FullHttpResponse> {
    private final Sub s;

    PollReader(Sub s) {
      this.s = s;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      ctx.writeAndFlush(subscribeRequest(s));
      if (!s.up && !target.subscribedByFirstAnswer()) {
        settled(s, true);
      }
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) {
      int code = r.status().code();
      ByteBuf body = r.content();
      if (code == 200) {
        if (!s.up) {
          settled(s, true); // the server holds the subscription from here on
        }
        scan(s, body, body.readerIndex(), body.writerIndex());
        target.afterPoll(
            s, r, target.pollBodyNeeded() ? body.toString(StandardCharsets.UTF_8) : "");
        ctx.writeAndFlush(subscribeRequest(s));
      } else if (code == 304 || code == 408) {
        ctx.writeAndFlush(subscribeRequest(s)); // nchan: nothing new within its timeout
      } else {
        pollErrors++;
        loop.schedule(() -> ctx.writeAndFlush(subscribeRequest(s)), 100, TimeUnit.MILLISECONDS);
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      pollClosed(s);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable t) {
      ctx.close();
    }
  }

  // ---- receiving ------------------------------------------------------------------------------

  /** Finds every payload in {@code [from, to)} and accounts for it. */
  void scan(Sub s, ByteBuf b, int from, int to) {
    long now = System.nanoTime();
    int i = from;
    // A reset may share a long-poll batch (or an SSE chunk) with the messages replayed after it.
    int reset = indexOf(b, RESET, from, to);
    while (true) {
      i = indexOf(b, mark, i, to);
      if (i < 0) {
        break;
      }
      while (reset >= 0 && reset < i) {
        resets++;
        s.resetSeen = true;
        reset = indexOf(b, RESET, reset + RESET.length, to);
      }
      i += mark.length;
      long t = 0;
      long room = 0;
      long seq = 0;
      int c;
      while (i < to && (c = b.getByte(i)) >= '0' && c <= '9') {
        t = t * 10 + (c - '0');
        i++;
      }
      i = skipToDigit(b, i, to); // ,"r": (or ,\"r\": inside a JSON string)
      while (i < to && (c = b.getByte(i)) >= '0' && c <= '9') {
        room = room * 10 + (c - '0');
        i++;
      }
      i = skipToDigit(b, i, to); // ,"s":
      while (i < to && (c = b.getByte(i)) >= '0' && c <= '9') {
        seq = seq * 10 + (c - '0');
        i++;
      }
      received++;
      if (room != s.room) {
        misrouted++;
      } else if (seq <= s.lastSeq) {
        duplicates++;
      } else {
        if (seq > s.lastSeq + 1) {
          gaps += seq - s.lastSeq - 1;
          if (!s.resetSeen) {
            gapsWithoutReset += seq - s.lastSeq - 1;
          }
        }
        s.resetSeen = false;
        s.lastSeq = seq;
      }
      if (t >= measureStart && t < measureEnd) {
        measuredSamples++;
        latency.recordValue(
            Math.min(Math.max(0, (now - t) / 1000), latency.getHighestTrackableValue()));
      }
    }
    while (reset >= 0) {
      resets++;
      s.resetSeen = true;
      reset = indexOf(b, RESET, reset + RESET.length, to);
    }
  }

  static int indexOf(ByteBuf b, byte[] needle, int from, int to) {
    byte first = needle[0];
    for (int i = from; i <= to - needle.length; i++) {
      if (b.getByte(i) != first) {
        continue;
      }
      int k = 1;
      while (k < needle.length && b.getByte(i + k) == needle[k]) {
        k++;
      }
      if (k == needle.length) {
        return i;
      }
    }
    return -1;
  }

  private static int skipToDigit(ByteBuf b, int i, int to) {
    int limit = Math.min(to, i + 8);
    while (i < limit) {
      byte c = b.getByte(i);
      if (c >= '0' && c <= '9') {
        break;
      }
      i++;
    }
    return i;
  }

  /**
   * Messages published (written) but not yet seen, over every subscriber that connected (one whose
   * connection dropped since still misses them; one that never connected counts in {@code
   * connectFailures}, not here).
   */
  private long outstanding() {
    long n = 0;
    for (Sub s : subs) {
      if (s.everUp) {
        n += Math.max(0, published[s.localRoom] - s.lastSeq);
      }
    }
    return n;
  }

  // ---- publishing -----------------------------------------------------------------------------

  private void tick() {
    if (!publishing) {
      return;
    }
    long now = System.nanoTime();
    double perSecond = o.messageRate();
    boolean rooms = !o.unicast();
    double unitsPerSecond =
        rooms ? perSecond / Math.min(o.burstRooms, localRooms.length) : perSecond;
    long due = (long) ((now - t0) / 1e9 * unitsPerSecond) + 1;
    if (localRooms.length == 0) {
      return;
    }
    int maxBatch = rooms ? Math.min(o.burstRooms, localRooms.length) : 200;
    // Unicast with a batching target: one request per publisher connection per tick.
    int np = pubs.size();
    int[][] batchRooms = new int[np][];
    byte[][][] batchPayloads = new byte[np][][];
    int[] batchN = new int[np];
    long[][] batchMarks = new long[np][];
    while (dueSent < due) {
      long unitTime = t0 + (long) (dueSent * 1e9 / unitsPerSecond);
      dueSent++;
      if (rooms) {
        int k = Math.min(o.burstRooms, localRooms.length);
        int[] chosen = pickRooms(k);
        emit(chosen, k, unitTime);
      } else {
        int lr = random.nextInt(localRooms.length);
        if (!target.batches()) {
          emit(new int[] {lr}, 1, unitTime);
          continue;
        }
        int p = lr % np;
        if (batchRooms[p] == null) {
          batchRooms[p] = new int[maxBatch];
          batchPayloads[p] = new byte[maxBatch][];
          batchMarks[p] = new long[maxBatch * 2];
        }
        int n = batchN[p];
        long seq = ++nextSeq[lr];
        messagesCreated++;
        batchRooms[p][n] = localRooms[lr];
        batchPayloads[p][n] = payload(unitTime, localRooms[lr], seq);
        batchMarks[p][2 * n] = lr;
        batchMarks[p][2 * n + 1] = seq;
        batchN[p] = n + 1;
        if (batchN[p] == maxBatch) {
          flushBatch(p, batchRooms, batchPayloads, batchN, batchMarks);
        }
      }
    }
    for (int p = 0; p < np; p++) {
      if (batchN[p] > 0) {
        flushBatch(p, batchRooms, batchPayloads, batchN, batchMarks);
      }
    }
  }

  private void flushBatch(int p, int[][] rooms, byte[][][] payloads, int[] n, long[][] marks) {
    PubConn c = pubs.get(p);
    c.enqueue(
        target.publishPath(rooms[p][0]),
        target.publishBody(rooms[p], payloads[p], n[p]),
        java.util.Arrays.copyOf(marks[p], 2 * n[p]));
    n[p] = 0;
  }

  private int[] pickRooms(int k) {
    int[] chosen = new int[k];
    if (k == localRooms.length) {
      for (int i = 0; i < k; i++) {
        chosen[i] = i;
      }
      return chosen;
    }
    int n = 0;
    while (n < k) {
      int lr = random.nextInt(localRooms.length);
      boolean dup = false;
      for (int j = 0; j < n; j++) {
        dup |= chosen[j] == lr;
      }
      if (!dup) {
        chosen[n++] = lr;
      }
    }
    return chosen;
  }

  /** Publishes one message to each of the local rooms {@code chosen[0..k)}, due at {@code t}. */
  private void emit(int[] chosen, int k, long t) {
    if (target.batches()) {
      PubConn c = pubs.get(0);
      if (c.queued() >= o.maxPublishQueue) {
        publishSkipped += k;
        return;
      }
      int[] rooms = new int[k];
      byte[][] payloads = new byte[k][];
      long[] marks = new long[2 * k];
      for (int i = 0; i < k; i++) {
        int lr = chosen[i];
        long seq = ++nextSeq[lr];
        rooms[i] = localRooms[lr];
        payloads[i] = payload(t, localRooms[lr], seq);
        marks[2 * i] = lr;
        marks[2 * i + 1] = seq;
      }
      messagesCreated += k;
      c.enqueue(target.publishPath(rooms[0]), target.publishBody(rooms, payloads, k), marks);
      return;
    }
    for (int i = 0; i < k; i++) {
      int lr = chosen[i];
      PubConn c = pubs.get(lr % pubs.size());
      if (c.queued() >= o.maxPublishQueue) {
        publishSkipped++;
        continue;
      }
      long seq = ++nextSeq[lr];
      messagesCreated++;
      byte[] p = payload(t, localRooms[lr], seq);
      c.enqueue(
          target.publishPath(localRooms[lr]),
          target.publishBody(new int[] {localRooms[lr]}, new byte[][] {p}, 1),
          new long[] {lr, seq});
    }
  }

  private byte[] payload(long t, int room, long seq) {
    StringBuilder b =
        new StringBuilder(o.payloadBytes + 8)
            .append("{\"t\":")
            .append(t)
            .append(",\"r\":")
            .append(room)
            .append(",\"s\":")
            .append(seq)
            .append(",\"p\":\"");
    while (b.length() < o.payloadBytes - 2) {
      b.append('x');
    }
    return b.append("\"}").toString().getBytes(StandardCharsets.US_ASCII);
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private <T> T onLoop(Callable<T> task) throws Exception {
    return loop.submit(task).get(60, TimeUnit.SECONDS);
  }

  private static void sleepUntil(long nanoTime) throws InterruptedException {
    long wait;
    while ((wait = nanoTime - System.nanoTime()) > 0) {
      Thread.sleep(Math.max(1, wait / 1_000_000));
    }
  }

  private static double ms(long micros) {
    return round(micros / 1000.0);
  }

  private static double round(double v) {
    return Math.round(v * 1000) / 1000.0;
  }

  private void log(String fmt, Object... args) {
    System.err.printf(
        "loadgen[%d/%d %s %s]: %s%n",
        o.slice, o.slices, o.target, o.transport, String.format(fmt, args));
  }
}
