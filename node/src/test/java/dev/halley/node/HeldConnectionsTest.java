package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * 2,000 held connections (WebSocket, SSE, long-poll) add no threads to the node: a held connection
 * is an open channel or a suspended exchange, never a parked thread.
 */
class HeldConnectionsTest {
  private static final int USERS = 100;
  private static final int PER_TRANSPORT = 667; // 3 x 667 = 2001 connections

  private static long nodeThreads(String nodeId) {
    ThreadInfo[] all = ManagementFactory.getThreadMXBean().dumpAllThreads(false, false);
    return Arrays.stream(all).filter(t -> t.getThreadName().startsWith("halley-" + nodeId)).count();
  }

  private static int jvmThreads() {
    return ManagementFactory.getThreadMXBean().getThreadCount();
  }

  @Test
  void twoThousandHeldConnectionsAddNoThreads() throws Exception {
    try (HalleyNode node =
        HalleyNode.start(
            TestNodes.config().longPollTimeoutMs(60_000).heartbeatMs(60_000).build())) {
      InternalApi api = new InternalApi(node);
      List<String> tokens = new ArrayList<>();
      List<String> users = new ArrayList<>();
      for (int i = 0; i < USERS; i++) {
        String u = TestNodes.userOwnedBy("a", "held", i);
        users.add(u);
        tokens.add(TestNodes.token(u, null));
      }
      List<Socket> sockets = new ArrayList<>();
      try {
        // Warm up every path once (lazy initialisation is not per connection).
        open(node, tokens.get(0), 0, sockets);
        open(node, tokens.get(0), 1, sockets);
        open(node, tokens.get(0), 2, sockets);
        api.awaitConnections(users.get(0), 3);
        long nodeBefore = nodeThreads("a");
        int jvmBefore = jvmThreads();
        long heapBefore = usedHeapAfterGc();

        for (int i = 0; i < PER_TRANSPORT * 3; i++) {
          open(node, tokens.get(i % USERS), i % 3, sockets);
        }
        int total = 0;
        for (String u : users) {
          int expected = (u.equals(users.get(0)) ? 3 : 0) + countFor(users.indexOf(u));
          api.awaitConnections(u, expected);
          total += expected;
        }
        assertEquals(2004, total);
        long heapPerConnection = (usedHeapAfterGc() - heapBefore) / (PER_TRANSPORT * 3);
        // A figure, not an assertion (GC-dependent); it includes the test's own client sockets.
        System.out.println(
            "heap per held connection (node and test client together): ~"
                + heapPerConnection
                + " bytes");
        long nodeAfter = nodeThreads("a");
        int jvmAfter = jvmThreads();
        assertEquals(nodeBefore, nodeAfter, "node threads with 2,000 held connections");
        assertTrue(
            jvmAfter - jvmBefore < 10, "JVM threads grew from " + jvmBefore + " to " + jvmAfter);
      } finally {
        for (Socket s : sockets) {
          s.close();
        }
      }
    }
  }

  private static long usedHeapAfterGc() {
    Runtime rt = Runtime.getRuntime();
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return rt.totalMemory() - rt.freeMemory();
  }

  private static int countFor(int userIndex) {
    int n = 0;
    for (int i = 0; i < PER_TRANSPORT * 3; i++) {
      if (i % USERS == userIndex) {
        n++;
      }
    }
    return n;
  }

  /** Opens one held connection: 0 WebSocket, 1 SSE, 2 long-poll. */
  private static void open(HalleyNode node, String token, int kind, List<Socket> sockets)
      throws IOException {
    int port = node.publicPort();
    switch (kind) {
      case 0 -> {
        Socket s = RawHttp.open(port, "GET", "/v1/ws?token=" + token, RawHttp.upgradeHeaders(null));
        sockets.add(s);
        InputStream in = s.getInputStream();
        assertEquals(101, RawHttp.readStatus(in));
        RawHttp.readHeaders(in);
      }
      case 1 -> {
        Socket s = RawHttp.open(port, "GET", "/v1/sse?token=" + token, Map.of());
        sockets.add(s);
        InputStream in = s.getInputStream();
        assertEquals(200, RawHttp.readStatus(in));
        RawHttp.readHeaders(in);
      }
      default -> sockets.add(RawHttp.open(port, "GET", "/v1/longpoll?token=" + token, Map.of()));
    }
  }
}
