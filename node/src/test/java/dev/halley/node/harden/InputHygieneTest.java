package dev.halley.node.harden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.Payload;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import dev.halley.node.InternalApi;
import dev.halley.node.OneNode;
import dev.halley.node.TestNodes;
import dev.halley.testing.RawHttp;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 11 items 1, 9 and 10 against a real node on loopback ports: the /js/ handler stores and
 * echoes nothing of unknown names, publish data keeps its original JSON text and invalid UTF-8 is
 * refused, tokens not yet valid or with a numeric sub are refused, a Basic Authorization header
 * does not hide ?token=, and invalid %-escapes in user paths are a 400.
 */
class InputHygieneTest {
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  @RegisterExtension static final OneNode NODE = new OneNode();

  // ---- item 1 ----

  @Test
  void unknownModuleNamesAreNotEchoedInFull() throws Exception {
    String name = "a".repeat(5_000) + ".js";
    RawHttp.Response r = RawHttp.request(NODE.node().publicPort(), "GET", "/js/" + name, Map.of());
    assertEquals(404, r.status());
    assertEquals("not_found", r.error());
    assertTrue(r.body().length() < 300, "404 body echoes the name: " + r.body().length());
  }

  @Test
  void theModulesOfTheJsClientAreServed() throws Exception {
    RawHttp.Response r = RawHttp.request(NODE.node().publicPort(), "GET", "/js/index.js", Map.of());
    assertEquals(200, r.status());
    assertTrue(r.headers().get("content-type").startsWith("text/javascript"));
    assertEquals(
        200,
        RawHttp.request(NODE.node().publicPort(), "GET", "/js/transports/websocket.js", Map.of())
            .status());
    assertEquals(
        404, RawHttp.request(NODE.node().publicPort(), "GET", "/js/nope.js", Map.of()).status());
  }

  // ---- item 9 ----

  @Test
  void publishedNumbersArriveWithTheirOriginalDigits() throws Exception {
    String user = TestNodes.userOwnedBy("a", "numbers", 0);
    String token = TestNodes.token(user, null);
    String position = InternalApi.json(poll(token, null)).get("lastEventId").asText();
    String data =
        "{\"big\": 1e400, \"precise\": 0.1000000000000000055511151231257827, \"e\": 1E2,"
            + " \"s\": \"caf\\u00e9\", \"list\": [ -0, 1.50 ]}";
    InternalApi.Reply reply =
        NODE.api()
            .publish("{\"messages\": [{\"users\": [\"" + user + "\"],\n \"data\": " + data + "}]}");
    assertEquals(200, reply.status(), reply.body().toString());
    String batch = poll(token, position);
    assertTrue(
        batch.contains(
            "\"data\":{\"big\":1e400,\"precise\":0.1000000000000000055511151231257827,"
                + "\"e\":1E2,\"s\":\"caf\\u00e9\",\"list\":[-0,1.50]}"),
        batch);
  }

  @Test
  void invalidUtf8InAPublishIsRefusedAsInvalidJson() throws Exception {
    String user = TestNodes.userOwnedBy("a", "utf8", 0);
    for (byte[] bad :
        List.of(
            new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, // an encoded surrogate
            new byte[] {(byte) 0xC0, (byte) 0x80}, // overlong NUL
            new byte[] {(byte) 0xFF})) {
      ByteArrayOutputStream body = new ByteArrayOutputStream();
      body.writeBytes(
          ("{\"messages\": [{\"users\": [\"" + user + "\"], \"data\": \"")
              .getBytes(StandardCharsets.UTF_8));
      body.writeBytes(bad);
      body.writeBytes("\"}]}".getBytes(StandardCharsets.UTF_8));
      HttpResponse<String> r =
          HTTP.send(
              HttpRequest.newBuilder(
                      URI.create("http://127.0.0.1:" + NODE.node().internalPort() + "/v1/publish"))
                  .header("Authorization", "Bearer " + TestNodes.API_KEY)
                  .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(400, r.statusCode(), r.body());
      assertEquals("invalid_json", InternalApi.json(r.body()).get("error").asText());
    }
    assertEquals(0, InternalApi.json(poll(TestNodes.token(user, null), null)).get("events").size());
  }

  /** The check reads the body in pieces: text far past the first piece is checked too. */
  @Test
  void utf8IsCheckedToTheEndOfALongBody() throws Exception {
    String user = TestNodes.userOwnedBy("a", "utf8-long", 0);
    String token = TestNodes.token(user, null);
    String position = InternalApi.json(poll(token, null)).get("lastEventId").asText();
    String text = "x" + "\u00e9\ud83d\ude00".repeat(700); // 2-, 4-byte sequences, pairs
    byte[] head =
        ("{\"messages\": [{\"users\": [\"" + user + "\"], \"data\": \"" + text)
            .getBytes(StandardCharsets.UTF_8);
    byte[] tail = "\"}]}".getBytes(StandardCharsets.UTF_8);
    for (byte[] bad :
        List.of(
            new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, // an encoded surrogate
            new byte[] {(byte) 0xE2, (byte) 0x82})) { // a sequence cut short
      ByteArrayOutputStream body = new ByteArrayOutputStream();
      body.writeBytes(head);
      body.writeBytes(bad);
      body.writeBytes(tail);
      HttpResponse<String> r = publishBytes(body.toByteArray());
      assertEquals(400, r.statusCode(), r.body());
      assertEquals("invalid_json", InternalApi.json(r.body()).get("error").asText());
    }
    ByteArrayOutputStream good = new ByteArrayOutputStream();
    good.writeBytes(head);
    good.writeBytes(tail);
    HttpResponse<String> ok = publishBytes(good.toByteArray());
    assertEquals(200, ok.statusCode(), ok.body());
    JsonNode events = InternalApi.json(poll(token, position)).get("events");
    assertEquals(1, events.size(), events.toString());
    assertEquals(text, events.get(0).get("data").asText());
  }

  private HttpResponse<String> publishBytes(byte[] body) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + NODE.node().internalPort() + "/v1/publish"))
            .header("Authorization", "Bearer " + TestNodes.API_KEY)
            .POST(HttpRequest.BodyPublishers.ofByteArray(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  // ---- item 10 ----

  @Test
  void aTokenNotYetValidIsRefused() throws Exception {
    String user = TestNodes.userOwnedBy("a", "nbf", 0);
    JWTClaimsSet claims =
        new JWTClaimsSet.Builder()
            .subject(user)
            .notBeforeTime(Date.from(Instant.now().plusSeconds(300)))
            .expirationTime(Date.from(Instant.now().plusSeconds(600)))
            .build();
    String token = sign(new Payload(claims.toJSONObject()));
    for (String path : List.of("/v1/poll", "/v1/sse", "/v1/longpoll", "/v1/ws")) {
      RawHttp.Response r = connect(path, "token=" + token, Map.of());
      assertEquals(401, r.status(), path);
      assertEquals("token_invalid", r.error(), path);
    }
  }

  @Test
  void aNumericSubIsRefused() throws Exception {
    long exp = Instant.now().plusSeconds(600).getEpochSecond();
    String token = sign(new Payload("{\"sub\": 12345, \"exp\": " + exp + "}"));
    RawHttp.Response r = connect("/v1/poll", "token=" + token, Map.of());
    assertEquals(401, r.status(), r.body());
    assertEquals("token_invalid", r.error());
  }

  @Test
  void aBasicAuthorizationHeaderDoesNotHideTheQueryToken() throws Exception {
    String token = TestNodes.token(TestNodes.userOwnedBy("a", "basic", 0), null);
    RawHttp.Response r =
        connect("/v1/poll", "token=" + token, Map.of("Authorization", "Basic dXNlcjpwYXNz"));
    assertEquals(200, r.status(), r.body());
  }

  @Test
  void invalidPercentEscapesInAUserPathAreRefused() throws Exception {
    for (String user : List.of("bob%FF", "bob%C0%80", "bob%ED%A0%80", "bob%E2%82")) {
      RawHttp.Response r =
          RawHttp.request(
              NODE.node().internalPort(),
              "PUT",
              "/v1/users/" + user + "/channels/room",
              Map.of("Authorization", "Bearer " + TestNodes.API_KEY, "Content-Length", "0"));
      assertEquals(400, r.status(), user + ": " + r.body());
      assertEquals("bad_request", r.error(), user);
    }
    RawHttp.Response ok =
        RawHttp.request(
            NODE.node().internalPort(),
            "PUT",
            "/v1/users/b%C3%B6b%2Fx/channels/room",
            Map.of("Authorization", "Bearer " + TestNodes.API_KEY, "Content-Length", "0"));
    assertTrue(ok.status() == 200 || ok.status() == 421, ok.body());
  }

  private static String sign(Payload payload) throws Exception {
    com.nimbusds.jose.JWSObject jws =
        new com.nimbusds.jose.JWSObject(new JWSHeader(JWSAlgorithm.HS256), payload);
    jws.sign(new MACSigner(TestNodes.SECRET.getBytes(StandardCharsets.UTF_8)));
    return jws.serialize();
  }

  private static RawHttp.Response connect(String path, String query, Map<String, String> headers)
      throws Exception {
    Map<String, String> h = new java.util.LinkedHashMap<>(headers);
    if (path.equals("/v1/ws")) {
      h.putAll(RawHttp.upgradeHeaders(null));
    }
    if (path.equals("/v1/sse") || path.equals("/v1/longpoll")) {
      query += "&timeoutMs=0";
    }
    return RawHttp.request(NODE.node().publicPort(), "GET", path + "?" + query, h);
  }

  /** One /v1/poll batch as raw text. */
  private static String poll(String token, String lastEventId) throws Exception {
    String q = "token=" + URLEncoder.encode(token, StandardCharsets.UTF_8);
    if (lastEventId != null) {
      q += "&lastEventId=" + URLEncoder.encode(lastEventId, StandardCharsets.UTF_8);
    }
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + NODE.node().publicPort() + "/v1/poll?" + q))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    return r.body();
  }
}
