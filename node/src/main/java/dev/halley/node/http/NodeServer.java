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
import java.util.concurrent.atomic.AtomicLong;
import org.xnio.ChannelListener;
import org.xnio.IoUtils;
import org.xnio.OptionMap;
import org.xnio.Options;
import org.xnio.StreamConnection;
import org.xnio.Xnio;
import org.xnio.XnioWorker;
import org.xnio.channels.AcceptingChannel;
import org.xnio.management.XnioServerMXBean;

/**
 * The node's two HTTP listeners on one XNIO worker, built like {@code Undertow.builder()} does but
 * with the accept path in our hands:
 *
 * <ul>
 *   <li>every accepted socket counts against its listener's limit ({@code maxSockets}; XNIO stops
 *       accepting at the limit and resumes at 90% of it, so a flood waits in the kernel's backlog
 *       instead of taking file descriptors);
 *   <li>request heads are capped ({@code MAX_HEADER_SIZE}) and Undertow's own parser errors (an
 *       empty 400) leave as the protocol's JSON errors: 431 {@code headers_too_large} when the head
 *       was over the cap, 400 {@code bad_request} otherwise ({@link ParserErrorConduit}).
 * </ul>
 *
 * <p>Thread-safe; {@link #close()} stops both listeners and the worker.
 */
public final class NodeServer implements AutoCloseable {
  /** One listener to bind. */
  public record Listener(String host, int port, int maxSockets, HttpHandler handler) {}

  private final XnioWorker worker;
  private final List<AcceptingChannel<StreamConnection>> servers = new ArrayList<>();
  private final List<XnioServerMXBean> beans = new ArrayList<>();
  private final AtomicLong parserErrors = new AtomicLong();

  private NodeServer(XnioWorker worker) {
    this.worker = worker;
  }

  /**
   * Binds and starts every listener. {@code options}: Undertow server options (timeouts); {@code
   * maxHeaderBytes} caps a request's line plus headers.
   */
  public static NodeServer start(
      String name, int ioThreads, OptionMap options, int maxHeaderBytes, List<Listener> listeners) {
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
        int high = l.maxSockets();
        int low = Math.max(1, (int) (high * 0.9));
        OptionMap socketOptions =
            OptionMap.builder()
                .set(Options.WORKER_IO_THREADS, worker.getIoThreadCount())
                .set(Options.TCP_NODELAY, true)
                .set(Options.REUSE_ADDRESSES, true)
                .set(Options.BALANCING_TOKENS, 1)
                .set(Options.BALANCING_CONNECTIONS, 2)
                .set(Options.BACKLOG, 1000)
                .set(Options.CONNECTION_HIGH_WATER, high)
                .set(Options.CONNECTION_LOW_WATER, low)
                .getMap();
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
              ParserErrorConduit.install(c, maxHeaderBytes, server.parserErrors);
              open.handleEvent(c);
            };
        AcceptingChannel<StreamConnection> s =
            worker.createStreamConnectionServer(
                new InetSocketAddress(InetAddress.getByName(l.host()), l.port()),
                accept,
                socketOptions);
        s.resumeAccepts();
        server.servers.add(s);
      }
      for (XnioServerMXBean bean : worker.getMXBean().getServerMXBeans()) {
        server.beans.add(bean);
      }
    } catch (IOException | RuntimeException e) {
      server.close();
      throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
    }
    return server;
  }

  /** The bound port of listener {@code index} (in the order given to {@link #start}). */
  public int port(int index) {
    return ((InetSocketAddress) servers.get(index).getLocalAddress()).getPort();
  }

  /** Open sockets of listener {@code index} as XNIO counts them (-1 if unknown). */
  public int openSockets(int index) {
    int port = port(index);
    for (XnioServerMXBean b : beans) {
      if (b.getBindAddress().endsWith(":" + port)) {
        return b.getConnectionCount();
      }
    }
    return -1;
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
