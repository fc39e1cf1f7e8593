package dev.halley.node.transport.ws;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.HalleyNode;
import dev.halley.node.RawWebSocket;
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
 * An open WebSocket does not keep the HTTP request it was upgraded from: Undertow's HTTP connection
 * object stays reachable from the socket's close listener for the socket's life, and with it the
 * upgrade's exchange (request headers, URL, query string with the token: about 4 KB) unless the
 * node drops it at the upgrade ({@link UpgradedRequest}). Counted with the JVM's class histogram
 * (after a full GC), not timed. Fails on the old code: every open WebSocket kept its exchange.
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
        .until(() -> instances(WsConnection.class.getName()) >= SOCKETS);
    long exchanges = instances("io.undertow.server.HttpServerExchange");
    assertTrue(
        exchanges < SOCKETS / 4,
        exchanges + " HTTP exchanges still reachable with " + SOCKETS + " WebSockets open");
  }

  /** Live instances of a class (the histogram runs a full GC first). */
  private static long instances(String className) throws Exception {
    String histogram =
        (String)
            ManagementFactory.getPlatformMBeanServer()
                .invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"),
                    "gcClassHistogram",
                    new Object[] {null},
                    new String[] {String[].class.getName()});
    Matcher m =
        Pattern.compile(
                "^\\s*\\d+:\\s+(\\d+)\\s+\\d+\\s+" + Pattern.quote(className) + "(\\s|$)",
                Pattern.MULTILINE)
            .matcher(histogram);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }
}
