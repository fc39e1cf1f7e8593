package dev.halley.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.it.fleet.Await;
import dev.halley.it.fleet.Fleet;
import dev.halley.it.fleet.NodeContainer;
import dev.halley.it.fleet.Scenario;
import dev.halley.it.fleet.StreamClient;
import dev.halley.it.fleet.Traffic;
import dev.halley.router.Publisher;
import dev.halley.router.TokenMinter;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Scenario 6 of issue 13: 200 clients (100 WebSocket, 100 SSE, raw sockets with a small receive
 * buffer) connect and then stop reading while 48 KiB events keep coming (more than the kernel's
 * socket buffers hold within a minute), and healthy clients on every transport keep reading. Each
 * slow client is cut once its connection queue is over its bound (all 200 are counted as slow
 * consumers), the node's memory stays bounded (measured as the RSS of the container's JVM, which
 * runs with a 160 MiB heap and exits on OutOfMemoryError; the slow clients are sent several times
 * the heap, so an unbounded queue would kill it), and the healthy clients receive everything
 * without their latency moving towards the publisher's timeout.
 */
class SlowConsumerIT {
  private static final int SLOW = 200;
  private static final int PAYLOAD = 48 * 1024;
  private static final int QUEUE_BYTES = 128 * 1024;
  private static final int BUFFER_EVENTS = 100;
  private static final long HEAP = 160L << 20;

  @Test
  void slowClientsAreCutMemoryStaysBoundedAndOthersAreNotSlowedDown() throws Exception {
    String yaml =
        Fleet.defaultNodeYaml()
            + "maxBodyBytes: "
            + QUEUE_BYTES
            + "\nconnectionQueueMaxBytes: "
            + QUEUE_BYTES
            + "\nbufferMaxEvents: "
            + BUFFER_EVENTS
            + "\nmaxConnectionsPerUser: 10\n";
    // Slow clients are cut by connectionQueueMaxBytes (three 48 KiB events); the event bound stays
    // at its default so a healthy client (100 small messages a second) that a loaded machine
    // stalls for a second is not cut too.
    Map<String, String> env =
        Map.of("JAVA_TOOL_OPTIONS", "-Xmx160m -XX:+ExitOnOutOfMemoryError -XX:-UsePerfData");
    List<Socket> slow = new ArrayList<>();
    try (Fleet fleet = Fleet.start(yaml, env, "a");
        Publisher publisher = fleet.publisher(b -> b.maxRequestBytes(QUEUE_BYTES / 2))) {
      NodeContainer a = fleet.node("a");
      List<StreamClient> healthy = Scenario.clientsOn(fleet, "a", "fast", 3);
      Scenario.awaitConnected(healthy);
      TokenMinter minter = TokenMinter.hs256(NodeContainer.SECRET);
      List<String> slowUsers = new ArrayList<>();
      for (int i = 0; i < SLOW; i++) {
        String user = "slow-" + i;
        slowUsers.add(user);
        slow.add(
            connectAndNeverRead(
                a.publicPort,
                i % 2 == 0 ? "/v1/ws" : "/v1/sse",
                minter.mint(user, Duration.ofHours(1))));
      }
      Await.until(
          () -> connections(a) == SLOW + healthy.size(),
          () -> "all connected: " + connections(a),
          Duration.ofSeconds(60));
      long rssBefore = a.rssBytes();
      String payload = "x".repeat(PAYLOAD);
      try (Traffic traffic = new Traffic(publisher, Scenario.users(healthy), 100).start()) {
        traffic.awaitRounds(10);
        long blastFrom = System.nanoTime();
        long rssPeak = rssBefore;
        int rounds = 0;
        // Bounded: one event to every slow user 5 times a second until all are cut (at most 60 s).
        while (slowCuts(a) < SLOW && rounds < 300) {
          publisher.publish(slowUsers, Map.of("pad", payload)).get();
          rounds++;
          rssPeak = Math.max(rssPeak, a.rssBytes());
          Thread.sleep(200); // the blast's pace (5 a second), not a wait for a condition
        }
        long blastTo = System.nanoTime();
        traffic.awaitRounds(10);
        traffic.stop();
        rssPeak = Math.max(rssPeak, a.rssBytes());
        Traffic.Tally h = Scenario.settle(traffic, healthy);
        List<Long> before = new ArrayList<>();
        List<Long> during = new ArrayList<>();
        healthy.forEach(c -> before.addAll(c.latenciesNanos(0, blastFrom)));
        healthy.forEach(c -> during.addAll(c.latenciesNanos(blastFrom, blastTo)));
        // What each slow client was sent, and what the queue bounds let them pin (events in the
        // buffers are shared by every user they went to).
        long pushed = (long) rounds * PAYLOAD;
        long bound = (long) SLOW * QUEUE_BYTES;
        Scenario.record(
            "slow-consumer",
            "cut "
                + (long) slowCuts(a)
                + " of "
                + SLOW
                + " slow clients after "
                + rounds
                + " rounds of "
                + PAYLOAD
                + " B; RSS before "
                + mib(rssBefore)
                + " MiB, peak "
                + mib(rssPeak)
                + " MiB (growth "
                + mib(rssPeak - rssBefore)
                + " MiB; queue bounds allow "
                + mib(bound)
                + " MiB; each slow client was sent "
                + mib(pushed)
                + " MiB); healthy p99 before "
                + Scenario.ms(Traffic.percentile(before, 99))
                + " ms, during "
                + Scenario.ms(Traffic.percentile(during, 99))
                + " ms; healthy "
                + h);

        assertEquals(SLOW, (long) slowCuts(a), "every slow client was cut as a slow consumer");
        assertTrue(a.isRunning(), "the node survived with its 160 MiB heap");
        // Unbounded queues would have had to hold SLOW x pushed bytes, several times the heap.
        assertTrue(
            (long) SLOW * pushed > 2 * HEAP, "the slow clients were sent more than the heap");
        assertTrue(
            rssPeak < HEAP + (256L << 20),
            "RSS " + mib(rssPeak) + " MiB stays within the heap plus the JVM's own memory");
        assertEquals(h.published, h.received, "healthy clients received everything: " + h);
        assertEquals(0, h.failed + h.resets + h.duplicates + h.acceptedOutOfOrder, h.toString());
        for (StreamClient c : healthy) {
          assertEquals(1, c.connectedAtNanos().size(), "never cut: " + c);
        }
        assertTrue(
            Traffic.percentile(during, 99) < Fleet.REQUEST_TIMEOUT.toNanos() / 2,
            "healthy p99 while slow clients back up stays far below the publish timeout");
      } finally {
        Scenario.closeAll(healthy);
      }
    } finally {
      for (Socket s : slow) {
        s.close();
      }
    }
  }

  /** Opens a WebSocket or SSE stream on a raw socket with a 4 KiB receive buffer; never reads. */
  private static Socket connectAndNeverRead(int port, String path, String token)
      throws IOException {
    Socket s = new Socket();
    s.setReceiveBufferSize(4096);
    s.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
    String request =
        "GET "
            + path
            + "?token="
            + token
            + " HTTP/1.1\r\nHost: 127.0.0.1:"
            + port
            + "\r\n"
            + (path.equals("/v1/ws")
                ? "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                : "Accept: text/event-stream\r\n")
            + "\r\n";
    OutputStream out = s.getOutputStream();
    out.write(request.getBytes(StandardCharsets.US_ASCII));
    out.flush();
    return s;
  }

  private static double connections(NodeContainer a) {
    String m = a.metrics();
    double sum = 0;
    for (String t : List.of("websocket", "sse", "longpoll", "poll")) {
      sum += sample(m, "halley_connections{transport=\"" + t + "\"}");
    }
    return sum;
  }

  private static double slowCuts(NodeContainer a) {
    String m = a.metrics();
    return sample(m, "halley_slow_consumer_disconnects_total{transport=\"websocket\"}")
        + sample(m, "halley_slow_consumer_disconnects_total{transport=\"sse\"}");
  }

  private static double sample(String metrics, String series) {
    for (String line : metrics.split("\n")) {
      if (line.startsWith(series + " ")) {
        return Double.parseDouble(line.substring(series.length() + 1).trim().split(" ")[0]);
      }
    }
    return 0;
  }

  private static long mib(long bytes) {
    return bytes >> 20;
  }
}
