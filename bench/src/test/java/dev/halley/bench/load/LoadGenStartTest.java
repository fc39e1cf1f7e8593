package dev.halley.bench.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.HalleyNode;
import dev.halley.node.config.NodeConfig;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The generator counts a subscriber as connected only once the server has taken its subscription. A
 * long-poll's TCP connect says nothing about that: on a loaded machine the node can read the first
 * request long after the generator started publishing, and the messages published meanwhile were
 * never the subscriber's (a request without {@code lastEventId} starts at the current position).
 * Counting them as lost made {@link LoadGenSmokeTest} fail with a loss the node did not cause. Here
 * a real proxy in front of the node's public listener holds every connection's first bytes for a
 * while, so the node sees each first request well after the TCP connect.
 */
class LoadGenStartTest {
  private static final String KEY = "bench-api-key-0123456789";
  private static final String SECRET = "bench-secret-0123456789-0123456789-abcdef";
  private static final long FIRST_BYTES_DELAY_MS = 1_500;

  private HalleyNode node;
  private DelayingProxy proxy;

  private void start(int bufferMaxEvents, long everyDelayMs) throws IOException {
    URI placeholder = URI.create("http://127.0.0.1:1");
    node =
        HalleyNode.start(
            NodeConfig.builder()
                .nodeId("a")
                .map(ClusterMap.of(1, List.of(new NodeInfo("a", placeholder, placeholder))))
                .publicHost("127.0.0.1")
                .publicPort(0)
                .internalHost("127.0.0.1")
                .internalPort(0)
                .apiKeys(List.of(KEY))
                .tokenHmacSecret(SECRET)
                .bufferMaxEvents(bufferMaxEvents)
                .build());
    node.updateMap(
        ClusterMap.of(
            2,
            List.of(
                new NodeInfo(
                    "a",
                    URI.create("http://127.0.0.1:" + node.publicPort()),
                    URI.create("http://127.0.0.1:" + node.internalPort())))));
    proxy = new DelayingProxy(node.publicPort(), FIRST_BYTES_DELAY_MS, everyDelayMs);
  }

  @AfterEach
  void stop() {
    if (proxy != null) {
      proxy.close();
    }
    if (node != null) {
      node.close();
    }
  }

  @Test
  void aLongPollSubscriberIsConnectedOnlyOnceTheNodeAnsweredItsFirstRequest() throws Exception {
    start(1_000, 0);
    ObjectNode r =
        LoadGen.run(
            LoadOptions.parse(
                "target=halley",
                "transport=longpoll",
                "port=" + proxy.port(),
                "publishPort=" + node.internalPort(),
                "apiKey=" + KEY,
                "secret=" + SECRET,
                "userPrefix=late-",
                "users=20",
                "roomSize=20",
                "burstRooms=1",
                "rate=400",
                "warmup=0.5",
                "measure=1",
                "drain=30"));
    String all = r.toString();
    assertEquals(20, r.get("connected").asInt(), all);
    assertTrue(r.get("expected").asLong() > 0, all);
    assertEquals(0, r.get("lost").asLong(), all);
    assertEquals(r.get("expected").asLong(), r.get("received").asLong(), all);
    assertEquals(0, r.get("resets").asLong(), all);
  }

  /**
   * A reset shares its long-poll batch with the events replayed after it: it must be counted, and
   * the gap it announces is not a silent loss. Every request crawls through the proxy while the
   * node buffers 5 events per user, so each poll resumes from a position the buffer no longer
   * covers.
   */
  @Test
  void aResetInABatchWithMessagesIsCountedAndItsGapIsNotSilent() throws Exception {
    start(5, 300);
    ObjectNode r =
        LoadGen.run(
            LoadOptions.parse(
                "target=halley",
                "transport=longpoll",
                "port=" + proxy.port(),
                "publishPort=" + node.internalPort(),
                "apiKey=" + KEY,
                "secret=" + SECRET,
                "userPrefix=reset-",
                "users=4",
                "roomSize=4",
                "burstRooms=1",
                "rate=400",
                "warmup=0.5",
                "measure=2",
                "drain=30"));
    String all = r.toString();
    assertEquals(4, r.get("connected").asInt(), all);
    assertTrue(r.get("lost").asLong() > 0, all);
    assertTrue(r.get("resets").asLong() > 0, all);
    assertEquals(0, r.get("lostWithoutReset").asLong(), all);
    assertEquals(0, r.get("duplicates").asLong(), all);
  }

  /**
   * A TCP proxy on 127.0.0.1 whose connections forward the client's first bytes only after {@code
   * firstDelayMs} and each later read of the client's bytes after {@code everyDelayMs} (a slow path
   * to the server); the server's bytes go back at once. Two threads per connection.
   */
  static final class DelayingProxy implements AutoCloseable {
    private final ServerSocket server;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();

    DelayingProxy(int upstreamPort, long firstDelayMs, long everyDelayMs) throws IOException {
      server = new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
      Thread accept =
          new Thread(
              () -> {
                while (!server.isClosed()) {
                  try {
                    Socket client = server.accept();
                    Socket upstream = new Socket(InetAddress.getLoopbackAddress(), upstreamPort);
                    sockets.add(client);
                    sockets.add(upstream);
                    pipe(client, upstream, firstDelayMs, everyDelayMs);
                    pipe(upstream, client, 0, 0);
                  } catch (IOException e) {
                    return; // closed
                  }
                }
              },
              "delaying-proxy-accept");
      accept.setDaemon(true);
      accept.start();
    }

    int port() {
      return server.getLocalPort();
    }

    private void pipe(Socket from, Socket to, long firstDelayMs, long everyDelayMs) {
      Thread t =
          new Thread(
              () -> {
                byte[] buf = new byte[16 * 1024];
                boolean first = true;
                try (InputStream in = from.getInputStream();
                    OutputStream out = to.getOutputStream()) {
                  int n;
                  while ((n = in.read(buf)) >= 0) {
                    long delay = first ? firstDelayMs : everyDelayMs;
                    if (delay > 0) {
                      Thread.sleep(delay); // the slow path: the fault this test injects
                    }
                    first = false;
                    out.write(buf, 0, n);
                    out.flush();
                  }
                } catch (IOException | InterruptedException e) {
                  // either side closed
                } finally {
                  closeQuietly(from);
                  closeQuietly(to);
                }
              },
              "delaying-proxy-pipe");
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
    public void close() {
      try {
        server.close();
      } catch (IOException ignored) {
        // closing anyway
      }
      sockets.forEach(DelayingProxy::closeQuietly);
    }
  }
}
