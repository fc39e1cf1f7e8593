package dev.halley.router;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real TCP forwarder in front of a node's internal port, for tests: it counts the publish
 * requests that pass through (so batching is counted on the wire, at the node's door), and can
 * swallow the node's replies on the first N connections (the node handles the request, the client
 * never hears back: a forced timeout after delivery), or hold requests back until released.
 * Blocking I/O, one thread per direction.
 */
final class TcpProxy implements AutoCloseable {
  private static final byte[] PUBLISH = "POST /v1/publish ".getBytes(StandardCharsets.US_ASCII);

  private final ServerSocket server;
  private final int targetPort;
  private final AtomicInteger publishRequests = new AtomicInteger();
  private final AtomicInteger connections = new AtomicInteger();
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private volatile int swallowRepliesOfFirst;
  private volatile CountDownLatch gate = new CountDownLatch(0);
  private final AtomicInteger refusals = new AtomicInteger();
  private final AtomicInteger refused = new AtomicInteger();

  TcpProxy(int targetPort) throws IOException {
    this.targetPort = targetPort;
    this.server = new ServerSocket();
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    Thread acceptor = new Thread(this::acceptLoop, "proxy-accept-" + server.getLocalPort());
    acceptor.setDaemon(true);
    acceptor.start();
  }

  URI url() {
    return URI.create("http://127.0.0.1:" + server.getLocalPort());
  }

  /** The node's replies on the next {@code n} new connections are read and thrown away. */
  void swallowRepliesOfFirst(int n) {
    swallowRepliesOfFirst = connections.get() + n;
  }

  /**
   * The next {@code n} requests are answered {@code 503 {"error": "not_ready"}} by the proxy itself
   * (the node never sees them): a node refusing work for a while. Open connections are cut first,
   * so the client's next requests come on new connections; each refused one is closed after the
   * answer.
   */
  void refuseNext(int n) {
    refusals.set(n);
    for (Socket s : sockets) {
      closeQuietly(s);
    }
  }

  /** Requests answered 503 so far. */
  int refused() {
    return refused.get();
  }

  /** Requests are held at the proxy (not forwarded) until {@link #open()}. */
  void hold() {
    gate = new CountDownLatch(1);
  }

  void open() {
    gate.countDown();
  }

  /** TCP connections the client opened through the proxy. */
  int connections() {
    return connections.get();
  }

  int publishRequests() {
    return publishRequests.get();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket client = server.accept();
        int index = connections.getAndIncrement();
        if (refusals.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
          refuse(client);
          continue;
        }
        Socket node = new Socket(InetAddress.getLoopbackAddress(), targetPort);
        sockets.add(client);
        sockets.add(node);
        boolean swallow = index < swallowRepliesOfFirst;
        pump(client, node, true, false);
        pump(node, client, false, swallow);
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private void pump(Socket from, Socket to, boolean count, boolean swallow) {
    Thread t =
        new Thread(
            () -> {
              byte[] buf = new byte[16384];
              int matched = 0;
              try (InputStream in = from.getInputStream()) {
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buf)) >= 0) {
                  if (count) {
                    gate.await();
                    for (int i = 0; i < n; i++) {
                      matched =
                          buf[i] == PUBLISH[matched] ? matched + 1 : (buf[i] == PUBLISH[0] ? 1 : 0);
                      if (matched == PUBLISH.length) {
                        publishRequests.incrementAndGet();
                        matched = 0;
                      }
                    }
                  }
                  if (!swallow) {
                    out.write(buf, 0, n);
                    out.flush();
                  }
                }
              } catch (IOException | InterruptedException ignored) {
                // a side closed
              } finally {
                closeQuietly(from);
                closeQuietly(to);
              }
            },
            "proxy-pump");
    t.setDaemon(true);
    t.start();
  }

  /** Reads one request (headers, then Content-Length bytes) and answers 503, on its own thread. */
  private void refuse(Socket client) {
    Thread t =
        new Thread(
            () -> {
              try (client) {
                InputStream in = client.getInputStream();
                StringBuilder head = new StringBuilder();
                int b;
                while ((b = in.read()) >= 0) {
                  head.append((char) b);
                  if (head.length() >= 4 && head.substring(head.length() - 4).equals("\r\n\r\n")) {
                    break;
                  }
                }
                int length = 0;
                for (String line : head.toString().split("\r\n")) {
                  if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                    length = Integer.parseInt(line.substring(15).trim());
                  }
                }
                in.readNBytes(length);
                byte[] body =
                    "{\"error\":\"not_ready\",\"message\":\"refused by the test proxy\"}"
                        .getBytes(StandardCharsets.US_ASCII);
                OutputStream out = client.getOutputStream();
                out.write(
                    ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                            + "Content-Length: "
                            + body.length
                            + "\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
                refused.incrementAndGet();
              } catch (IOException | RuntimeException ignored) {
                // the client went away
              }
            },
            "proxy-refuse");
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : sockets) {
      closeQuietly(s);
    }
  }
}
