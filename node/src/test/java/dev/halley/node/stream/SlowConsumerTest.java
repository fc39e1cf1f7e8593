package dev.halley.node.stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.RawWebSocket;
import dev.halley.node.Scrape;
import dev.halley.node.TestNodes;
import dev.halley.node.config.OperationsConfig;
import dev.halley.node.wire.CloseCodes;
import dev.halley.testing.TransportClient;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A client that stops reading is cut with 4008 once its queue is over the byte bound, while a
 * normal client on the same node receives every event in order; the cut client resumes without a
 * gap.
 */
class SlowConsumerTest {
  private static final int BUFFER = 4_000;
  private static final String PAYLOAD = "x".repeat(8_000);

  private HalleyNode node;
  private InternalApi api;

  @BeforeEach
  void start() {
    node =
        HalleyNode.start(
            TestNodes.config()
                .bufferMaxEvents(BUFFER)
                .connectionQueueMaxEvents(BUFFER + 2)
                .maxBodyBytes(256 * 1024)
                .connectionQueueMaxBytes(256 * 1024)
                .operations(
                    OperationsConfig.builder()
                        .newConnectionsPerSecondPerAddress(1_000)
                        .newConnectionBurstPerAddress(1_000)
                        .build())
                .build());
    api = new InternalApi(node);
  }

  @AfterEach
  void stop() {
    node.close();
  }

  @Test
  void aClientThatStopsReadingIsCutWith4008WhileOthersReceiveEverythingInOrder() throws Exception {
    String slow = TestNodes.userOwnedBy("a", "slow", 0);
    String fast = TestNodes.userOwnedBy("a", "fast", 0);
    try (RawWebSocket stalled =
            RawWebSocket.connect(node.publicPort(), TestNodes.token(slow, null));
        TransportClient normal = TransportClient.Transport.WS.client(node.publicPort())) {
      normal.connect(TestNodes.token(fast, null), null);
      api.awaitConnections(slow, 1);

      int published = 0;
      while (api.connections(slow) > 0) {
        assertTrue(published < BUFFER - 100, "not cut after " + published + " events");
        ObjectNode body = InternalApi.JSON.createObjectNode();
        ArrayNode messages = body.putArray("messages");
        for (int i = 0; i < 20; i++, published++) {
          ObjectNode m = messages.addObject();
          m.putArray("users").add(slow).add(fast);
          m.putObject("data").put("n", published).put("pad", PAYLOAD);
        }
        assertEquals(200, api.publish(body.toString()).status());
        // The normal client gets every event, in order, without a reset (and keeps its own
        // queue under the bound: the next batch goes once it has this one).
        for (int i = published - 20; i < published; i++) {
          assertEquals(i, normal.awaitMessage().get("data").get("n").asInt());
        }
      }
      assertEquals(
          1.0,
          Scrape.sample(
              Scrape.get(node.internalPort(), "/metrics").body(),
              "halley_slow_consumer_disconnects_total{transport=\"websocket\"}"));

      // What the stalled socket holds ends with the slow-consumer close.
      RawWebSocket.Frames frames = stalled.readUntilClose();
      assertEquals(CloseCodes.SLOW_CONSUMER, frames.closeCode());
      List<String> texts = frames.texts();
      assertEquals("hello", InternalApi.json(texts.get(0)).get("type").asText());
      String lastId = InternalApi.json(texts.get(0)).get("lastEventId").asText();
      int read = 0;
      for (String t : texts.subList(1, texts.size())) {
        JsonNode e = InternalApi.json(t);
        if (e.get("type").asText().equals("message")) {
          assertEquals(read++, e.get("data").get("n").asInt());
          lastId = e.get("id").asText();
        }
      }
      assertTrue(read < published, "the stalled client read " + read + " of " + published);

      // Its stream kept the rest: resuming delivers them all, in order, without a reset.
      try (TransportClient back = TransportClient.Transport.WS.client(node.publicPort())) {
        back.connect(TestNodes.token(slow, null), lastId);
        for (int i = read; i < published; i++) {
          assertEquals(i, back.awaitMessage().get("data").get("n").asInt());
        }
      }
      System.out.printf(
          "slow consumer cut after %d events of %d bytes; it had read %d%n",
          published, PAYLOAD.length(), read);
    }
  }
}
