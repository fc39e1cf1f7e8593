package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.halley.testing.TransportClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The publish reply's exact text, over real sockets. */
class PublishReplyShapeTest {
  @RegisterExtension static final OneNode NODE = new OneNode();

  /**
   * The reply's exact shape and field order for every kind of result (the reply is written without
   * a tree; this text is what the tree-built reply was, checked against it).
   */
  @Test
  void theReplyKeepsItsShapeForEveryKindOfResult() {
    String online = TestNodes.userOwnedBy("a", "shape", 0);
    String offline = TestNodes.userOwnedBy("a", "shape", 1);
    String gone = TestNodes.userOwnedBy("a", "shape", 2);
    String remote = TestNodes.remoteUser("shape");
    try (TransportClient c = TransportClient.Transport.WS.client(NODE.node().publicPort())) {
      c.connect(TestNodes.token(online, null), null);
      String body =
          "{\"messages\": [{\"id\": \"k-shape\", \"users\": [\""
              + online
              + "\", \""
              + offline
              + "\", \""
              + remote
              + "\", \""
              + online
              + "\"], \"data\": {\"n\": 1}},"
              + " {\"users\": [\""
              + gone
              + "\"], \"data\": 2, \"ttlMs\": 0},"
              + " {\"users\": [\""
              + online
              + "\"], \"data\": 3},"
              + " {\"id\": \"c-shape\", \"channel\": \"shape-room\", \"data\": 4}]}";
      String results =
          ("{\"id\":\"k-shape\",\"status\":\"STATUS\",\"connections\":1,\"delivered\":[\"ON\"],"
                  + "\"buffered\":[\"OFF\"],\"dropped\":[],\"misdirected\":[\"REMOTE\"],"
                  + "\"pending\":[]},"
                  + "{\"status\":\"accepted\",\"connections\":0,\"delivered\":[],\"buffered\":[],"
                  + "\"dropped\":[\"GONE\"],\"misdirected\":[],\"pending\":[]},"
                  + "{\"status\":\"accepted\",\"connections\":1,\"delivered\":[\"ON\"],"
                  + "\"buffered\":[],\"dropped\":[],\"misdirected\":[],\"pending\":[]},"
                  + "{\"id\":\"c-shape\",\"channel\":\"shape-room\",\"status\":\"STATUS\","
                  + "\"users\":0,\"connections\":0}")
              .replace("GONE", gone)
              .replace("REMOTE", remote)
              .replace("OFF", offline)
              .replace("ON", online);
      InternalApi.Reply first = NODE.api().publish(body);
      assertEquals(200, first.status(), first.toString());
      assertEquals(
          "{\"node\":\"a\",\"mapVersion\":3,\"results\":["
              + results.replace("STATUS", "accepted")
              + "]}",
          first.body().toString());
      InternalApi.Reply again = NODE.api().publish(body);
      String repeated = results.replace("STATUS", "duplicate");
      // The two messages without a key are new messages again.
      assertEquals(
          "{\"node\":\"a\",\"mapVersion\":3,\"results\":[" + repeated + "]}",
          again.body().toString());
    }
  }

  /**
   * A reply larger than a buffer of the connection's pool (16 KiB; the reply is sent from one, or
   * from an array of its own when it does not fit) arrives whole, and so do the small replies sent
   * from pooled buffers after it on the same connection.
   */
  @Test
  void aReplyLargerThanAPoolBufferArrivesWholeAndSoDoTheNext() {
    String remote = TestNodes.remoteUser("large");
    StringBuilder body = new StringBuilder("{\"messages\": [");
    StringBuilder results = new StringBuilder();
    for (int i = 0; i < 300; i++) {
      String key = "a-key-long-enough-to-make-the-reply-larger-than-sixteen-kib-" + i;
      body.append(i == 0 ? "" : ",")
          .append("{\"id\": \"")
          .append(key)
          .append("\", \"users\": [\"")
          .append(remote)
          .append("\"], \"data\": ")
          .append(i)
          .append('}');
      results
          .append(i == 0 ? "" : ",")
          .append("{\"id\":\"")
          .append(key)
          .append("\",\"status\":\"accepted\",\"connections\":0,\"delivered\":[],")
          .append("\"buffered\":[],\"dropped\":[],\"misdirected\":[\"")
          .append(remote)
          .append("\"],\"pending\":[]}");
    }
    String expected = "{\"node\":\"a\",\"mapVersion\":3,\"results\":[" + results + "]}";
    org.junit.jupiter.api.Assertions.assertTrue(expected.length() > 16 * 1024, "over 16 KiB");
    InternalApi.Reply large = NODE.api().publish(body.append("]}").toString());
    assertEquals(200, large.status(), large.toString());
    assertEquals(expected, large.body().toString());
    for (int i = 0; i < 50; i++) {
      InternalApi.Reply small =
          NODE.api()
              .publish("{\"messages\": [{\"users\": [\"" + remote + "\"], \"data\": " + i + "}]}");
      assertEquals(
          "{\"node\":\"a\",\"mapVersion\":3,\"results\":[{\"status\":\"accepted\","
              + "\"connections\":0,\"delivered\":[],\"buffered\":[],\"dropped\":[],"
              + "\"misdirected\":[\""
              + remote
              + "\"],\"pending\":[]}]}",
          small.body().toString());
    }
  }

  /**
   * The reply's head is as before its body came from a pooled buffer: {@code Content-Length} (not
   * chunked) and {@code Content-Type: application/json}, on two requests of one keep-alive
   * connection.
   */
  @Test
  void theReplyHasItsLengthAndTypeOnAKeepAliveConnection() throws Exception {
    String remote = TestNodes.remoteUser("head");
    try (java.net.Socket s =
        dev.halley.testing.RawHttp.connect(
            NODE.node().internalPort(), java.time.Duration.ofSeconds(20))) {
      for (int i = 0; i < 2; i++) {
        String body = "{\"messages\": [{\"users\": [\"" + remote + "\"], \"data\": " + i + "}]}";
        s.getOutputStream()
            .write(
                ("POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                        + TestNodes.API_KEY
                        + "\r\nContent-Type: application/json\r\nContent-Length: "
                        + body.length()
                        + "\r\n\r\n"
                        + body)
                    .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        dev.halley.testing.RawHttp.Response r =
            dev.halley.testing.RawHttp.readExact(s.getInputStream(), false);
        assertEquals(200, r.status(), r.toString());
        assertEquals("application/json", r.headers().get("content-type"), r.toString());
        assertEquals(null, r.headers().get("transfer-encoding"), r.toString());
        assertEquals(
            String.valueOf(r.body().getBytes(java.nio.charset.StandardCharsets.UTF_8).length),
            r.headers().get("content-length"),
            r.toString());
        org.junit.jupiter.api.Assertions.assertTrue(r.body().endsWith("]}"), r.body());
      }
    }
  }
}
