package dev.halley.router;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/** A real TCP server that accepts connections and never answers: a hung node, for tests. */
final class HangingServer implements AutoCloseable {
  private final ServerSocket server;
  private final List<Socket> accepted = new CopyOnWriteArrayList<>();
  private final AtomicInteger connections = new AtomicInteger();
  private final AtomicLong bytesReceived = new AtomicLong();
  private final Thread acceptor;
  private boolean closed; // guarded by this, with the adding to accepted

  HangingServer() throws IOException {
    server = new ServerSocket();
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    acceptor =
        new Thread(
            () -> {
              while (!server.isClosed()) {
                try {
                  Socket s = server.accept();
                  connections.incrementAndGet();
                  synchronized (this) {
                    if (closed) {
                      s.close(); // accepted while close() ran: it must end too
                    } else {
                      accepted.add(s);
                      startReading(s);
                    }
                  }
                } catch (IOException e) {
                  return;
                }
              }
            },
            "hanging-server");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /**
   * Counts what a client sends, so a test can wait until a request was written, not just connected.
   */
  private void startReading(Socket s) {
    Thread r =
        new Thread(
            () -> {
              byte[] buf = new byte[4096];
              try {
                for (int n; (n = s.getInputStream().read(buf)) > 0; ) {
                  bytesReceived.addAndGet(n);
                }
              } catch (IOException e) {
                // closed: nothing more to count
              }
            },
            "hanging-server-reader");
    r.setDaemon(true);
    r.start();
  }

  /** Bytes received on every connection so far (a request written to this server counts here). */
  long bytesReceived() {
    return bytesReceived.get();
  }

  URI url() {
    return URI.create("http://127.0.0.1:" + server.getLocalPort());
  }

  int connections() {
    return connections.get();
  }

  /**
   * Closes the listener and every held connection: waiting clients see their connection end, and a
   * connection opened after that is refused.
   *
   * <p>The held connections are closed only once the accept thread has ended: until its blocked
   * {@code accept} returns, the kernel keeps the listening socket open (the call holds it), so a
   * client reacting at once to the end of a held connection could still be accepted.
   */
  @Override
  public void close() throws IOException {
    synchronized (this) {
      closed = true;
    }
    server.close();
    try {
      acceptor.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (acceptor.isAlive()) {
      throw new IllegalStateException("the accept thread did not end within 10 s of close");
    }
    for (Socket s : accepted) {
      s.close();
    }
  }
}
