package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.testing.RawHttp;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The exact bytes of long-poll and poll answers over a real socket: status line, every header in
 * order, body (docs/protocol.md, "Long-poll and poll"), as Undertow's response writer sent them.
 * Only the {@code Date} header's value is not compared (it must be an RFC 1123 date).
 */
class LongPollAnswerShapeTest {
  @RegisterExtension static final OneNode NODE = new OneNode();

  private static final Pattern DATE =
      Pattern.compile(
          "\r\nDate: [A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT\r\n");

  private static final String HEAD =
      "HTTP/1.1 200 OK\r\n"
          + "Connection: keep-alive\r\n"
          + "CORS"
          + "Cache-Control: no-cache\r\n"
          + "X-Accel-Buffering: no\r\n"
          + "Content-Type: application/json\r\n"
          + "Content-Length: LENGTH\r\n"
          + "Date: DATE\r\n"
          + "\r\n";

  /**
   * On one keep-alive connection: an answer at once (timeoutMs=0), a held request answered by a
   * message (with the CORS headers of an allowed origin; a non-ASCII message), one answered by its
   * timeout, and a poll that replays.
   */
  @Test
  void answersOnAKeepAliveConnectionHaveTheirExactBytes() throws Exception {
    String user = TestNodes.userOwnedBy("a", "lp-shape", 0);
    String token = URLEncoder.encode(TestNodes.token(user, null), StandardCharsets.UTF_8);
    String e = NODE.node().epoch();
    int port = NODE.node().publicPort();
    try (Socket s = RawHttp.connect(port, Duration.ofSeconds(20))) {
      assertAnswer(
          "",
          "{\"events\":[],\"lastEventId\":\"" + e + ":0\"}",
          exchange(
              s, "GET /v1/longpoll?token=" + token + "&timeoutMs=0 HTTP/1.1\r\nHost: x\r\n\r\n"));
      String origin = "http://127.0.0.1:" + port;
      send(
          s,
          "GET /v1/longpoll?token="
              + token
              + "&lastEventId="
              + e
              + ":0 HTTP/1.1\r\nHost: 127.0.0.1:"
              + port
              + "\r\nOrigin: "
              + origin
              + "\r\n\r\n");
      Awaitility.await().until(() -> NODE.node().stats().connections() == 1);
      NODE.api()
          .publish(
              "{\"messages\": [{\"users\": [\""
                  + user
                  + "\"], \"data\": {\"t\": \"\u00e9\u20ac\"}}]}");
      String message =
          "{\"type\":\"message\",\"id\":\"" + e + ":1\",\"data\":{\"t\":\"\u00e9\u20ac\"}}";
      assertAnswer(
          "Access-Control-Allow-Origin: " + origin + "\r\nVary: Origin\r\n",
          "{\"events\":[" + message + "],\"lastEventId\":\"" + e + ":1\"}",
          read(s.getInputStream()));
      assertAnswer(
          "",
          "{\"events\":[],\"lastEventId\":\"" + e + ":1\"}",
          exchange(
              s,
              "GET /v1/longpoll?token="
                  + token
                  + "&lastEventId="
                  + e
                  + ":1&timeoutMs=50 HTTP/1.1\r\nHost: x\r\n\r\n"));
      assertAnswer(
          "",
          "{\"events\":[" + message + "],\"lastEventId\":\"" + e + ":1\"}",
          exchange(
              s,
              "GET /v1/poll?token="
                  + token
                  + "&lastEventId="
                  + e
                  + ":0 HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
  }

  /**
   * Held requests of very different lengths on one connection (the parser's builders are trimmed
   * while a request is held and grown back when it is answered) are each read and answered whole.
   */
  @Test
  void heldRequestsOfDifferentLengthsOnOneConnectionAreAnswered() throws Exception {
    String user = TestNodes.userOwnedBy("a", "lp-shape", 5);
    String token = URLEncoder.encode(TestNodes.token(user, null), StandardCharsets.UTF_8);
    String body = "{\"events\":[],\"lastEventId\":\"" + NODE.node().epoch() + ":0\"}";
    try (Socket s = RawHttp.connect(NODE.node().publicPort(), Duration.ofSeconds(20))) {
      for (int pad : new int[] {3000, 0, 1000, 0, 5000, 10}) {
        assertAnswer(
            "",
            body,
            exchange(
                s,
                "GET /v1/longpoll?token="
                    + token
                    + "&pad="
                    + "p".repeat(pad)
                    + "&timeoutMs=20 HTTP/1.1\r\nHost: x\r\n\r\n"));
      }
    }
  }

  /** Two requests sent at once on one connection (pipelined) are answered in order, whole. */
  @Test
  void pipelinedRequestsAreAnsweredInOrder() throws Exception {
    String user = TestNodes.userOwnedBy("a", "lp-shape", 1);
    String token = URLEncoder.encode(TestNodes.token(user, null), StandardCharsets.UTF_8);
    String e = NODE.node().epoch();
    try (Socket s = RawHttp.connect(NODE.node().publicPort(), Duration.ofSeconds(20))) {
      String request =
          "GET /v1/longpoll?token=" + token + "&timeoutMs=0 HTTP/1.1\r\nHost: x\r\n\r\n";
      send(s, request + request);
      String body = "{\"events\":[],\"lastEventId\":\"" + e + ":0\"}";
      assertAnswer("", body, read(s.getInputStream()));
      assertAnswer("", body, read(s.getInputStream()));
    }
  }

  /**
   * An HTTP/1.0 request and one with {@code Connection: close} get {@code Connection: close} (and
   * HTTP/1.0 its own status line), then the node closes the connection.
   */
  @Test
  void aRequestThatEndsItsConnectionGetsConnectionClose() throws Exception {
    String user = TestNodes.userOwnedBy("a", "lp-shape", 2);
    String token = URLEncoder.encode(TestNodes.token(user, null), StandardCharsets.UTF_8);
    String body = "{\"events\":[],\"lastEventId\":\"" + NODE.node().epoch() + ":0\"}";
    String[][] cases = {
      {"HTTP/1.0", "", "HTTP/1.0"},
      {"HTTP/1.1", "Connection: close\r\n", "HTTP/1.1"},
    };
    for (String[] c : cases) {
      try (Socket s = RawHttp.connect(NODE.node().publicPort(), Duration.ofSeconds(20))) {
        String answer =
            exchange(
                s,
                "GET /v1/longpoll?token="
                    + token
                    + "&timeoutMs=50 "
                    + c[0]
                    + "\r\nHost: x\r\n"
                    + c[1]
                    + "\r\n");
        assertEquals(
            expected("", body)
                .replace("HTTP/1.1 200", c[2] + " 200")
                .replace("Connection: keep-alive", "Connection: close"),
            withoutDate(answer));
        assertTrue(RawHttp.closedAfter(s.getInputStream()), c[0] + " " + c[1]);
      }
    }
  }

  /**
   * A replay larger than a buffer of the connection's pool (16 KiB) arrives whole with its exact
   * length, and the next answer on the connection after it too.
   */
  @Test
  void aLargeAnswerArrivesWhole() throws Exception {
    String user = TestNodes.userOwnedBy("a", "lp-shape", 3);
    String token = URLEncoder.encode(TestNodes.token(user, null), StandardCharsets.UTF_8);
    String e = NODE.node().epoch();
    StringBuilder publish = new StringBuilder("{\"messages\": [");
    StringBuilder events = new StringBuilder();
    String text = "x".repeat(100);
    for (int i = 1; i <= 200; i++) {
      publish
          .append(i == 1 ? "" : ",")
          .append("{\"users\": [\"")
          .append(user)
          .append("\"], \"data\": \"")
          .append(text)
          .append(i)
          .append("\"}");
      events
          .append(i == 1 ? "" : ",")
          .append("{\"type\":\"message\",\"id\":\"")
          .append(e)
          .append(':')
          .append(i)
          .append("\",\"data\":\"")
          .append(text)
          .append(i)
          .append('"')
          .append('}');
    }
    try (Socket s = RawHttp.connect(NODE.node().publicPort(), Duration.ofSeconds(20))) {
      exchange(s, "GET /v1/poll?token=" + token + " HTTP/1.1\r\nHost: x\r\n\r\n");
      assertEquals(200, NODE.api().publish(publish.append("]}").toString()).status());
      String body = "{\"events\":[" + events + "],\"lastEventId\":\"" + e + ":200\"}";
      assertTrue(body.length() > 16 * 1024, "over 16 KiB");
      assertAnswer(
          "",
          body,
          exchange(
              s,
              "GET /v1/poll?token="
                  + token
                  + "&lastEventId="
                  + e
                  + ":0 HTTP/1.1\r\nHost: x\r\n\r\n"));
      assertAnswer(
          "",
          "{\"events\":[],\"lastEventId\":\"" + e + ":200\"}",
          exchange(
              s,
              "GET /v1/poll?token="
                  + token
                  + "&lastEventId="
                  + e
                  + ":200 HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
  }

  /**
   * A replay whose batch conflates (an older message with the same {@code conflationKey} left out)
   * has the length of what it carries.
   */
  @Test
  void aConflatedReplayHasTheLengthOfWhatItCarries() throws Exception {
    String user = TestNodes.userOwnedBy("a", "lp-shape", 4);
    String token = URLEncoder.encode(TestNodes.token(user, null), StandardCharsets.UTF_8);
    String e = NODE.node().epoch();
    try (Socket s = RawHttp.connect(NODE.node().publicPort(), Duration.ofSeconds(20))) {
      exchange(s, "GET /v1/poll?token=" + token + " HTTP/1.1\r\nHost: x\r\n\r\n");
      String m = "{\"users\": [\"" + user + "\"], \"data\": ";
      assertEquals(
          200,
          NODE.api()
              .publish(
                  "{\"messages\": ["
                      + (m + "\"eur 1\", \"conflationKey\": \"eur\"},")
                      + (m + "\"A\"},")
                      + (m + "\"eur 2\", \"conflationKey\": \"eur\"},")
                      + (m + "\"B\"}]}"))
              .status());
      assertAnswer(
          "",
          "{\"events\":["
              + ("{\"type\":\"message\",\"id\":\"" + e + ":2\",\"data\":\"A\"},")
              + ("{\"type\":\"message\",\"id\":\"" + e + ":3\",\"data\":\"eur 2\"},")
              + ("{\"type\":\"message\",\"id\":\"" + e + ":4\",\"data\":\"B\"}")
              + "],\"lastEventId\":\""
              + e
              + ":4\"}",
          exchange(
              s,
              "GET /v1/poll?token="
                  + token
                  + "&lastEventId="
                  + e
                  + ":0 HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
  }

  private static void assertAnswer(String cors, String body, String answer) {
    assertEquals(expected(cors, body), withoutDate(answer));
  }

  private static String expected(String cors, String body) {
    return HEAD.replace("CORS", cors)
            .replace("LENGTH", String.valueOf(body.getBytes(StandardCharsets.UTF_8).length))
        + body;
  }

  private static String withoutDate(String answer) {
    Matcher m = DATE.matcher(answer);
    assertTrue(m.find(), answer);
    return answer.substring(0, m.start()) + "\r\nDate: DATE\r\n" + answer.substring(m.end());
  }

  private static void send(Socket s, String request) throws IOException {
    s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
  }

  private static String exchange(Socket s, String request) throws IOException {
    send(s, request);
    return read(s.getInputStream());
  }

  /** One answer (head and its Content-Length of body), its bytes decoded as UTF-8. */
  private static String read(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (true) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed after " + head.toString(StandardCharsets.ISO_8859_1));
      }
      head.write(b);
      byte[] h = head.toByteArray();
      int n = h.length;
      if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
        break;
      }
    }
    String text = head.toString(StandardCharsets.ISO_8859_1);
    Matcher m = Pattern.compile("\r\nContent-Length: (\\d+)\r\n").matcher(text);
    assertTrue(m.find(), text);
    byte[] body = in.readNBytes(Integer.parseInt(m.group(1)));
    return text + new String(body, StandardCharsets.UTF_8);
  }
}
