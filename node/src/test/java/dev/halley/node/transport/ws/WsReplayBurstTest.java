package dev.halley.node.transport.ws;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.TestNodes;
import dev.halley.testing.TransportClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bounded stress of the WebSocket test client on the path that corrupted SlowConsumerTest's
 * message: a resume whose replay of large events follows the 101 response in the same TCP segments.
 * Every resumed client must get every event whole and in order, {@link #ROUNDS} times.
 *
 * <p>The JDK's {@code java.net.http.WebSocket} (the old test client) failed this about once in a
 * hundred resumes: an 8 KB event ending in {@code xxx} instead of {@code "}}} although a packet
 * capture of the same connection showed the node's frame intact.
 */
class WsReplayBurstTest {
  private static final int EVENTS = 24;
  private static final int ROUNDS = 300;
  private static final String PAD = "x".repeat(8_000);

  private HalleyNode node;
  private InternalApi api;

  @BeforeEach
  void start() {
    node =
        HalleyNode.start(
            TestNodes.config().bufferMaxEvents(EVENTS * 2).maxBodyBytes(512 * 1024).build());
    api = new InternalApi(node);
  }

  @AfterEach
  void stop() {
    node.close();
  }

  @Test
  @Timeout(300)
  void everyResumeGetsItsReplayBurstWhole() {
    String user = TestNodes.userOwnedBy("a", "burst", 0);
    String token = TestNodes.token(user, null);
    String from;
    try (TransportClient first = TransportClient.Transport.WS.client(node.publicPort())) {
      first.connect(token, null);
      from = first.hello().get("lastEventId").asText();
      ObjectNode body = InternalApi.JSON.createObjectNode();
      ArrayNode messages = body.putArray("messages");
      for (int n = 0; n < EVENTS; n++) {
        ObjectNode m = messages.addObject();
        m.putArray("users").add(user);
        m.putObject("data").put("n", n).put("pad", PAD);
      }
      assertEquals(200, api.publish(body.toString()).status());
      for (int n = 0; n < EVENTS; n++) {
        assertEquals(n, first.awaitMessage().get("data").get("n").asInt());
      }
    }
    for (int round = 0; round < ROUNDS; round++) {
      try (TransportClient back = TransportClient.Transport.WS.client(node.publicPort())) {
        back.connect(token, from);
        for (int n = 0; n < EVENTS; n++) {
          JsonNode data = back.awaitMessage().get("data");
          assertEquals(n, data.get("n").asInt(), "round " + round);
          assertEquals(PAD, data.get("pad").asText(), "round " + round);
        }
      }
    }
  }
}
