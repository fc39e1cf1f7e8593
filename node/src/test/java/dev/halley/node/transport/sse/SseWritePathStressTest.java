package dev.halley.node.transport.sse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.TestNodes;
import dev.halley.node.config.OperationsConfig;
import dev.halley.node.transport.ChannelPublishers;
import dev.halley.testing.RawHttp;
import dev.halley.testing.SseReader;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bounded stress of the SSE write path (issue 12: events packed into the IO thread's one write
 * buffer, what the socket does not take copied out, a flush that stops after the last event it
 * took): several threads publish small and large messages (some larger than the thread's buffer,
 * some around its size) to one channel while fast and slow raw-socket readers on both IO threads
 * take them, and readers that stop reading after their hello until everything is published (the
 * node's writes to them stop part-way). Each reader checks every event: its id's seq contiguous,
 * its JSON whole, every message once and in each publisher's order; each stream starts at its own
 * seq, so the bytes of one connection written in another's place show. Nobody may be cut (the byte
 * bound is far above what is published), so each reader must get everything.
 */
class SseWritePathStressTest {
  private static final String CHANNEL = "sse-stress";
  private static final int PUBLISHERS = 3;
  private static final int MESSAGES_PER_PUBLISHER = 300;
  private static final int READERS = 9;

  /** Every publish request was answered (the stalling readers start reading then). */
  private static final CountDownLatch PUBLISHED = new CountDownLatch(1);

  private HalleyNode node;
  private InternalApi api;
  private final List<Socket> sockets = new ArrayList<>();

  @BeforeEach
  void start() {
    node =
        HalleyNode.start(
            TestNodes.config()
                .bufferMaxEvents(4_000)
                .connectionQueueMaxEvents(4_002)
                .maxBodyBytes(512 * 1024)
                .connectionQueueMaxBytes(64 * 1024 * 1024)
                .operations(
                    OperationsConfig.builder()
                        .newConnectionsPerSecondPerAddress(1_000_000)
                        .newConnectionBurstPerAddress(1_000_000)
                        .maxConnectionsPerUser(10_000)
                        .build())
                .build());
    api = new InternalApi(node);
  }

  @AfterEach
  void stop() {
    for (Socket s : sockets) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
    node.close();
  }

  /** Publisher {@code t}'s message {@code n}'s pad: mostly small, some around or over 16 KiB. */
  static String pad(int t, int n) {
    int len =
        switch (n % 5) {
          case 0 -> SseConnection.WRITE_BYTES - 200 + (t * 37 + n * 11) % 400;
          case 1 -> SseConnection.WRITE_BYTES + 1024 + (t * 7919 + n * 104729) % (24 * 1024);
          case 2 -> 2 * 1024 + (t * 7919 + n * 104729) % 4096;
          default -> 20 + (t + n) % 60;
        };
    StringBuilder b = new StringBuilder(len + 2);
    String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (int i = 0; i < len; i++) {
      b.append(alphabet.charAt((i + t * 3 + n) % alphabet.length()));
    }
    return b.append("\u00e9").toString(); // a multi-byte character last: a cut event shows
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void smallAndLargeEventsToFastAndSlowReadersArriveWholeOnceAndInOrder() throws Exception {
    List<Reader> all = new ArrayList<>();
    for (int i = 0; i < READERS; i++) {
      String user = TestNodes.userOwnedBy("a", "ssestress", i);
      // Each stream at its own seq (events buffered before the connection, not replayed), so
      // that the bytes of two connections never agree: one written in another's place shows.
      for (int k = 0; k < 1 + 7 * i; k++) {
        api.publishToUsers(InternalApi.json("\"before\""), user);
      }
      all.add(new Reader(user, i % 3 == 2, i % 3 == 1, connect(user, i % 3 == 2)));
    }
    for (Reader r : all) {
      api.awaitConnections(r.user, 1);
    }
    List<Thread> threads = new ArrayList<>();
    for (Reader r : all) {
      Thread th = new Thread(r, "sse-reader-" + r.user);
      th.setDaemon(true);
      th.start();
      threads.add(th);
    }
    for (Reader r : all) {
      assertTrue(r.hello.await(20, TimeUnit.SECONDS), r.user + ": no hello");
    }
    // One to three messages per request: hand-off batches of several sizes.
    ChannelPublishers publishers =
        new ChannelPublishers(
            api,
            CHANNEL,
            PUBLISHERS,
            MESSAGES_PER_PUBLISHER,
            3,
            SseWritePathStressTest::pad,
            "sse-publisher");
    publishers.run();
    PUBLISHED.countDown();
    assertTrue(publishers.errors.isEmpty(), String.join("\n", publishers.errors));
    for (Thread th : threads) {
      th.join(TimeUnit.SECONDS.toMillis(60));
    }
    int total = PUBLISHERS * MESSAGES_PER_PUBLISHER;
    for (Reader r : all) {
      if (r.failure != null) {
        throw new AssertionError(
            r.user + (r.slow ? " (slow)" : " (fast)") + ": " + r.failure, r.failure);
      }
      assertEquals(total, r.messages, r.user + (r.slow ? " (slow)" : " (fast)") + " messages");
    }
  }

  private Socket connect(String user, boolean slow) throws IOException {
    Socket s = new Socket();
    if (slow) {
      s.setReceiveBufferSize(8 * 1024);
    }
    sockets.add(s);
    s.connect(new InetSocketAddress("127.0.0.1", node.publicPort()), 10_000);
    s.setSoTimeout(30_000);
    String token = TestNodes.token(user, List.of(CHANNEL));
    OutputStream out = s.getOutputStream();
    out.write(
        ("GET /v1/sse?token="
                + URLEncoder.encode(token, StandardCharsets.UTF_8)
                + " HTTP/1.1\r\nHost: 127.0.0.1:"
                + node.publicPort()
                + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
    out.flush();
    return s;
  }

  /** One raw-socket SSE reader that checks every event it gets. */
  private static final class Reader implements Runnable {
    final String user;
    final boolean slow;
    final boolean stalls; // reads nothing after hello until every publish is answered
    final Socket socket;
    final CountDownLatch hello = new CountDownLatch(1);
    volatile Throwable failure;
    volatile int messages;
    private final int[] nextN = new int[PUBLISHERS];
    private long lastSeq = -1;

    Reader(String user, boolean slow, boolean stalls, Socket socket) {
      this.user = user;
      this.slow = slow;
      this.stalls = stalls;
      this.socket = socket;
    }

    @Override
    public void run() {
      try {
        InputStream in = new Throttled(new BufferedInputStream(socket.getInputStream()), slow);
        int status = RawHttp.readStatus(in);
        RawHttp.readHeaders(in);
        if (status != 200) {
          throw new AssertionError("SSE refused: " + status);
        }
        SseReader.read(
            in,
            new SseReader.Handler() {
              @Override
              public void onEvent(String id, String event, String data) {
                check(id, event, data);
                if (messages == PUBLISHERS * MESSAGES_PER_PUBLISHER) {
                  throw new Done();
                }
              }
            });
        throw new AssertionError("the stream ended after " + messages + " messages");
      } catch (Done done) {
        // everything arrived
      } catch (Throwable t) {
        failure = t;
        hello.countDown();
      }
    }

    private void check(String id, String event, String data) {
      JsonNode e;
      try {
        e = InternalApi.JSON.readTree(data);
      } catch (IOException x) {
        throw new AssertionError("not one JSON event: " + data.length() + " chars", x);
      }
      if ("hello".equals(event)) {
        lastSeq = Long.parseLong(e.get("lastEventId").asText().split(":")[1]);
        hello.countDown();
        if (stalls) {
          try {
            // The node's writes to this socket stop part-way and its queue grows meanwhile.
            assertTrue(PUBLISHED.await(90, TimeUnit.SECONDS), "publishers done");
          } catch (InterruptedException x) {
            throw new AssertionError(x);
          }
        }
        return;
      }
      assertEquals("message", event, "event type");
      long seq = Long.parseLong(id.split(":")[1]);
      assertEquals(lastSeq + 1, seq, "seqs contiguous");
      lastSeq = seq;
      assertEquals(id, e.get("id").asText(), "the id: line and the JSON id");
      JsonNode d = e.get("data");
      int t = d.get("t").asInt();
      int n = d.get("n").asInt();
      assertEquals(nextN[t], n, "publisher " + t + "'s order");
      assertEquals(pad(t, n), d.get("pad").asText(), "publisher " + t + " message " + n);
      nextN[t]++;
      messages++;
    }
  }

  /** Thrown by a reader's handler when it has every message (ends {@link SseReader#read}). */
  private static final class Done extends RuntimeException {
    Done() {
      super(null, null, false, false);
    }
  }

  /** The slow reader's pace: a pause of a millisecond every KiB read. */
  private static final class Throttled extends java.io.FilterInputStream {
    private final boolean slow;
    private int sincePause;

    Throttled(InputStream in, boolean slow) {
      super(in);
      this.slow = slow;
    }

    private void maybePause(int n) throws IOException {
      if (!slow || n <= 0) {
        return;
      }
      sincePause += n;
      if (sincePause >= 1024) {
        sincePause = 0;
        try {
          Thread.sleep(1); // the slow reader's pace (what makes it slow), not a wait
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new java.io.InterruptedIOException();
        }
      }
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      maybePause(b < 0 ? 0 : 1);
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      maybePause(n);
      return n;
    }
  }
}
