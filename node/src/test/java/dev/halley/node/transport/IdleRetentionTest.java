package dev.halley.node.transport;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.halley.node.HalleyNode;
import dev.halley.node.HeapHistogram;
import dev.halley.node.RawWebSocket;
import dev.halley.node.TestNodes;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What an idle connection keeps reachable (memory per connection, issue 12), counted with the JVM's
 * class histogram after a full GC, not timed.
 */
class IdleRetentionTest {
  private static final int CONNECTIONS = 100;
  private static final int PAD = 4_000;

  private HalleyNode node;
  private final List<AutoCloseable> open = new ArrayList<>();

  @BeforeEach
  void start() {
    node = HalleyNode.start(TestNodes.config().build());
  }

  @AfterEach
  void stop() throws Exception {
    for (AutoCloseable c : open) {
      c.close();
    }
    node.close();
  }

  /**
   * Each connection is written its hello; once written, no idle connection keeps it (fails on the
   * old code: the last event taken from the queue stayed in the connection's {@code polledItem}
   * until the next one, one hello per connection).
   */
  @Test
  void anIdleConnectionDoesNotKeepTheLastEventItWrote() throws Exception {
    long before = HeapHistogram.instances("dev.halley.node.wire.Control");
    for (int i = 0; i < CONNECTIONS; i++) {
      RawWebSocket ws =
          RawWebSocket.connect(
              node.publicPort(), TestNodes.token(TestNodes.userOwnedBy("a", "ws", i), null));
      open.add(ws);
      assertTrue(ws.readTexts(1).get(0).contains("\"hello\""));
      Socket sse = sse(TestNodes.token(TestNodes.userOwnedBy("a", "sse", i), null), "");
      open.add(sse);
      readUntil(sse.getInputStream(), "event: hello\n");
    }
    long controls = HeapHistogram.instances("dev.halley.node.wire.Control") - before;
    assertTrue(
        controls < CONNECTIONS / 4,
        controls + " control events reachable with " + 2 * CONNECTIONS + " idle connections open");
  }

  /**
   * A held SSE response or long-poll does not keep its request: each request carries a query
   * parameter and a header of {@code PAD} bytes, and an open connection keeps less than that of
   * byte arrays (fails on the old code: the query string and its parameter, the header and the
   * parser's builder each kept one copy, more than 4 x {@code PAD} per connection).
   */
  @Test
  void aHeldSseOrLongPollDoesNotKeepItsRequest() throws Exception {
    String pad = "p".repeat(PAD);
    long before = HeapHistogram.bytes("[B");
    for (int i = 0; i < CONNECTIONS / 2; i++) {
      Socket sse =
          request(
              "/v1/sse",
              TestNodes.token(TestNodes.userOwnedBy("a", "sse", i), null) + "&pad=" + pad,
              "X-Pad: " + pad + "\r\n");
      open.add(sse);
      readUntil(sse.getInputStream(), "event: hello\n");
      open.add(
          request(
              "/v1/longpoll",
              TestNodes.token(TestNodes.userOwnedBy("a", "lp", i), null) + "&pad=" + pad,
              "X-Pad: " + pad + "\r\n"));
    }
    await().atMost(Duration.ofSeconds(30)).until(() -> node.stats().connections() >= CONNECTIONS);
    long perConnection = (HeapHistogram.bytes("[B") - before) / CONNECTIONS;
    assertTrue(
        perConnection < PAD,
        perConnection
            + " bytes of byte arrays reachable per held request with a "
            + PAD
            + "-byte query parameter and header");
  }

  /**
   * An SSE stream whose head is written keeps neither its request's nor its response's header
   * values, nor query or path parameter maps, nor the response cookies' set or the request's
   * emptied attachment map (fails on the old code: five response header values and four tree maps
   * per stream, two of them the parameter maps; then two tree maps, the stream's empty API
   * subscriptions and the response cookies' set, and one identity map per stream).
   */
  @Test
  void anSseStreamDoesNotKeepItsHeadersOnceWritten() throws Exception {
    long headers = HeapHistogram.instances("io.undertow.util.HeaderValues");
    long maps = HeapHistogram.instances("java.util.TreeMap");
    long attachments = HeapHistogram.instances("java.util.IdentityHashMap");
    for (int i = 0; i < CONNECTIONS; i++) {
      Socket sse = sse(TestNodes.token(TestNodes.userOwnedBy("a", "sse", i), null), "");
      open.add(sse);
      readUntil(sse.getInputStream(), "event: hello\n");
    }
    headers = HeapHistogram.instances("io.undertow.util.HeaderValues") - headers;
    maps = HeapHistogram.instances("java.util.TreeMap") - maps;
    attachments = HeapHistogram.instances("java.util.IdentityHashMap") - attachments;
    assertTrue(
        headers < CONNECTIONS / 4,
        headers + " header values reachable with " + CONNECTIONS + " SSE streams open");
    assertTrue(
        maps < CONNECTIONS / 4, maps + " tree maps reachable with " + CONNECTIONS + " SSE streams");
    assertTrue(
        attachments < CONNECTIONS / 4,
        attachments + " attachment maps reachable with " + CONNECTIONS + " SSE streams open");
  }

  /**
   * A held long-poll puts its answer's headers when it answers, not while it waits (fails on the
   * old code: three header values per held request).
   */
  @Test
  void aHeldLongPollKeepsNoHeaders() throws Exception {
    long headers = HeapHistogram.instances("io.undertow.util.HeaderValues");
    for (int i = 0; i < CONNECTIONS; i++) {
      open.add(
          request("/v1/longpoll", TestNodes.token(TestNodes.userOwnedBy("a", "lp", i), null), ""));
    }
    await().atMost(Duration.ofSeconds(30)).until(() -> node.stats().connections() >= CONNECTIONS);
    headers = HeapHistogram.instances("io.undertow.util.HeaderValues") - headers;
    assertTrue(
        headers < CONNECTIONS / 4,
        headers + " header values reachable with " + CONNECTIONS + " long-polls held");
  }

  /**
   * An idle WebSocket or SSE connection arms one timer of its own for its heartbeats and its
   * token's expiry (Undertow's idle timeout is one more), and keeps no queue slots, close-hook list
   * or once-flag objects (fails on the old code: three timers, two long arrays, a copy-on-write
   * list and three atomic booleans per connection).
   */
  @Test
  void anIdleConnectionArmsOneTimerAndKeepsNoQueueSlots() throws Exception {
    long timers = HeapHistogram.instances("org.xnio.nio.WorkerThread$TimeKey");
    long slots = HeapHistogram.instances("[J");
    long lists = HeapHistogram.instances("java.util.concurrent.CopyOnWriteArrayList");
    long flags = HeapHistogram.instances("java.util.concurrent.atomic.AtomicBoolean");
    for (int i = 0; i < CONNECTIONS / 2; i++) {
      RawWebSocket ws =
          RawWebSocket.connect(
              node.publicPort(), TestNodes.token(TestNodes.userOwnedBy("a", "ws", i), null));
      open.add(ws);
      assertTrue(ws.readTexts(1).get(0).contains("\"hello\""));
      Socket sse = sse(TestNodes.token(TestNodes.userOwnedBy("a", "sse", i), null), "");
      open.add(sse);
      readUntil(sse.getInputStream(), "event: hello\n");
    }
    timers = HeapHistogram.instances("org.xnio.nio.WorkerThread$TimeKey") - timers;
    slots = HeapHistogram.instances("[J") - slots;
    lists = HeapHistogram.instances("java.util.concurrent.CopyOnWriteArrayList") - lists;
    flags = HeapHistogram.instances("java.util.concurrent.atomic.AtomicBoolean") - flags;
    String of = " reachable with " + CONNECTIONS + " idle connections open";
    assertTrue(timers < CONNECTIONS * 5 / 2, timers + " timers" + of);
    assertTrue(slots < CONNECTIONS / 4, slots + " long arrays" + of);
    assertTrue(lists < CONNECTIONS / 4, lists + " copy-on-write lists" + of);
    assertTrue(flags < CONNECTIONS / 4, flags + " atomic booleans" + of);
  }

  /**
   * An open connection keeps what it needs of its token (its principal, and its SHA-256 in the
   * token cache), not the token's text: with a token of more than {@code PAD} bytes, less than
   * {@code PAD} bytes of byte arrays per connection (fails on the old code: the token cache kept
   * each token's text, and a long-poll's connection its last token's text too).
   */
  @Test
  void anOpenConnectionDoesNotKeepItsTokenText() throws Exception {
    String pad = "p".repeat(PAD);
    long before = HeapHistogram.bytes("[B");
    for (int i = 0; i < CONNECTIONS / 4; i++) {
      RawWebSocket ws =
          RawWebSocket.connect(node.publicPort(), padded(TestNodes.userOwnedBy("a", "ws", i), pad));
      open.add(ws);
      assertTrue(ws.readTexts(1).get(0).contains("\"hello\""));
      Socket sse = sse(padded(TestNodes.userOwnedBy("a", "sse", i), pad), "");
      open.add(sse);
      readUntil(sse.getInputStream(), "event: hello\n");
      open.add(request("/v1/longpoll", padded(TestNodes.userOwnedBy("a", "lp", i), pad), ""));
    }
    int n = CONNECTIONS / 4 * 3;
    await().atMost(Duration.ofSeconds(30)).until(() -> node.stats().connections() >= n);
    long perConnection = (HeapHistogram.bytes("[B") - before) / n;
    assertTrue(
        perConnection < PAD,
        perConnection + " bytes of byte arrays reachable per connection with a token of " + PAD);
  }

  /** A token for {@code user} with a {@code pad} claim. */
  private static String padded(String user, String pad) throws Exception {
    SignedJWT jwt =
        new SignedJWT(
            new JWSHeader(JWSAlgorithm.HS256),
            new JWTClaimsSet.Builder()
                .subject(user)
                .expirationTime(Date.from(Instant.now().plusSeconds(600)))
                .claim("pad", pad)
                .build());
    jwt.sign(new MACSigner(TestNodes.SECRET.getBytes(StandardCharsets.UTF_8)));
    return jwt.serialize();
  }

  private Socket sse(String token, String headers) throws IOException {
    return request("/v1/sse", token, headers);
  }

  private Socket request(String path, String query, String headers) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", node.publicPort()), 10_000);
    s.setSoTimeout(20_000);
    s.getOutputStream()
        .write(
            ("GET " + path + "?token=" + query + " HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n")
                .getBytes(StandardCharsets.US_ASCII));
    return s;
  }

  /** Reads until {@code marker} and one blank line after it (the end of that event). */
  private static void readUntil(InputStream in, String marker) throws IOException {
    ByteArrayOutputStream seen = new ByteArrayOutputStream();
    while (true) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed before " + marker + ": " + seen);
      }
      seen.write(b);
      String s = seen.toString(StandardCharsets.UTF_8);
      int at = s.indexOf(marker);
      if (at >= 0 && s.indexOf("\n\n", at) >= 0) {
        return;
      }
    }
  }
}
