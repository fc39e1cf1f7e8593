package dev.halley.node.transport.ws;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.TextNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.RawWebSocket;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.ObjectName;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 11 item 5: a large event sent to many WebSockets that do not read is held once, not once
 * per connection. {@link #STALLED} clients that never read get {@link #EVENTS} channel messages of
 * 60 KB each (within their byte bound, so none is cut); the frames the sockets cannot take stay in
 * the node, and the heap's byte arrays after a full GC (the JVM's class histogram) must grow by far
 * less than a copy per connection ({@code STALLED x EVENTS x 60 KB} = 120 MB would be all of them;
 * the frames in flight alone, four per connection, were 48 MB on the old write path). Then every
 * client reads and must get every event whole and in order. Not timed.
 */
class WsSharedFrameTest {
  private static final int STALLED = 200;
  private static final int EVENTS = 10;
  private static final String CHANNEL = "big";
  private static final String PAD = "s".repeat(60_000);

  private HalleyNode node;
  private InternalApi api;
  private final List<RawWebSocket> sockets = new ArrayList<>();

  @BeforeEach
  void start() {
    node = HalleyNode.start(TestNodes.config().build());
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
    long before = byteArrayBytes();
    for (int n = 0; n < EVENTS; n++) {
      api.publishToChannel(CHANNEL, TextNode.valueOf(n + ":" + PAD));
    }
    // Wait until every connection has taken at least four events into its socket (what the old
    // write path's frames in flight were), i.e. the node holds what it could not write.
    await()
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(200))
        .until(() -> delivered() >= 4.0 * STALLED);
    long grown = byteArrayBytes() - before;
    long perCopy = (long) STALLED * EVENTS * PAD.length();
    assertTrue(
        grown < perCopy / 8,
        "byte arrays grew by "
            + grown
            + " bytes with "
            + STALLED
            + " stalled WebSockets; a copy"
            + " per connection would be "
            + perCopy);
    for (RawWebSocket s : sockets.subList(0, 20)) {
      List<String> texts = s.readTexts(EVENTS + 1); // hello, then the events
      for (int n = 0; n < EVENTS; n++) {
        String text = texts.get(n + 1);
        assertTrue(text.contains("\"" + n + ":" + PAD + "\""), "event " + n + " whole, in order");
      }
    }
  }

  private double delivered() {
    String m = Scrape.get(node.internalPort(), "/metrics").body();
    return Scrape.sample(m, "halley_events_delivered_total{transport=\"websocket\"}");
  }

  /** Bytes of live byte arrays (the histogram runs a full GC first). */
  private static long byteArrayBytes() throws Exception {
    String histogram =
        (String)
            ManagementFactory.getPlatformMBeanServer()
                .invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"),
                    "gcClassHistogram",
                    new Object[] {null},
                    new String[] {String[].class.getName()});
    Matcher m =
        Pattern.compile("^\\s*\\d+:\\s+\\d+\\s+(\\d+)\\s+\\[B(\\s|$)", Pattern.MULTILINE)
            .matcher(histogram);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }
}
