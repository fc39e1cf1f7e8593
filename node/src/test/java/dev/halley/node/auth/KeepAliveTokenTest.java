package dev.halley.node.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.InternalApi;
import dev.halley.node.OneNode;
import dev.halley.node.TestNodes;
import dev.halley.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A poll client's keep-alive connection remembers the last token that verified on it: each request
 * is still answered for its own token, and a revoked or expired token is refused on that connection
 * as on a new one.
 */
class KeepAliveTokenTest {
  @RegisterExtension static final OneNode NODE = new OneNode();

  /** One keep-alive connection to the public port, one request at a time. */
  private static final class Client implements AutoCloseable {
    final Socket socket = new Socket();
    final InputStream in;
    final OutputStream out;

    Client() throws IOException {
      socket.connect(new InetSocketAddress("127.0.0.1", NODE.node().publicPort()), 10_000);
      socket.setSoTimeout(20_000);
      in = socket.getInputStream();
      out = socket.getOutputStream();
    }

    RawHttp.Response poll(String token) throws IOException {
      return poll(token, null);
    }

    /** {@code last}: the position to resume after, or null (the stream's current position). */
    RawHttp.Response poll(String token, String last) throws IOException {
      out.write(
          ("GET /v1/poll?token="
                  + URLEncoder.encode(token, StandardCharsets.UTF_8)
                  + (last == null ? "" : "&lastEventId=" + last)
                  + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      int status = RawHttp.readStatus(in);
      Map<String, String> headers = RawHttp.readHeaders(in);
      byte[] body = in.readNBytes(Integer.parseInt(headers.get("content-length")));
      assertTrue(!"close".equalsIgnoreCase(headers.get("connection")), "kept alive");
      return new RawHttp.Response(status, headers, new String(body, StandardCharsets.UTF_8));
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  @Test
  void eachRequestIsAnsweredForItsOwnTokenAndARevokedTokenIsRefused() throws Exception {
    String alice = TestNodes.userOwnedBy("a", "keepalive", 0);
    String bob = TestNodes.userOwnedBy("a", "keepalive", 1);
    String aliceToken = TestNodes.token(alice, null);
    String bobToken = TestNodes.token(bob, null);
    try (Client c = new Client()) {
      String aliceAt = InternalApi.json(c.poll(aliceToken).body()).get("lastEventId").asText();
      String bobAt = InternalApi.json(c.poll(bobToken).body()).get("lastEventId").asText();
      NODE.api().publishToUsers(InternalApi.json("\"for bob\""), bob);
      NODE.api().publishToUsers(InternalApi.json("\"for alice\""), alice);
      RawHttp.Response asBob = c.poll(bobToken, bobAt);
      assertEquals(200, asBob.status(), asBob.body());
      assertTrue(asBob.body().contains("\"for bob\""), asBob.body());
      assertTrue(!asBob.body().contains("for alice"), asBob.body());
      RawHttp.Response asAlice = c.poll(aliceToken, aliceAt);
      assertEquals(200, asAlice.status(), asAlice.body());
      assertTrue(asAlice.body().contains("\"for alice\""), asAlice.body());
      assertTrue(!asAlice.body().contains("for bob"), asAlice.body());

      InternalApi.Reply r =
          NODE.api()
              .send(
                  "POST",
                  "/v1/users/" + alice + "/revoke",
                  "{\"issuedBefore\": " + Instant.now().toEpochMilli() + "}");
      assertEquals(200, r.status(), r.toString());
      RawHttp.Response revoked = c.poll(aliceToken);
      assertEquals(401, revoked.status(), revoked.body());
      assertEquals("token_revoked", revoked.error());
      assertEquals(200, c.poll(bobToken).status(), "the connection still serves bob");
    }
  }

  @Test
  void aTokenThatExpiresBetweenTwoRequestsIsRefusedOnTheSameConnection() throws Exception {
    String carol = TestNodes.userOwnedBy("a", "keepalive", 2);
    String token = TestNodes.token(carol, null, Instant.now().plusSeconds(2), TestNodes.SECRET);
    try (Client c = new Client()) {
      assertEquals(200, c.poll(token).status());
      Awaitility.await("token_expired on the same connection")
          .atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(200))
          .until(() -> c.poll(token).status() == 401);
      RawHttp.Response expired = c.poll(token);
      assertEquals("token_expired", expired.error(), expired.body());
    }
  }
}
