package dev.halley.node.transport.ws;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.TextNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.HeapHistogram;
import dev.halley.node.InternalApi;
import dev.halley.node.RawWebSocket;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 11 item 5: a large event sent to many WebSockets that do not read is held once, not once
 * per connection. {@link #STALLED} clients that never read get {@link #EVENTS} channel messages of
 * 60 KB each (7.2 MB per connection, more than a loopback socket's send buffer takes: it grows to 4
 * MB here; within their byte bound so none is cut). Once no connection makes progress, the frames
 * their sockets could not take stay in the node, and the heap's byte arrays after a full GC (the
 * JVM's class histogram) must have grown by less than the events themselves (7.2 MB, shared by
 * every buffer and queue). The old write path copied each frame in flight, four per connection (20
 * x 4 x 60 KB = 4.8 MB more): it grew by 9.1 MB here and failed; this one by 4.5 MB. Then clients
 * read and must get every event whole and in order. Not timed.
 */
class WsSharedFrameTest {
  private static final int STALLED = 20;
  private static final int EVENTS = 120;
  private static final String CHANNEL = "big";
  private static final String PAD = "s".repeat(60_000);

  private HalleyNode node;
  private InternalApi api;
  private final List<RawWebSocket> sockets = new ArrayList<>();

  @BeforeEach
  void start() {
    node = HalleyNode.start(TestNodes.config().connectionQueueMaxBytes(16 << 20).build());
    api = new InternalApi(node);
  }

  @AfterEach
  void stop() throws Exception {
    for (RawWebSocket s : sockets) {
      s.close();
    }
    node.close();
  }

  @Test
  void aLargeEventToManyStalledWebSocketsIsHeldOnce() throws Exception {
    List<String> users = new ArrayList<>();
    for (int i = 0; i < STALLED; i++) {
      String user = TestNodes.userOwnedBy("a", "stalled", i);
      users.add(user);
      sockets.add(RawWebSocket.connect(node.publicPort(), TestNodes.token(user, List.of(CHANNEL))));
    }
    for (String user : users) {
      api.awaitConnections(user, 1);
    }
    long before = HeapHistogram.bytes("[B");
    for (int n = 0; n < EVENTS; n++) {
      api.publishToChannel(CHANNEL, TextNode.valueOf(n + ":" + PAD));
    }
    // Wait until the sockets take nothing more: the delivered count (events taken for writing)
    // stops moving.
    double[] last = {-1};
    await()
        .atMost(Duration.ofSeconds(120))
        .pollInterval(Duration.ofSeconds(1))
        .until(
            () -> {
              double d = delivered();
              boolean still = d == last[0] && d >= 4.0 * STALLED;
              last[0] = d;
              return still;
            });
    long grown = HeapHistogram.bytes("[B") - before;
    long events = (long) EVENTS * PAD.length();
    long copies = (long) STALLED * 4 * PAD.length();
    assertTrue(
        grown < events,
        "byte arrays grew by "
            + grown
            + " bytes with "
            + STALLED
            + " stalled WebSockets; the events are "
            + events
            + " bytes, four copies in flight per connection would add "
            + copies);
    for (RawWebSocket s : sockets.subList(0, 5)) {
      List<String> messages = new ArrayList<>();
      while (messages.size() < EVENTS) {
        String text = s.readTexts(1).get(0);
        if (text.startsWith("{\"type\":\"message\"")) {
          messages.add(text); // hello and heartbeat pings are skipped
        }
      }
      for (int n = 0; n < EVENTS; n++) {
        String text = messages.get(n);
        assertTrue(text.contains("\"" + n + ":" + PAD + "\""), "event " + n + " whole, in order");
      }
    }
  }

  private double delivered() {
    String m = Scrape.get(node.internalPort(), "/metrics").body();
    return Scrape.sample(m, "halley_events_delivered_total{transport=\"websocket\"}");
  }
}
