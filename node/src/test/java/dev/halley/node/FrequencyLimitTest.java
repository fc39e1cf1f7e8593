package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.testing.RawHttp;
import dev.halley.testing.TransportClient;
import dev.halley.testing.TransportClient.Transport;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The per-key frequency limit (issue #16) against a real node on every transport: a connection that
 * asks for {@code conflationIntervalMs} gets at most one message per conflation key per interval,
 * the newest value of each key at the end, and every message without a key, once and in order.
 */
class FrequencyLimitTest {
  private static final long INTERVAL_MS = 500;
  @RegisterExtension static final OneNode NODE = new OneNode();
  private final List<TransportClient> clients = new ArrayList<>();

  @AfterEach
  void closeClients() {
    clients.forEach(TransportClient::close);
  }

  private static ObjectNode message(String user, String data, String key) {
    ObjectNode m = InternalApi.JSON.createObjectNode();
    m.putArray("users").add(user);
    m.put("data", data);
    if (key != null) {
      m.put("conflationKey", key);
    }
    return m;
  }

  private static void publish(List<ObjectNode> messages) {
    ObjectNode root = InternalApi.JSON.createObjectNode();
    ArrayNode ms = root.putArray("messages");
    messages.forEach(ms::add);
    InternalApi.Reply r = NODE.api().publish(root.toString());
    assertEquals(200, r.status(), r.toString());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void atMostOneMessagePerKeyPerIntervalTheNewestLastAndEveryUnkeyedOneInOrder(Transport t)
      throws InterruptedException {
    String user = TestNodes.userOwnedBy("a", "freq-" + t, 0);
    TransportClient client =
        t.client(NODE.node().publicPort()).query("conflationIntervalMs=" + INTERVAL_MS);
    clients.add(client);
    client.connect(TestNodes.token(user, null), null);

    int rounds = 100;
    long start = System.nanoTime();
    for (int round = 0; round < rounds; round++) {
      List<ObjectNode> batch = new ArrayList<>();
      batch.add(message(user, "eur " + round, "eur"));
      batch.add(message(user, "usd " + round, "usd"));
      if (round % 10 == 0) {
        batch.add(message(user, "marker " + round / 10, null));
      }
      publish(batch);
      Thread.sleep(20); // paces the publisher: 100 updates per key over 2 s and more
    }
    publish(List.of(message(user, "end", null)));

    Map<String, List<String>> perKey = new LinkedHashMap<>();
    List<String> markers = new ArrayList<>();
    long lastSeq = -1;
    long lastAt;
    while (true) {
      JsonNode e = client.awaitMessage();
      long seq = Long.parseLong(e.get("id").asText().split(":")[1]);
      assertTrue(seq > lastSeq, "event IDs increase: " + e);
      lastSeq = seq;
      String data = e.get("data").asText();
      if (data.equals("end")) {
        lastAt = client.receivedAtNanos(e);
        break;
      }
      if (data.startsWith("marker")) {
        markers.add(data);
      } else {
        perKey.computeIfAbsent(data.split(" ")[0], k -> new ArrayList<>()).add(data);
      }
    }
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < rounds / 10; i++) {
      expected.add("marker " + i);
    }
    assertEquals(expected, markers, "every message without a key, once and in order");
    // The node takes a key's message for writing at least INTERVAL_MS after the previous one, so
    // over the time from the first publish to the last read there fit at most this many.
    long elapsedMs = TimeUnit.NANOSECONDS.toMillis(lastAt - start);
    long most = elapsedMs / INTERVAL_MS + 1;
    for (String key : List.of("eur", "usd")) {
      List<String> got = perKey.get(key);
      assertTrue(got != null && !got.isEmpty(), key + ": nothing arrived");
      assertEquals(key + " " + (rounds - 1), got.get(got.size() - 1), "the newest value wins");
      assertTrue(
          got.size() <= most,
          key
              + ": "
              + got.size()
              + " messages in "
              + elapsedMs
              + " ms (at most "
              + most
              + "): "
              + got);
    }
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aBadIntervalIsRefused(Transport t) throws Exception {
    String token =
        URLEncoder.encode(
            TestNodes.token(TestNodes.localUser("freq-bad-" + t), null), StandardCharsets.UTF_8);
    for (String bad : List.of("-1", "abc", "", "10001", "99999999999999999999")) {
      RawHttp.Response r =
          t.attempt(
              NODE.node().publicPort(),
              "token=" + token + "&conflationIntervalMs=" + bad,
              Map.of());
      assertEquals(400, r.status(), t + " " + bad + ": " + r.body());
      assertEquals("bad_request", InternalApi.json(r.body()).get("error").asText(), r.body());
      assertTrue(r.body().contains("conflationIntervalMs"), r.body());
    }
  }
}
