package dev.halley.node.transport.ws;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.RawWebSocket;
import dev.halley.node.RawWebSocket.Frame;
import dev.halley.node.TestNodes;
import dev.halley.testing.RawHttp;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * RFC 6455 conformance of the node's own WebSocket framing, over raw sockets on a node on port 0:
 * the opening handshake, fragmented client text with a ping between the fragments, every rule of
 * client framing (masking, reserved bits, opcodes, control frames, continuation), UTF-8, the close
 * handshake and its status codes, and the client message limit applied from the frame header before
 * any payload byte has arrived. Each broken rule must get its close code and then the end of the
 * socket; a connection that broke none must still take events afterwards.
 */
class WsProtocolConformanceTest {
  private static final int LIMIT = 4096; // wsClientFrameMaxBytes, the default

  private HalleyNode node;
  private InternalApi api;
  private int users;

  @BeforeEach
  void start() {
    node = HalleyNode.start(TestNodes.config().build());
    api = new InternalApi(node);
  }

  @AfterEach
  void stop() {
    node.close();
  }

  /** A raw client WebSocket: writes masked frames, reads the node's frames. */
  private static final class Client implements AutoCloseable {
    final Socket socket;
    final InputStream in;
    final OutputStream out;
    final Map<String, String> headers;
    final String user;

    Client(Socket socket, InputStream in, Map<String, String> headers, String user)
        throws IOException {
      this.socket = socket;
      this.in = in;
      this.out = socket.getOutputStream();
      this.headers = headers;
      this.user = user;
    }

    /** Writes a frame masked with a non-zero key (unless {@code masked} is false). */
    void send(int first, byte[] payload, boolean masked) throws IOException {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      b.write(first);
      int m = masked ? 0x80 : 0;
      if (payload.length < 126) {
        b.write(m | payload.length);
      } else if (payload.length <= 0xffff) {
        b.write(m | 126);
        b.write(payload.length >>> 8);
        b.write(payload.length);
      } else {
        b.write(m | 127);
        for (int i = 7; i >= 0; i--) {
          b.write((int) ((long) payload.length >>> (8 * i)));
        }
      }
      byte[] key = {0x37, (byte) 0xfa, 0x21, 0x3d};
      if (masked) {
        b.write(key);
      }
      for (int i = 0; i < payload.length; i++) {
        b.write(masked ? payload[i] ^ key[i & 3] : payload[i]);
      }
      out.write(b.toByteArray());
      out.flush();
    }

    void send(boolean fin, int opcode, byte[] payload) throws IOException {
      send((fin ? 0x80 : 0) | opcode, payload, true);
    }

    /** Reads one frame; null at the end of the stream. */
    Frame read() throws IOException {
      Frame f = RawWebSocket.readFrame(in);
      if (f != null) {
        assertFalse(f.masked(), "server frames are not masked");
        assertEquals(0, f.first() & 0x70, "no reserved bits");
      }
      return f;
    }

    /** The next frame that is not a text event (events are skipped). */
    Frame readControl() throws IOException {
      while (true) {
        Frame f = read();
        if (f == null || f.opcode() != 1) {
          return f;
        }
      }
    }

    /** Reads until the node's close frame; its code. Then the socket must end. */
    int closedWith() throws IOException {
      Frame f = readControl();
      assertTrue(f != null && f.opcode() == 8, "expected a close frame, got " + f);
      assertTrue(endOfStream(), "the node ends the socket after its close frame");
      return f.closeCode();
    }

    boolean endOfStream() throws IOException {
      try {
        while (true) {
          Frame f = read();
          if (f == null) {
            return true;
          }
          if (f.opcode() == 8) {
            return false;
          }
        }
      } catch (SocketException reset) {
        return true;
      }
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  private Client connect(Map<String, String> extra) throws IOException {
    String user = TestNodes.userOwnedBy("a", "conf", users++);
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", node.publicPort()), 10_000);
    s.setSoTimeout(15_000);
    Map<String, String> h = new LinkedHashMap<>(RawHttp.upgradeHeaders(null));
    h.putAll(extra);
    StringBuilder req =
        new StringBuilder("GET /v1/ws?token=")
            .append(URLEncoder.encode(TestNodes.token(user, null), StandardCharsets.UTF_8))
            .append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    h.forEach((k, v) -> req.append(k).append(": ").append(v).append("\r\n"));
    s.getOutputStream().write(req.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
    InputStream in = s.getInputStream();
    int status = RawHttp.readStatus(in);
    Map<String, String> headers = RawHttp.readHeaders(in);
    assertEquals(101, status, headers.toString());
    Client c = new Client(s, in, headers, user);
    Frame hello = c.read();
    assertEquals(1, hello.opcode());
    assertTrue(hello.text().contains("\"hello\""), hello.text());
    return c;
  }

  private Client connect() throws IOException {
    return connect(Map.of());
  }

  private static String header(Map<String, String> headers, String name) {
    return headers.entrySet().stream()
        .filter(e -> e.getKey().equalsIgnoreCase(name))
        .map(Map.Entry::getValue)
        .findFirst()
        .orElse(null);
  }

  /** The connection still works: a published event arrives whole. */
  private void stillDelivers(Client c) throws IOException {
    api.publishToUsers(TextNode.valueOf("after"), c.user);
    Frame f = c.read();
    assertEquals(1, f.opcode());
    JsonNode event = InternalApi.JSON.readTree(f.text());
    assertEquals("message", event.path("type").asText(), f.text());
    assertEquals("after", event.path("data").asText());
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void theHandshakeAnswersTheRfcAcceptAndNegotiatesNothing() throws Exception {
    try (Client c =
        connect(
            Map.of(
                "Sec-WebSocket-Protocol", "chat, superchat",
                "Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"))) {
      // RFC 6455 section 1.3's example key and answer.
      assertEquals("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", header(c.headers, "Sec-WebSocket-Accept"));
      assertEquals("websocket", header(c.headers, "Upgrade").toLowerCase());
      assertEquals("upgrade", header(c.headers, "Connection").toLowerCase());
      assertNull(header(c.headers, "Sec-WebSocket-Protocol"));
      assertNull(header(c.headers, "Sec-WebSocket-Extensions"));
      assertNull(header(c.headers, "Content-Length"));
      stillDelivers(c);
    }
  }

  @Test
  void badHandshakesGetJsonErrors() throws Exception {
    String token =
        URLEncoder.encode(
            TestNodes.token(TestNodes.userOwnedBy("a", "hs", 0), null), StandardCharsets.UTF_8);
    Map<String, String> v8 = new LinkedHashMap<>(RawHttp.upgradeHeaders(null));
    v8.put("Sec-WebSocket-Version", "8");
    RawHttp.Response r = RawHttp.request(node.publicPort(), "GET", "/v1/ws?token=" + token, v8);
    assertEquals(426, r.status());
    assertEquals("upgrade_required", r.error());
    assertEquals("13", r.headers().get("sec-websocket-version"));

    Map<String, String> noConnection = new LinkedHashMap<>(RawHttp.upgradeHeaders(null));
    noConnection.remove("Connection");
    r = RawHttp.request(node.publicPort(), "GET", "/v1/ws?token=" + token, noConnection);
    assertEquals(426, r.status());
    assertEquals("upgrade_required", r.error());

    Map<String, String> shortKey = new LinkedHashMap<>(RawHttp.upgradeHeaders(null));
    shortKey.put("Sec-WebSocket-Key", "c2hvcnQ=");
    r = RawHttp.request(node.publicPort(), "GET", "/v1/ws?token=" + token, shortKey);
    assertEquals(400, r.status());
    assertEquals("bad_request", r.error());
  }

  @Test
  void fragmentedTextWithAPingBetweenItsFragmentsIsTakenAndThePingAnswered() throws Exception {
    try (Client c = connect()) {
      byte[] euro = bytes("\u20ac"); // a 3-byte UTF-8 sequence split across fragments
      c.send(false, 1, new byte[] {'a', euro[0]});
      c.send(true, 9, bytes("are you there"));
      c.send(false, 0, new byte[] {euro[1]});
      c.send(true, 0, new byte[] {euro[2], 'b'});
      Frame pong = c.readControl();
      assertEquals(10, pong.opcode());
      assertTrue(pong.fin());
      assertArrayEquals(bytes("are you there"), pong.payload());
      c.send(true, 10, bytes("unsolicited pong")); // ignored
      c.send(true, 2, new byte[] {0, 1, 2}); // binary: read and dropped
      stillDelivers(c);
    }
  }

  @Test
  void anUnmaskedClientFrameIsAProtocolError() throws Exception {
    try (Client c = connect()) {
      c.send(0x81, bytes("hi"), false);
      assertEquals(1002, c.closedWith());
    }
  }

  @Test
  void reservedBitsUnknownOpcodesAndBrokenFragmentationAreProtocolErrors() throws Exception {
    int[][] cases = {
      {0x80 | 0x40 | 1}, // RSV1 without a negotiated extension
      {0x80 | 0x10 | 1}, // RSV3
      {0x80 | 3}, // reserved data opcode
      {0x80 | 0x0b}, // reserved control opcode
      {0x80}, // continuation without a message
      {9}, // a fragmented ping
    };
    for (int[] first : cases) {
      try (Client c = connect()) {
        c.send(first[0], bytes("x"), true);
        assertEquals(1002, c.closedWith(), "first byte " + Integer.toHexString(first[0]));
      }
    }
    try (Client c = connect()) {
      c.send(false, 1, bytes("start"));
      c.send(true, 1, bytes("a new message inside the first"));
      assertEquals(1002, c.closedWith());
    }
    try (Client c = connect()) {
      c.send(true, 9, new byte[126]); // control frames are at most 125 bytes
      assertEquals(1002, c.closedWith());
    }
  }

  @Test
  void invalidUtf8TextIsClosedWith1007() throws Exception {
    byte[][] bad = {
      {(byte) 0xC0, (byte) 0x80}, // overlong NUL
      {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, // a surrogate
      {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, // over U+10FFFF
      {'o', 'k', (byte) 0xE2, (byte) 0x82}, // the message ends inside a sequence
    };
    for (byte[] text : bad) {
      try (Client c = connect()) {
        c.send(true, 1, text);
        assertEquals(1007, c.closedWith());
      }
    }
    try (Client c = connect()) {
      c.send(true, 2, new byte[] {(byte) 0xC0, (byte) 0x80}); // binary is not UTF-8 checked
      stillDelivers(c);
    }
  }

  @Test
  void anOversizedDeclaredLengthIsRefusedFromTheHeaderBeforeAnyPayload() throws Exception {
    try (Client c = connect()) {
      // Only the header of a 1 GiB text frame: the node must not wait for its payload.
      c.out.write(new byte[] {(byte) 0x81, (byte) (0x80 | 127), 0, 0, 0, 0, 0x40, 0, 0, 0});
      c.out.write(new byte[] {1, 2, 3, 4});
      c.out.flush();
      assertEquals(1009, c.closedWith());
    }
    try (Client c = connect()) {
      // Fragments of one message: the one that takes it over the limit is refused.
      byte[] part = new byte[LIMIT / 2];
      java.util.Arrays.fill(part, (byte) 'y');
      c.send(false, 1, part);
      c.send(false, 0, part);
      c.send(false, 0, new byte[] {'z'});
      assertEquals(1009, c.closedWith());
    }
    try (Client c = connect()) {
      byte[] atLimit = new byte[LIMIT];
      java.util.Arrays.fill(atLimit, (byte) 'w');
      c.send(true, 1, atLimit); // exactly the limit is fine
      stillDelivers(c);
    }
  }

  @Test
  void aClientCloseIsEchoedAndTheSocketEnds() throws Exception {
    try (Client c = connect()) {
      byte[] close = {0x03, (byte) 0xe8, 'b', 'y', 'e'}; // 1000 "bye"
      c.send(true, 8, close);
      Frame echo = c.readControl();
      assertEquals(8, echo.opcode());
      assertEquals(1000, echo.closeCode());
      assertTrue(c.endOfStream());
    }
    try (Client c = connect()) {
      c.send(true, 8, new byte[0]); // no status code: answered without one (or with 1000)
      Frame echo = c.readControl();
      assertEquals(8, echo.opcode());
      assertTrue(
          echo.payload().length == 0 || echo.closeCode() == 1000, "code " + echo.closeCode());
      assertTrue(c.endOfStream());
    }
    try (Client c = connect()) {
      c.send(true, 8, new byte[] {0x0b, (byte) 0xb8}); // 3000, an application code
      assertEquals(3000, c.closedWith());
    }
    int[] mayNotBeSent = {1005, 1006, 1015, 999, 2000, 5000};
    for (int code : mayNotBeSent) {
      try (Client c = connect()) {
        c.send(true, 8, new byte[] {(byte) (code >>> 8), (byte) code});
        assertEquals(1002, c.closedWith(), "close code " + code);
      }
    }
    try (Client c = connect()) {
      c.send(true, 8, new byte[] {0x03}); // a 1-byte close payload
      assertEquals(1002, c.closedWith());
    }
    try (Client c = connect()) {
      c.send(true, 8, new byte[] {0x03, (byte) 0xe8, (byte) 0xC0, (byte) 0x80});
      assertEquals(1007, c.closedWith());
    }
  }

  @Test
  void theNodesCloseWaitsForTheAnswerThenEndsTheSocket() throws Exception {
    try (Client c = connect()) {
      InternalApi.Reply r =
          api.send("POST", "/v1/users/" + c.user + "/disconnect", "{\"reason\":\"test\"}");
      assertEquals(200, r.status(), r.toString());
      Frame close = c.readControl();
      assertEquals(8, close.opcode());
      assertEquals(4030, close.closeCode());
      c.send(true, 8, close.payload()); // the client answers
      assertTrue(c.endOfStream());
    }
  }

  @Test
  void aLargeEventIsOneWholeFrame() throws Exception {
    try (Client a = connect();
        Client b = connect()) {
      String big = "L".repeat(60_000); // shared, not copied: a read-only view in the write
      api.publishToUsers(TextNode.valueOf(big), a.user, b.user);
      for (Client c : new Client[] {a, b}) {
        Frame f = c.read();
        assertEquals(1, f.opcode());
        assertTrue(f.fin());
        JsonNode event = InternalApi.JSON.readTree(f.text());
        assertEquals(big, event.path("data").asText());
      }
      assertFalse(a.socket.isClosed());
    }
  }
}
