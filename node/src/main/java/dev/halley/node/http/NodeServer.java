package dev.halley.node.http;

import io.undertow.UndertowOptions;
import io.undertow.connector.ByteBufferPool;
import io.undertow.server.DefaultByteBufferPool;
import io.undertow.server.HttpHandler;
import io.undertow.server.protocol.http.HttpOpenListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.xnio.ChannelListener;
import org.xnio.ChannelListeners;
import org.xnio.IoUtils;
import org.xnio.OptionMap;
import org.xnio.Options;
import org.xnio.StreamConnection;
import org.xnio.Xnio;
import org.xnio.XnioWorker;
import org.xnio.channels.AcceptingChannel;

/**
 * The node's two HTTP listeners on one XNIO worker, built like {@code Undertow.builder()} does but
 * with the accept path in our hands:
 *
 * <ul>
 *   <li>every accepted socket counts against its listener's limit ({@code maxSockets}) from accept
 *       to close; one accepted over it is answered 503 {@code over_capacity} with {@code
 *       Retry-After} and closed ({@link OverCapacity}), so a client learns at once instead of
 *       waiting in the kernel's backlog. XNIO's accept high water sits above the limit plus the
 *       refused sockets that may linger, as a backstop on file descriptors;
 *   <li>request heads are capped ({@code MAX_HEADER_SIZE}) and Undertow's own parser errors (an
 *       empty 400) leave as the protocol's JSON errors: 431 {@code headers_too_large} when the head
 *       was over the cap, 400 {@code bad_request} otherwise ({@link ParserErrorConduit}).
 * </ul>
 *
 * <p>Thread-safe; {@link #close()} stops both listeners and the worker.
 */
public final class NodeServer implements AutoCloseable {
  /**
   * One listener to bind; {@code cors}: the CORS rule its answers follow (the 503 over the limit
   * included), or null for a listener without CORS.
   */
  public record Listener(
      String host, int port, int maxSockets, CorsPolicy cors, HttpHandler handler) {}

  /**
   * What a socket accepted over its listener's limit gets: the 503's {@code Retry-After}, how long
   * it may wait for the client's request head before it is closed, and how many may wait at once
   * per listener (more are closed right after the 503).
   */
  public record Refusal(int retryAfterSeconds, long lingerMs, int maxLingering) {}

  /** Per listener: sockets served and refused. Atomics: accepts and closes run on any IO thread. */
  private static final class Counts {
    final AtomicInteger open = new AtomicInteger();
    final AtomicInteger lingering = new AtomicInteger();
    final AtomicLong refused = new AtomicLong();
  }

  private final XnioWorker worker;
  private final List<AcceptingChannel<StreamConnection>> servers = new ArrayList<>();
  private final List<Counts> counts = new ArrayList<>();
  private final AtomicLong parserErrors = new AtomicLong();

  private NodeServer(XnioWorker worker) {
    this.worker = worker;
  }

  /**
   * Binds and starts every listener. {@code options}: Undertow server options (timeouts); {@code
   * maxHeaderBytes} caps a request's line plus headers.
   */
  public static NodeServer start(
      String name,
      int ioThreads,
      OptionMap options,
      int maxHeaderBytes,
      Refusal refusal,
      List<Listener> listeners) {
    Xnio xnio = Xnio.getInstance(NodeServer.class.getClassLoader());
    XnioWorker worker;
    try {
      worker =
          xnio.createWorker(
              OptionMap.builder()
                  .set(Options.WORKER_IO_THREADS, ioThreads)
                  .set(Options.WORKER_TASK_CORE_THREADS, 2)
                  .set(Options.WORKER_TASK_MAX_THREADS, 2)
                  .set(Options.WORKER_NAME, name)
                  .set(Options.TCP_NODELAY, true)
                  .set(Options.CORK, true)
                  .getMap());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    NodeServer server = new NodeServer(worker);
    try {
      ByteBufferPool buffers = new DefaultByteBufferPool(true, 16 * 1024, -1, 4);
      OptionMap undertowOptions =
          OptionMap.builder()
              .set(UndertowOptions.BUFFER_PIPELINED_DATA, true)
              .set(UndertowOptions.MAX_HEADER_SIZE, maxHeaderBytes)
              .addAll(options)
              .getMap();
      for (Listener l : listeners) {
        HttpOpenListener open = new HttpOpenListener(buffers, undertowOptions);
        open.setRootHandler(l.handler());
        Counts counts = new Counts();
        OverCapacity overCapacity = new OverCapacity(refusal, counts.lingering, l.cors());
        // Backstop only: the limit is enforced below, this bounds fds if the count were wrong.
        // XNIO splits it across the IO threads' accept handles. No accept balancing tokens
        // (Undertow's builder sets them): a handle at its share that holds the token stalls every
        // accept, which left clients in the backlog below the limit (SocketLimitTest on the old
        // code); without tokens any handle with room accepts.
        int high =
            (int)
                Math.min(
                    Integer.MAX_VALUE,
                    (long) l.maxSockets() + refusal.maxLingering() + 4L * ioThreads + 16);
        OptionMap socketOptions =
            OptionMap.builder()
                .set(Options.WORKER_IO_THREADS, worker.getIoThreadCount())
                .set(Options.TCP_NODELAY, true)
                .set(Options.REUSE_ADDRESSES, true)
                .set(Options.BACKLOG, 1000)
                .set(Options.CONNECTION_HIGH_WATER, high)
                .set(Options.CONNECTION_LOW_WATER, high)
                .getMap();
        int max = l.maxSockets();
        ChannelListener<AcceptingChannel<StreamConnection>> accept =
            ch -> {
              StreamConnection c;
              try {
                c = ch.accept();
              } catch (IOException e) {
                return;
              }
              if (c == null) {
                return;
              }
              if (counts.open.incrementAndGet() > max) {
                counts.open.decrementAndGet();
                counts.refused.incrementAndGet();
                overCapacity.refuse(c);
                return;
              }
              ParserErrorConduit.install(c, maxHeaderBytes, server.parserErrors);
              open.handleEvent(c);
              // Undertow's connection set its close listener; ours runs first, then it.
              SocketClosed closed = new SocketClosed(counts, c.getCloseListener());
              c.setCloseListener(closed);
              if (!c.isOpen()) {
                closed.release(); // closed before our listener was in place
              }
            };
        AcceptingChannel<StreamConnection> s =
            worker.createStreamConnectionServer(
                new InetSocketAddress(InetAddress.getByName(l.host()), l.port()),
                accept,
                socketOptions);
        s.resumeAccepts();
        server.servers.add(s);
        server.counts.add(counts);
      }
    } catch (IOException | RuntimeException e) {
      server.close();
      throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
    }
    return server;
  }

  /**
   * An accepted socket's close listener: gives its place under the listener's limit back once, then
   * runs Undertow's. One object per socket (it is its own once-flag), issue 12.
   */
  private static final class SocketClosed extends AtomicBoolean
      implements ChannelListener<StreamConnection> {
    private final Counts counts;
    private final ChannelListener<? super StreamConnection> undertow;

    SocketClosed(Counts counts, ChannelListener<? super StreamConnection> undertow) {
      super(true);
      this.counts = counts;
      this.undertow = undertow;
    }

    void release() {
      if (compareAndSet(true, false)) {
        counts.open.decrementAndGet();
      }
    }

    @Override
    public void handleEvent(StreamConnection closed) {
      release();
      ChannelListeners.invokeChannelListener(closed, undertow);
    }
  }

  /** The bound port of listener {@code index} (in the order given to {@link #start}). */
  public int port(int index) {
    return ((InetSocketAddress) servers.get(index).getLocalAddress()).getPort();
  }

  /** Sockets listener {@code index} serves now (accepted under its limit and not yet closed). */
  public int openSockets(int index) {
    return counts.get(index).open.get();
  }

  /** Sockets listener {@code index} refused over its limit (503 {@code over_capacity}). */
  public long refusedSockets(int index) {
    return counts.get(index).refused.get();
  }

  /** Requests Undertow's parser refused (answered 400 or 431 with a JSON body). */
  public long parserErrors() {
    return parserErrors.get();
  }

  @Override
  public void close() {
    for (AcceptingChannel<StreamConnection> s : servers) {
      IoUtils.safeClose(s);
    }
    worker.shutdownNow();
    try {
      worker.awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
