package dev.halley.node.transport.ws;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.HalleyNode;
import dev.halley.node.HeapHistogram;
import dev.halley.node.RawWebSocket;
import dev.halley.node.TestNodes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An open WebSocket does not keep the HTTP request it was upgraded from: Undertow's HTTP connection
 * object stays reachable from the socket's close listener for the socket's life, and with it the
 * upgrade's exchange (request headers, URL, query string with the token: about 4 KB) unless the
 * node drops it at the upgrade ({@link UpgradedRequest}), and its HTTP read listener with the
 * parser's state (the query string again, the header values). Counted with the JVM's class
 * histogram (after a full GC), not timed. Fails on the old code: every open WebSocket kept its
 * exchange; before the read listener was dropped, each kept its parser state.
 */
class WsConnectionRetentionTest {
  private static final int SOCKETS = 100;

  private HalleyNode node;
  private final List<RawWebSocket> sockets = new ArrayList<>();

  @BeforeEach
  void start() {
    node = HalleyNode.start(TestNodes.config().build());
  }

  @AfterEach
  void stop() throws Exception {
    for (RawWebSocket s : sockets) {
      s.close();
    }
    node.close();
  }

  @Test
  void anOpenWebSocketDoesNotKeepTheRequestItWasUpgradedFrom() throws Exception {
    for (int i = 0; i < SOCKETS; i++) {
      String user = TestNodes.userOwnedBy("a", "idle", i);
      sockets.add(RawWebSocket.connect(node.publicPort(), TestNodes.token(user, null)));
    }
    await()
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(500))
        .until(() -> HeapHistogram.instances(WsConnection.class.getName()) >= SOCKETS);
    long exchanges = HeapHistogram.instances("io.undertow.server.HttpServerExchange");
    assertTrue(
        exchanges < SOCKETS / 4,
        exchanges + " HTTP exchanges still reachable with " + SOCKETS + " WebSockets open");
    // Nor its HTTP read listener, whose parser state keeps the query string and header values.
    long parsers = HeapHistogram.instances("io.undertow.server.protocol.http.ParseState");
    assertTrue(
        parsers < SOCKETS / 4,
        parsers + " HTTP parser states still reachable with " + SOCKETS + " WebSockets open");
  }
}
