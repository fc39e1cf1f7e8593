package dev.halley.node.harden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.TestNodes;
import dev.halley.node.config.OperationsConfig;
import dev.halley.testing.PollTestClient;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Issue 11 item 8: a user's resume buffer is bounded in bytes, all buffers together by a node-wide
 * budget; at the budget the node's oldest events go first (whoever holds them) and a client
 * resuming from before them gets an honest {@code reset}; /metrics shows the bytes held.
 */
class BufferBoundsTest {
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final String KB = "\"" + "x".repeat(1_000) + "\"";

  private static HalleyNode start(long perUser, long budget) {
    return HalleyNode.start(
        TestNodes.config()
            .maxMessageBytes(2_000)
            .bufferMaxBytes(perUser)
            .bufferBudgetBytes(budget)
            .operations(
                OperationsConfig.builder()
                    .newConnectionsPerSecondPerAddress(1_000_000)
                    .newConnectionBurstPerAddress(1_000_000)
                    .maxConnectionsPerUser(10_000)
                    .build())
            .build());
  }

  private static JsonNode poll(HalleyNode node, String user, String lastEventId) {
    return PollTestClient.pollOnce(
        URI.create("http://127.0.0.1:" + node.publicPort()),
        TestNodes.token(user, null),
        lastEventId);
  }

  private static void publish(InternalApi api, String user, int i) {
    InternalApi.Reply r =
        api.publish(
            "{\"messages\": [{\"users\": [\""
                + user
                + "\"], \"data\": {\"i\": "
                + i
                + ", \"pad\": "
                + KB
                + "}}]}");
    assertEquals(200, r.status(), r.body().toString());
  }

  private static long metric(HalleyNode node, String name) throws Exception {
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + node.internalPort() + "/metrics"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    for (String line : r.body().split("\n")) {
      if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
        return (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    throw new AssertionError(name + " not in /metrics");
  }

  @Test
  void aUsersBufferIsBoundedInBytesAndAResumeFromBeforeItIsReset() throws Exception {
    try (HalleyNode node = start(10_000, 1_000_000)) {
      InternalApi api = new InternalApi(node);
      String user = TestNodes.userOwnedBy("a", "bytes", 0);
      String start = poll(node, user, null).get("lastEventId").asText();
      for (int i = 0; i < 30; i++) {
        publish(api, user, i);
      }
      String epoch = start.substring(0, start.indexOf(':'));
      long base = Long.parseLong(start.substring(start.indexOf(':') + 1));
      // Each event costs its ~1 KB of data plus 48 bytes: the newest nine fit 10000 bytes.
      // The reset stands where the buffer is whole again; the nine events held follow it.
      JsonNode reset = poll(node, user, start).get("events");
      assertEquals(10, reset.size(), reset.toString());
      assertEquals("reset", reset.get(0).get("type").asText());
      assertEquals("gap", reset.get(0).get("reason").asText());
      assertEquals(21, reset.get(1).get("data").get("i").asInt());
      assertEquals(
          "reset",
          poll(node, user, epoch + ":" + (base + 20)).get("events").get(0).get("type").asText());
      JsonNode kept = poll(node, user, epoch + ":" + (base + 21)).get("events");
      assertEquals(9, kept.size(), kept.toString());
      assertEquals(21, kept.get(0).get("data").get("i").asInt());
      assertTrue(metric(node, "halley_buffer_bytes") <= 10_000);
    }
  }

  @Test
  void atTheNodeBudgetTheOldestEventsGoFirstWhoeverHoldsThem() throws Exception {
    try (HalleyNode node = start(20_000, 30_000)) {
      InternalApi api = new InternalApi(node);
      List<String> users = new ArrayList<>();
      List<String> starts = new ArrayList<>();
      for (int u = 0; u < 4; u++) {
        users.add(TestNodes.userOwnedBy("a", "budget", u));
        starts.add(poll(node, users.get(u), null).get("lastEventId").asText());
      }
      // The first user's events are the oldest; then each of the others gets 8.
      for (int i = 0; i < 8; i++) {
        publish(api, users.get(0), i);
      }
      for (int u = 1; u < 4; u++) {
        for (int i = 0; i < 8; i++) {
          publish(api, users.get(u), i);
        }
      }
      long held = metric(node, "halley_buffer_bytes");
      assertTrue(held <= 30_000, "buffers hold " + held);
      assertTrue(metric(node, "halley_buffer_budget_evicted_total") > 0);
      JsonNode first = poll(node, users.get(0), starts.get(0)).get("events");
      assertEquals("reset", first.get(0).get("type").asText(), first.toString());
      JsonNode last = poll(node, users.get(3), starts.get(3)).get("events");
      assertEquals(8, last.size(), "the newest user keeps every event: " + last);
      assertEquals("message", last.get(0).get("type").asText());
    }
  }
}
