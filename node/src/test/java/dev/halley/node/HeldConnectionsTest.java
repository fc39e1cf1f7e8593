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

  /** The IDs of the JVM's live threads. */
  private static java.util.Set<Long> liveThreads() {
    java.util.Set<Long> ids = new java.util.HashSet<>();
    for (ThreadInfo t : ManagementFactory.getThreadMXBean().dumpAllThreads(false, false)) {
      ids.add(t.getThreadId());
    }
    return ids;
  }

  /**
   * The live threads that were not alive at {@code before}, by name. Threads other test nodes of
   * this JVM end meanwhile (they are named alike) do not count, unlike a count of names would.
   */
  private static List<String> newThreads(java.util.Set<Long> before, String prefix) {
    List<String> names = new ArrayList<>();
    for (ThreadInfo t : ManagementFactory.getThreadMXBean().dumpAllThreads(false, false)) {
      if (!before.contains(t.getThreadId()) && t.getThreadName().startsWith(prefix)) {
        names.add(t.getThreadName());
      }
    }
    return names;
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
        java.util.Set<Long> threadsBefore = liveThreads();
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
        assertEquals(
            List.of(),
            newThreads(threadsBefore, "halley-a"),
            "node threads started for 2,000 held connections");
        List<String> started = newThreads(threadsBefore, "");
        assertTrue(started.size() < 10, "JVM threads started meanwhile: " + started);
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
