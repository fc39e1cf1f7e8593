package dev.halley.node;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.testing.TransportClient;
import dev.halley.testing.TransportClient.Transport;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Latest-value channels (issue #16) against a real node on every transport: a new subscriber (token
 * channel at connect, or API subscription) gets the channel's last message first, once.
 */
class LatestValueTest {
  private static HalleyNode node;
  private static InternalApi api;
  private final List<TransportClient> clients = new ArrayList<>();

  @BeforeAll
  static void start() {
    node =
        HalleyNode.start(
            TestNodes.config().latestValueChannels(List.of("prices:*", "score")).build());
    api = new InternalApi(node);
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  @AfterEach
  void closeClients() {
    clients.forEach(TransportClient::close);
  }

  private TransportClient connect(Transport t, String user, List<String> channels, String last) {
    TransportClient c = t.client(node.publicPort());
    clients.add(c);
    c.connect(TestNodes.token(user, channels), last);
    return c;
  }

  /** A message straight to the user: what comes before it in the stream is all there is. */
  private static void marker(String user) {
    api.publishToUsers(InternalApi.text("marker"), user);
  }

  private static void assertMessage(TransportClient c, String data, String channel) {
    JsonNode e = c.awaitMessage();
    assertEquals(data, e.get("data").asText(), c.transport() + ": " + e);
    assertEquals(channel, e.path("channel").asText(null), c.transport() + ": " + e);
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aConnectWithTheChannelInItsTokenGetsTheLastMessageFirst(Transport t) {
    String user = TestNodes.userOwnedBy("a", "lv-connect-" + t, 0);
    String channel = "prices:eur-" + t;
    api.publishToChannel(channel, InternalApi.text("1.05"));
    api.publishToChannel(channel, InternalApi.text("1.07"));
    api.publishToChannel("room:" + t, InternalApi.text("not kept"));

    TransportClient c = connect(t, user, List.of(channel, "room:" + t), null);
    assertMessage(c, "1.07", channel);
    api.publishToChannel(channel, InternalApi.text("1.08"));
    assertMessage(c, "1.08", channel);
    marker(user);
    assertMessage(c, "marker", null);
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aResumingClientIsNotSentTheValueAgain(Transport t) {
    String user = TestNodes.userOwnedBy("a", "lv-resume-" + t, 0);
    api.publishToChannel("score", InternalApi.text("2:1"));
    TransportClient first = connect(t, user, List.of("score"), null);
    assertMessage(first, "2:1", "score");
    String last = first.lastEventId();
    first.close();

    TransportClient again = connect(t, user, List.of("score"), last);
    marker(user);
    assertMessage(again, "marker", null);
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void anApiSubscriptionGetsTheLastMessageOnce(Transport t) {
    String user = TestNodes.userOwnedBy("a", "lv-api-" + t, 0);
    String channel = "prices:usd-" + t;
    api.publishToChannel(channel, InternalApi.text("0.93"));
    TransportClient c = connect(t, user, List.of(), null);

    assertEquals(200, api.subscribe(user, channel).status());
    assertMessage(c, "0.93", channel);
    assertEquals(200, api.subscribe(user, channel).status()); // already subscribed: nothing new
    marker(user);
    assertMessage(c, "marker", null);
  }

  @Test
  void liveOnlyAndExpiredValuesAreNotHandedOut() throws Exception {
    String user = TestNodes.userOwnedBy("a", "lv-ttl", 0);
    ObjectNode liveOnly = InternalApi.JSON.createObjectNode();
    liveOnly.put("channel", "prices:live");
    liveOnly.set("data", InternalApi.text("live"));
    liveOnly.put("ttlMs", 0);
    api.publishOne(liveOnly);
    ObjectNode shortLived = InternalApi.JSON.createObjectNode();
    shortLived.put("channel", "prices:short");
    shortLived.set("data", InternalApi.text("short"));
    shortLived.put("ttlMs", 1);
    long publishedBy = System.currentTimeMillis();
    api.publishOne(shortLived);
    // The 1 ms TTL has passed once the clock has.
    await()
        .pollInterval(Duration.ofMillis(1))
        .until(() -> System.currentTimeMillis() > publishedBy + 2);

    TransportClient c = connect(Transport.WS, user, List.of("prices:live", "prices:short"), null);
    marker(user);
    assertMessage(c, "marker", null);
  }

  @Test
  void theStoreIsBoundedLeastRecentlyPublishedFirst() {
    try (HalleyNode small =
        HalleyNode.start(
            TestNodes.config()
                .latestValueChannels(List.of("*"))
                .latestValueMaxChannels(1)
                .build())) {
      InternalApi smallApi = new InternalApi(small);
      String user = TestNodes.userOwnedBy("a", "lv-bound", 0);
      smallApi.publishToChannel("c1", InternalApi.text("one"));
      smallApi.publishToChannel("c2", InternalApi.text("two"));
      TransportClient c = Transport.SSE.client(small.publicPort());
      clients.add(c);
      c.connect(TestNodes.token(user, List.of("c1", "c2")), null);
      smallApi.publishToUsers(InternalApi.text("marker"), user);
      assertMessage(c, "two", "c2");
      assertMessage(c, "marker", null);
    }
  }

  @Test
  void connectsRacingPublishesNeverSeeAnOlderValueAfterANewerOneNorOneTwice() throws Exception {
    // Bounded stress: one thread publishes 1, 2, 3, ... on a latest-value channel while clients
    // connect; each client's values must be strictly increasing.
    AtomicBoolean stop = new AtomicBoolean();
    AtomicInteger published = new AtomicInteger();
    api.publishToChannel("prices:race", InternalApi.text("0"));
    Thread publisher =
        new Thread(
            () -> {
              while (!stop.get() && published.get() < 100_000) {
                api.publishToChannel(
                    "prices:race", InternalApi.text(Integer.toString(published.incrementAndGet())));
              }
            });
    publisher.start();
    try {
      for (int i = 0; i < 20; i++) {
        String user = TestNodes.userOwnedBy("a", "lv-race", i);
        TransportClient c = connect(Transport.WS, user, List.of("prices:race"), null);
        int last = Integer.parseInt(c.awaitMessage().get("data").asText());
        for (int k = 0; k < 5; k++) {
          int next = Integer.parseInt(c.awaitMessage().get("data").asText());
          assertTrue(next > last, user + ": " + next + " after " + last);
          last = next;
        }
        c.close();
      }
    } finally {
      stop.set(true);
      publisher.join();
    }
  }
}
