package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.testing.SseTestClient;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Issue 14 (ReshardIT: for every moving client, one user message reached the new owner after two or
 * three later ones, about one round trip of the old owner at the end of dual mode), with real nodes
 * in process, a real Publisher and a real SSE client: map 3 = {a}, map 4 adds d; the moving user's
 * client follows {@code moved} to d. Message m1 is published in dual mode after the activation: its
 * first send to the old owner a is answered {@code misdirected}, so its second send is a plain one
 * to d. That answer comes late (a proxy holds it); meanwhile the publisher leaves dual mode and
 * sends m2 and m3 straight to d. On the old code the second send of m1 took its place in the user's
 * list of second sends only when a's answer came, so m2 and m3, registered before, did not wait for
 * it: the client got m2, m3, m1.
 */
class SecondSendOrderNodesTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final TokenMinter MINTER = TokenMinter.hs256(TestCluster.SECRET);

  private static JsonNode call(URI base, String method, String path, String body) throws Exception {
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create(base + path))
                    .header("Authorization", "Bearer " + API_KEY)
                    .method(
                        method,
                        body == null
                            ? HttpRequest.BodyPublishers.noBody()
                            : HttpRequest.BodyPublishers.ofString(body))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), method + " " + path + ": " + r.body());
    return JSON.readTree(r.body());
  }

  /**
   * The n-th user that {@code from} owns under {@code active} and {@code to} under {@code next}.
   */
  static String mover(ClusterMap active, ClusterMap next, String from, String to, int n) {
    int found = 0;
    for (int i = 0; ; i++) {
      String u = "user-" + i;
      if (active.owner(u).id().equals(from) && next.owner(u).id().equals(to) && found++ == n) {
        return u;
      }
    }
  }

  /** Whether d answered a publish request carrying the message {@code key}. */
  private static boolean reached(AnswerLosingProxy toD, String key) {
    return toD.exchanges.stream()
        .anyMatch(e -> e.path().equals("/v1/publish") && e.request().contains("\"" + key + "\""));
  }

  @Test
  void aSecondSendDecidedAfterDualModeEndedStillGoesBeforeTheLaterStraightSends() throws Exception {
    CountDownLatch releaseA = new CountDownLatch(1);
    CountDownLatch releaseD = new CountDownLatch(1);
    try (TestCluster cluster =
            new TestCluster(
                b ->
                    b.tokenHmacSecret(TestCluster.SECRET)
                        .operations(
                            dev.halley.node.config.OperationsConfig.builder()
                                .movedSpreadMs(0)
                                .build()),
                "a",
                "d");
        AnswerLosingProxy toA =
            new AnswerLosingProxy(
                cluster.internalUrl("a"),
                (path, body) -> path.equals("/v1/publish") && body.contains("\"m1\""),
                releaseA);
        AnswerLosingProxy toD =
            new AnswerLosingProxy(
                cluster.internalUrl("d"),
                (path, body) -> path.equals("/v1/publish") && body.contains("\"busy\""),
                releaseD)) {
      NodeInfo a = new NodeInfo("a", cluster.publicUrl("a"), toA.url(), 1);
      NodeInfo d = new NodeInfo("d", cluster.publicUrl("d"), toD.url(), 1);
      ClusterMap three = cluster.load(ClusterMap.of(3, List.of(a)));
      ClusterMap four = ClusterMap.of(4, List.of(a, d));
      String u = mover(three, four, "a", "d", 0);
      String other = mover(three, four, "a", "d", 1);
      AtomicReference<ClusterMap> source = new AtomicReference<>(three);
      try (ClusterPublisher p =
              (ClusterPublisher)
                  Publisher.builder()
                      .mapSource(MapSource.of(source::get))
                      .apiKey(API_KEY)
                      .requestTimeout(Duration.ofSeconds(60))
                      .maxInFlightRequests(1) // so that what waits for d is sent in one batch
                      .dualGrace(Duration.ofMillis(100))
                      .build();
          SseTestClient onA =
              SseTestClient.open(
                  cluster.publicUrl("a"), MINTER.mint(u, Duration.ofMinutes(5), Set.of()))) {
        for (String id : List.of("d", "a")) {
          call(cluster.internalUrl(id), "POST", "/v1/admin/map/pending", four.toJson());
        }
        p.publish(Message.toUsers(u).data("k0").idempotencyKey("k0")).get(60, TimeUnit.SECONDS);
        assertEquals(List.of(3, 4), p.mapVersions(), "dual mode, learnt from a's answer");
        p.publish(Message.toUsers(u).data("k1").idempotencyKey("k1")).get(60, TimeUnit.SECONDS);
        List<String> got = new ArrayList<>();
        got.add(onA.awaitMessage().path("key").asText());
        got.add(onA.awaitMessage().path("key").asText());
        await("d holds the relay of k1")
            .atMost(Duration.ofSeconds(30))
            .until(() -> reached(toD, "k1"));

        // The activation, new owner first; the client follows moved to d and is covered there.
        for (String id : List.of("d", "a")) {
          call(cluster.internalUrl(id), "POST", "/v1/admin/map/activate", "{\"version\": 4}");
        }
        String handoff = onA.awaitEvent("moved").path("handoff").asText();
        SseTestClient onD = new SseTestClient(cluster.publicUrl("d").getPort());
        onD.query("handoff=" + URLEncoder.encode(handoff, StandardCharsets.UTF_8));
        try (onD) {
          onD.connect(MINTER.mint(u, Duration.ofMinutes(5), Set.of()), onA.lastEventId());
          assertEquals("d", onD.hello().path("node").asText(), onD.hello().toString());

          // m1 in dual mode (no answer has said map 4 is active yet); a's answer is held.
          CompletableFuture<PublishResult> m1 =
              p.publish(Message.toUsers(u).data("m1").idempotencyKey("m1"));
          assertTrue(toA.awaitMatched(Duration.ofSeconds(30)), "a answered m1 (answer held)");

          // The operator's map update reaches the publisher: dual mode ends after the grace.
          source.set(four);
          p.refreshMap().get(30, TimeUnit.SECONDS);
          await("dual mode over")
              .atMost(Duration.ofSeconds(30))
              .until(() -> p.mapVersions().equals(List.of(4)));

          // d's only request slot is busy (answer held): what follows for d waits in its queue.
          CompletableFuture<PublishResult> busy =
              p.publish(Message.toUsers(other).data("busy").idempotencyKey("busy"));
          assertTrue(toD.awaitMatched(Duration.ofSeconds(30)), "d answered 'busy' (held)");
          // Straight to the new owner d.
          CompletableFuture<PublishResult> m2 =
              p.publish(Message.toUsers(u).data("m2").idempotencyKey("m2"));
          CompletableFuture<PublishResult> m3 =
              p.publish(Message.toUsers(u).data("m3").idempotencyKey("m3"));
          // a's answer to m1 (misdirected: a activated) comes now: m1 goes to d plainly.
          releaseA.countDown();
          await("m1's second send queued for d behind the busy request")
              .atMost(Duration.ofSeconds(30))
              .until(() -> p.queued("d") == 3);
          releaseD.countDown();
          for (CompletableFuture<PublishResult> f : List.of(m1, busy, m2, m3)) {
            f.get(60, TimeUnit.SECONDS);
          }
          for (int i = 0; i < 3; i++) {
            got.add(onD.awaitMessage().path("key").asText());
          }
          assertEquals(
              List.of("k0", "k1", "m1", "m2", "m3"),
              got,
              "the moving user's messages in publish order (k0, k1 from a, the rest from d); d got "
                  + toD.exchanges);
        }
      }
    }
  }
}
