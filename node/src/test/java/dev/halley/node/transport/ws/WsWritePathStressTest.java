package dev.halley.node.transport.ws;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.TestNodes;
import dev.halley.node.config.OperationsConfig;
import dev.halley.node.transport.ChannelPublishers;
import dev.halley.node.wire.CloseCodes;
import dev.halley.testing.RawHttp;
import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bounded stress of the WebSocket write path (frames in flight, pooled buffers, hand-off batches):
 * several threads publish large messages (8-64 KiB, some on the 16 KiB pooled-buffer boundary) to
 * one channel while fast and slow raw-socket readers on both IO threads take them. Each reader
 * parses the frames itself: header bits, declared length, a payload read in full, valid UTF-8, one
 * complete JSON event whose content is the one published, every message once and in each
 * publisher's order, sequence numbers contiguous. Beside them sit clients that never read (their
 * frames stay in flight until the byte bound cuts them, as in {@code SlowConsumerTest}). A slow
 * reader may be cut with 4008 (then what it read must still be intact and in order); nothing else
 * may end a connection.
 */
class WsWritePathStressTest {
  private static final String CHANNEL = "stress";
  private static final int PUBLISHERS = 3;
  private static final int MESSAGES_PER_PUBLISHER = 24;
  private static final int FAST_READERS = 12;
  private static final int SLOW_READERS = 6;
  private static final int STALLED = 2;
  private static final int FLOOD_MESSAGES = 160;
  private static final String FLOOD_PAD = "f".repeat(60 * 1024);
  private static final int POOLED = 16 * 1024;

  /** Strict JSON: one value per frame, nothing after it. */
  private static final ObjectMapper STRICT =
      new ObjectMapper()
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

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
                // Slow readers are usually not cut; some may be on a busy machine.
                .connectionQueueMaxBytes(1024 * 1024)
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

  /** The published pad of publisher {@code t}'s message {@code n}: its length and content. */
  static String pad(int t, int n) {
    int len;
    switch (n % 4) {
      case 0 -> len = POOLED - 120 + (t * 37 + n * 11) % 160; // around the pooled-buffer size
      case 1 -> len = 8 * 1024 + (t * 7919 + n * 104729) % 1024;
      default -> len = 8 * 1024 + (t * 7919 + n * 104729) % (56 * 1024);
    }
    StringBuilder b = new StringBuilder(len + 4);
    String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (int i = 0; i < len; i++) {
      b.append(alphabet.charAt((i + t * 3 + n) % alphabet.length()));
    }
    // Multi-byte characters at the very end: a frame cut short or split mid-character shows.
    return b.append("\u00e9\u4e2d").toString();
  }

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void largeFramesToManyFastAndSlowReadersArriveWholeOnceAndInOrder() throws Exception {
    int readers = FAST_READERS + SLOW_READERS;
    List<Reader> all = new ArrayList<>();
    for (int i = 0; i < readers; i++) {
      boolean slow = i % 3 == 2;
      String user = TestNodes.userOwnedBy("a", "wsstress", i);
      all.add(new Reader(user, slow, connect(user, slow)));
    }
    List<String> stalled = new ArrayList<>();
    for (int i = 0; i < STALLED; i++) {
      String user = TestNodes.userOwnedBy("a", "wsstalled", i);
      connect(user, true); // reads nothing, not even the upgrade response
      stalled.add(user);
    }
    for (Reader r : all) {
      api.awaitConnections(r.user, 1);
    }
    for (String user : stalled) {
      api.awaitConnections(user, 1);
    }
    List<Thread> threads = new ArrayList<>();
    for (Reader r : all) {
      Thread th = new Thread(r, "ws-reader-" + r.user);
      th.setDaemon(true);
      th.start();
      threads.add(th);
    }
    for (Reader r : all) {
      assertTrue(r.hello.await(20, TimeUnit.SECONDS), r.user + ": no hello");
    }

    // One or two messages per request: hand-off batches of both sizes.
    ChannelPublishers publishers =
        new ChannelPublishers(
            api,
            CHANNEL,
            PUBLISHERS,
            MESSAGES_PER_PUBLISHER,
            2,
            WsWritePathStressTest::pad,
            "ws-publisher");
    // A fourth publisher floods the stalled clients alone (60 KiB messages to their users), so
    // they are cut while the readers' frames are in flight on the same IO threads.
    Thread flood =
        new Thread(
            () -> {
              try {
                publishers.go.await();
                for (int i = 0; i < FLOOD_MESSAGES; i++) {
                  ObjectNode body = InternalApi.JSON.createObjectNode();
                  ObjectNode m = body.putArray("messages").addObject();
                  ArrayNode users = m.putArray("users");
                  stalled.forEach(users::add);
                  m.putObject("data").put("flood", i).put("pad", FLOOD_PAD);
                  InternalApi.Reply r = api.publish(body.toString());
                  if (r.status() != 200) {
                    publishers.errors.add("flood: " + r);
                    return;
                  }
                }
              } catch (Throwable e) {
                publishers.errors.add("flood: " + e);
              }
            },
            "ws-flood");
    publishers.add(flood);
    publishers.run();
    assertTrue(publishers.errors.isEmpty(), String.join("\n", publishers.errors));
    for (Thread th : threads) {
      th.join(TimeUnit.SECONDS.toMillis(30));
    }

    int total = PUBLISHERS * MESSAGES_PER_PUBLISHER;
    int cut = 0;
    // 160 x 60 KiB each is far over the byte bound plus what the kernel's socket buffers take.
    for (String user : stalled) {
      api.awaitConnections(user, 0);
    }
    long frames = 0;
    long bytes = 0;
    for (Reader r : all) {
      if (r.failure != null) {
        throw new AssertionError(
            r.user + (r.slow ? " (slow)" : " (fast)") + ": " + r.failure, r.failure);
      }
      frames += r.messages;
      bytes += r.payloadBytes;
      if (r.closeCode == CloseCodes.SLOW_CONSUMER) {
        assertTrue(r.slow, r.user + ": a fast reader was cut as a slow consumer");
        cut++;
        continue;
      }
      assertEquals(-1, r.closeCode, r.user + ": closed by the node");
      assertEquals(total, r.messages, r.user + (r.slow ? " (slow)" : " (fast)") + " messages");
    }
    System.out.printf(
        "ws write-path stress: %d readers (%d slow, %d cut), %d stalled cut, %d message frames,"
            + " %d payload bytes%n",
        readers, SLOW_READERS, cut, STALLED, frames, bytes);
  }

  private Socket connect(String user, boolean slow) throws IOException {
    Socket s = new Socket();
    if (slow) {
      s.setReceiveBufferSize(8 * 1024);
    }
    sockets.add(s);
    s.connect(new InetSocketAddress("127.0.0.1", node.publicPort()), 10_000);
    s.setSoTimeout(20_000);
    String token = TestNodes.token(user, List.of(CHANNEL));
    StringBuilder req = new StringBuilder();
    req.append("GET /v1/ws?token=")
        .append(URLEncoder.encode(token, StandardCharsets.UTF_8))
        .append(" HTTP/1.1\r\n")
        .append("Host: 127.0.0.1:")
        .append(node.publicPort())
        .append("\r\n");
    RawHttp.upgradeHeaders(null)
        .forEach((k, v) -> req.append(k).append(": ").append(v).append("\r\n"));
    req.append("\r\n");
    OutputStream out = s.getOutputStream();
    out.write(req.toString().getBytes(StandardCharsets.US_ASCII));
    out.flush();
    return s;
  }

  /** One raw-socket WebSocket reader that checks every frame it gets. */
  private static final class Reader implements Runnable {
    final String user;
    final boolean slow;
    final Socket socket;
    final CountDownLatch hello = new CountDownLatch(1);
    final AtomicBoolean done = new AtomicBoolean();
    volatile Throwable failure;
    volatile int closeCode = -1;
    volatile int messages;
    volatile long payloadBytes;
    private final int[] nextN = new int[PUBLISHERS];
    private long lastSeq = -1;
    private String epoch;

    Reader(String user, boolean slow, Socket socket) {
      this.user = user;
      this.slow = slow;
      this.socket = socket;
    }

    @Override
    public void run() {
      try {
        InputStream in = new Throttled(new BufferedInputStream(socket.getInputStream()), slow);
        int status = RawHttp.readStatus(in);
        RawHttp.readHeaders(in);
        if (status != 101) {
          throw new AssertionError("upgrade refused: " + status);
        }
        int total = PUBLISHERS * MESSAGES_PER_PUBLISHER;
        while (messages < total) {
          byte[] payload = readFrame(in);
          if (payload == null) {
            return; // a close frame
          }
          check(payload);
        }
      } catch (Throwable t) {
        failure = t;
        hello.countDown();
      } finally {
        done.set(true);
      }
    }

    /** Reads one whole data message (fragments joined); null after a close frame. */
    private byte[] readFrame(InputStream in) throws IOException {
      java.io.ByteArrayOutputStream message = null;
      while (true) {
        int b0 = readByte(in);
        int b1 = readByte(in);
        boolean fin = (b0 & 0x80) != 0;
        int rsv = b0 & 0x70;
        int opcode = b0 & 0x0f;
        boolean masked = (b1 & 0x80) != 0;
        long len = b1 & 0x7f;
        if (len == 126) {
          len = (readByte(in) << 8) | readByte(in);
          assertTrue(len >= 126, "length " + len + " in the 16-bit form");
        } else if (len == 127) {
          len = 0;
          for (int i = 0; i < 8; i++) {
            len = (len << 8) | readByte(in);
          }
          assertTrue(len > 0xffff && len < (1L << 31), "length " + len + " in the 64-bit form");
        }
        String head =
            String.format(
                "frame b0=0x%02x b1=0x%02x len=%d after %d messages", b0, b1, len, messages);
        assertEquals(0, rsv, head + ": RSV bits set");
        assertTrue(!masked, head + ": a server frame is masked");
        byte[] payload = in.readNBytes((int) len);
        if (payload.length != len) {
          throw new EOFException(head + ": payload cut at " + payload.length + " bytes");
        }
        switch (opcode) {
          case 0x8 -> {
            assertTrue(fin, head + ": fragmented close");
            closeCode =
                payload.length >= 2 ? ((payload[0] & 0xff) << 8) | (payload[1] & 0xff) : 1005;
            if (closeCode != CloseCodes.SLOW_CONSUMER || !slow) {
              throw new AssertionError(head + ": close " + closeCode);
            }
            return null;
          }
          case 0x9, 0xA -> assertTrue(fin && len <= 125, head + ": bad control frame");
          case 0x1 -> {
            assertTrue(message == null, head + ": a new text frame inside a fragmented message");
            if (fin) {
              return payload;
            }
            message = new java.io.ByteArrayOutputStream();
            message.write(payload);
          }
          case 0x0 -> {
            assertTrue(message != null, head + ": a continuation without a message");
            message.write(payload);
            if (fin) {
              return message.toByteArray();
            }
          }
          default -> throw new AssertionError(head + ": opcode " + opcode);
        }
      }
    }

    private static int readByte(InputStream in) throws IOException {
      int b = in.read();
      if (b < 0) {
        throw new EOFException("the connection ended inside a frame or without a close frame");
      }
      return b;
    }

    private void check(byte[] payload) throws IOException {
      String text;
      try {
        text =
            StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(payload))
                .toString();
      } catch (CharacterCodingException e) {
        throw new AssertionError(
            "frame of " + payload.length + " bytes is not UTF-8 after " + messages + " messages",
            e);
      }
      JsonNode e;
      try {
        e = STRICT.readTree(text);
      } catch (IOException ex) {
        String end = text.substring(Math.max(0, text.length() - 80));
        throw new AssertionError(
            "frame of "
                + payload.length
                + " bytes is not one JSON event after "
                + messages
                + " messages; it ends with: "
                + end,
            ex);
      }
      String type = e.path("type").asText();
      switch (type) {
        case "hello" -> {
          assertTrue(epoch == null, "a second hello");
          epoch = e.get("epoch").asText();
          hello.countDown();
        }
        case "ping" -> {}
        case "message" -> {
          String id = e.get("id").asText();
          assertTrue(id.startsWith(epoch + ":"), "id " + id);
          long seq = Long.parseLong(id.substring(epoch.length() + 1));
          assertTrue(lastSeq < 0 || seq == lastSeq + 1, "seq " + seq + " after " + lastSeq);
          lastSeq = seq;
          JsonNode data = e.get("data");
          int t = data.get("t").asInt();
          int n = data.get("n").asInt();
          assertEquals(nextN[t], n, "publisher " + t + "'s order");
          nextN[t]++;
          String pad = data.get("pad").asText();
          if (!pad.equals(pad(t, n))) {
            fail(
                "publisher "
                    + t
                    + " message "
                    + n
                    + ": content differs (length "
                    + pad.length()
                    + ", expected "
                    + pad(t, n).length()
                    + ")");
          }
          assertEquals(e.get("channel").asText(), CHANNEL);
          payloadBytes += payload.length;
          messages++;
        }
        default ->
            fail(
                "unexpected event "
                    + type
                    + ": "
                    + text.substring(0, Math.min(200, text.length())));
      }
    }
  }

  /** A slow reader takes 4 KiB at a time and pauses after each (a fast one reads straight on). */
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
      if (sincePause >= 4 * 1024) {
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
      int n = super.read(b, off, slow ? Math.min(len, 4 * 1024) : len);
      maybePause(n);
      return n;
    }
  }
}
