package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.testing.RawHttp;
import dev.halley.testing.TransportClient;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The internal API's outcomes and every 4xx, over real sockets. */
class PublishApiTest {
  private static HalleyNode node;
  private static InternalApi api;

  @BeforeAll
  static void start() {
    node =
        HalleyNode.start(
            TestNodes.config()
                .apiKeys(List.of(TestNodes.API_KEY, "second-key-0123456789"))
                .maxBodyBytes(4096)
                .maxMessageBytes(100)
                .maxRecipientsPerRequest(3)
                .build());
    api = new InternalApi(node);
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  private static void assertError(InternalApi.Reply r, int status, String code) {
    assertEquals(status, r.status(), r.toString());
    assertEquals(code, r.error(), r.toString());
    assertTrue(r.body().get("message").asText().length() > 0);
  }

  @Test
  void reportsDeliveredBufferedAndMisdirectedUsers() {
    String online = TestNodes.localUser("online");
    String offline = TestNodes.localUser("offline");
    String remote = TestNodes.remoteUser("remote");
    try (TransportClient c = TransportClient.Transport.WS.client(node.publicPort())) {
      c.connect(TestNodes.token(online, null), null);
      InternalApi.Reply r =
          api.publish(
              "{\"messages\": [{\"id\": \"k1\", \"users\": [\""
                  + online
                  + "\", \""
                  + offline
                  + "\", \""
                  + remote
                  + "\"], \"data\": {\"n\": 1}}]}");
      assertEquals(200, r.status(), r.toString());
      assertEquals("a", r.body().get("node").asText());
      assertEquals(3, r.body().get("mapVersion").asInt());
      JsonNode res = r.body().get("results").get(0);
      assertEquals("k1", res.get("id").asText());
      assertEquals("accepted", res.get("status").asText());
      assertEquals(List.of(online), InternalApi.texts(res.get("delivered")));
      assertEquals(List.of(offline), InternalApi.texts(res.get("buffered")));
      assertEquals(List.of(remote), InternalApi.texts(res.get("misdirected")));
      assertEquals(1, res.get("connections").asInt());
      assertEquals(1, c.awaitMessage().get("data").get("n").asInt());
    }
  }

  @Test
  void aRepeatedIdempotencyKeyIsAcknowledgedButNotDeliveredTwice() {
    String user = TestNodes.localUser("idem");
    try (TransportClient c = TransportClient.Transport.SSE.client(node.publicPort())) {
      c.connect(TestNodes.token(user, null), null);
      String body =
          "{\"messages\": [{\"id\": \"same\", \"users\": [\"" + user + "\"], \"data\": 1}]}";
      JsonNode first = api.publish(body).body().get("results").get(0);
      JsonNode again = api.publish(body).body().get("results").get(0);
      assertEquals("accepted", first.get("status").asText());
      assertEquals("duplicate", again.get("status").asText());
      assertEquals(first.get("delivered"), again.get("delivered"));
      api.publishToUsers(InternalApi.json("2"), user);
      assertEquals(1, c.awaitMessage().get("data").asInt());
      assertEquals(2, c.awaitMessage().get("data").asInt()); // not 1 again
    }
  }

  @Test
  void ttlZeroReachesLiveConnectionsOnly() {
    String live = TestNodes.userOwnedBy("a", "ttl", 0);
    String away = TestNodes.userOwnedBy("a", "ttl", 1);
    try (TransportClient c = TransportClient.Transport.WS.client(node.publicPort())) {
      c.connect(TestNodes.token(live, null), null);
      InternalApi.Reply r =
          api.publish(
              "{\"messages\": [{\"users\": [\""
                  + live
                  + "\", \""
                  + away
                  + "\"], \"data\": \"now\", \"ttlMs\": 0}]}");
      JsonNode res = r.body().get("results").get(0);
      assertEquals(List.of(live), InternalApi.texts(res.get("delivered")));
      assertEquals(List.of(), InternalApi.texts(res.get("buffered")));
      assertEquals("now", c.awaitMessage().get("data").asText());
    }
  }

  @Test
  void limitsAnswer413() {
    assertError(
        api.publish(
            "{\"messages\": [{\"users\": [\"x\"], \"data\": \"" + "a".repeat(5000) + "\"}]}"),
        413,
        "payload_too_large");
    assertError(
        api.publish(
            "{\"messages\": [{\"users\": [\"x\"], \"data\": \"" + "a".repeat(200) + "\"}]}"),
        413,
        "message_too_large");
    assertError(
        api.publish(
            "{\"messages\": [{\"users\": [\"a\", \"b\"], \"data\": 1}, {\"users\": [\"c\", \"d\"], \"data\": 2}]}"),
        413,
        "too_many_recipients");
  }

  /** A repeated key at any depth, in the data too, is refused and named. */
  @Test
  void aRepeatedKeyAnywhereInTheBodyIsInvalidJson() {
    String user = TestNodes.userOwnedBy("a", "dupkey", 0);
    for (String[] body :
        List.of(
            new String[] {"{\"messages\": [], \"messages\": []}", "messages"},
            new String[] {
              "{\"messages\": [{\"users\": [\"" + user + "\"], \"data\": 1, \"data\": 2}]}", "data"
            },
            new String[] {
              "{\"messages\": [{\"users\": [\""
                  + user
                  + "\"], \"data\": {\"a\": 1, \"b\": 2, \"c\": 3, \"d\": {\"e\": [{\"f\": 1,"
                  + " \"f\": 2}]}}}]}",
              "f"
            })) {
      InternalApi.Reply r = api.publish(body[0]);
      assertError(r, 400, "invalid_json");
      assertEquals(
          "the body is not JSON: Duplicate field '" + body[1] + "'",
          r.body().get("message").asText(),
          body[0]);
    }
  }

  @Test
  void badBodiesAnswer400WithTheirCodes() {
    assertError(api.publish("{\"messages\": ["), 400, "invalid_json");
    assertError(api.publish(""), 400, "invalid_json");
    assertError(api.publish("{\"messages\": [], \"messages\": []}"), 400, "invalid_json");
    assertError(api.publish("[]"), 400, "invalid_field");
    assertError(api.publish("{\"messages\": []}"), 400, "invalid_field");
    assertError(
        api.publish("{\"messages\": [{\"users\": \"bob\", \"data\": 1}]}"), 400, "invalid_field");
    assertError(
        api.publish("{\"messages\": [{\"users\": [1], \"data\": 1}]}"), 400, "invalid_field");
    assertError(
        api.publish("{\"messages\": [{\"users\": [\"a\"], \"channel\": \"c\", \"data\": 1}]}"),
        400,
        "invalid_field");
    assertError(
        api.publish("{\"messages\": [{\"channel\": \"bad channel\", \"data\": 1}]}"),
        400,
        "invalid_field");
    assertError(api.publish("{\"messages\": [{\"users\": [\"a\"]}]}"), 400, "invalid_field");
    assertError(
        api.publish("{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"ttlMs\": -5}]}"),
        400,
        "invalid_field");
    assertError(
        api.publish("{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"ttlMs\": \"5\"}]}"),
        400,
        "invalid_field");
    assertError(
        api.publish("{\"messages\": [{\"id\": 7, \"users\": [\"a\"], \"data\": 1}]}"),
        400,
        "invalid_field");
    InternalApi.Reply unknown =
        api.publish("{\"messages\": [{\"users\": [\"a\"], \"data\": 1, \"priority\": 9}]}");
    assertError(unknown, 400, "unknown_field");
    assertTrue(unknown.body().get("message").asText().contains("messages[0].priority"));
    assertError(
        api.publish("{\"messages\": [{\"users\": [\"a\"], \"data\": 1}], \"x\": 1}"),
        400,
        "unknown_field");
  }

  @Test
  void apiKeysAreRequiredAndAnyConfiguredKeyWorks() {
    assertError(new InternalApi(node.internalPort(), null).publish("{}"), 401, "api_key_missing");
    assertError(
        new InternalApi(node.internalPort(), "wrong-key-0123456789").publish("{}"),
        401,
        "api_key_invalid");
    String user = TestNodes.localUser("rot");
    assertEquals(
        200,
        new InternalApi(node.internalPort(), "second-key-0123456789")
            .publish("{\"messages\": [{\"users\": [\"" + user + "\"], \"data\": 1}]}")
            .status());
  }

  @Test
  void unknownPathsAndMethodsAnswer404And405() {
    assertError(api.send("GET", "/v1/publish", null), 405, "method_not_allowed");
    assertError(api.send("GET", "/v1/nothing", null), 404, "not_found");
  }

  @Test
  void theInternalApiIsNotReachableOnThePublicPort() throws Exception {
    InternalApi onPublic = new InternalApi(node.publicPort(), TestNodes.API_KEY);
    assertError(onPublic.publish("{\"messages\": []}"), 404, "not_found");
    assertError(onPublic.send("PUT", "/v1/users/x/channels/y", null), 404, "not_found");
    assertEquals(404, RawHttp.request(node.publicPort(), "GET", "/healthz", Map.of()).status());
  }

  @Test
  void subscriptionsAndPresence() {
    String user = TestNodes.localUser("subs");
    InternalApi.Reply r = api.subscribe(user, "room/1");
    assertEquals(200, r.status(), r.toString());
    assertEquals(List.of("room/1"), InternalApi.texts(r.body().get("channels")));
    InternalApi.Reply d = api.send("DELETE", "/v1/users/" + user + "/channels/room/1", null);
    assertEquals(List.of(), InternalApi.texts(d.body().get("channels")));
    assertError(api.subscribe(user, "bad%20channel"), 400, "bad_request");
    InternalApi.Reply notMine = api.subscribe(TestNodes.remoteUser("subs"), "c");
    assertError(notMine, 421, "not_owner");
    assertEquals(TestNodes.OTHER_URL, notMine.body().get("owner").get("url").asText());
    JsonNode p = api.send("GET", "/v1/users/" + user + "/presence", null).body();
    assertEquals(false, p.get("online").asBoolean());
    assertEquals(0, p.get("connections").asInt());
  }
}
