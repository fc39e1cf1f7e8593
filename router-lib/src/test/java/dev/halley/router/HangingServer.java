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

/** A real TCP server that accepts connections and never answers: a hung node, for tests. */
final class HangingServer implements AutoCloseable {
  private final ServerSocket server;
  private final List<Socket> accepted = new CopyOnWriteArrayList<>();
  private final AtomicInteger connections = new AtomicInteger();
  private boolean closed; // guarded by this, with the adding to accepted

  HangingServer() throws IOException {
    server = new ServerSocket();
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    Thread t =
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
                    }
                  }
                } catch (IOException e) {
                  return;
                }
              }
            },
            "hanging-server");
    t.setDaemon(true);
    t.start();
  }

  URI url() {
    return URI.create("http://127.0.0.1:" + server.getLocalPort());
  }

  int connections() {
    return connections.get();
  }

  /** Closes the listener and every held connection: waiting clients see their connection end. */
  @Override
  public void close() throws IOException {
    synchronized (this) {
      closed = true;
    }
    server.close();
    for (Socket s : accepted) {
      s.close();
    }
  }
}
