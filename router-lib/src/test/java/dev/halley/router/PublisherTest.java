package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static dev.halley.router.TestCluster.userOn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.PublishResult.Outcome;
import dev.halley.router.PublishResult.Status;
import dev.halley.router.micrometer.MicrometerPublisherListener;
import dev.halley.testing.SseTestClient;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/** Publishing through router-lib to real nodes started in-process on port 0. */
class PublisherTest {
  private static final TokenMinter MINTER = TokenMinter.hs256(TestCluster.SECRET);
  private static final Duration TTL = Duration.ofMinutes(5);

  private static Publisher.Builder publisher(ClusterMap map) {
    return Publisher.builder()
        .mapSource(MapSource.of(() -> map))
        .apiKey(API_KEY)
        .mapRefreshInterval(Duration.ZERO)
        .requestTimeout(Duration.ofSeconds(10))
        .retryBackoff(Duration.ofMillis(20), Duration.ofMillis(200));
  }

  private static <T> T await(CompletableFuture<T> f) throws Exception {
    return f.get(60, TimeUnit.SECONDS);
  }

  private static SseTestClient connect(Publisher p, String user, Set<String> channels)
      throws Exception {
    ConnectInfo ci = p.connectInfo(user, MINTER, TTL, channels);
    return SseTestClient.open(java.net.URI.create(ci.url()), ci.token());
  }

  @Test
  void userBatchIsOneRequestPerOwnerNodeWithPerRecipientOutcomes() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b", "c");
        TcpProxy pa = new TcpProxy(cluster.node("a").internalPort());
        TcpProxy pb = new TcpProxy(cluster.node("b").internalPort());
        TcpProxy pc = new TcpProxy(cluster.node("c").internalPort())) {
      ClusterMap m = cluster.map();
      ClusterMap viaProxies =
          TestCluster.rewrite(
              TestCluster.rewrite(TestCluster.rewrite(m, "a", pa.url()), "b", pb.url()),
              "c",
              pc.url());
      List<String> onA = List.of(userOn(m, "a", 0), userOn(m, "a", 1), userOn(m, "a", 2));
      List<String> onB = List.of(userOn(m, "b", 0), userOn(m, "b", 1));
      String onC = userOn(m, "c", 0);
      List<String> all = new ArrayList<>(onA);
      all.addAll(onB);
      all.add(onC);
      try (Publisher p = publisher(viaProxies).build();
          SseTestClient live = connect(p, onA.get(0), Set.of())) {
        PublishResult r = await(p.publish(all, Map.of("text", "hi")));

        assertEquals(1, pa.publishRequests(), "requests at node a");
        assertEquals(1, pb.publishRequests(), "requests at node b");
        assertEquals(1, pc.publishRequests(), "requests at node c");
        assertEquals(6, r.outcomes().size());
        assertEquals(new Outcome(Status.DELIVERED, "a", null), r.outcome(onA.get(0)));
        assertEquals(new Outcome(Status.BUFFERED, "a", null), r.outcome(onA.get(1)));
        assertEquals(new Outcome(Status.BUFFERED, "b", null), r.outcome(onB.get(1)));
        assertEquals(new Outcome(Status.BUFFERED, "c", null), r.outcome(onC));
        assertTrue(r.succeeded());
        assertEquals("hi", live.awaitData().path("text").asText());
      }
    }
  }

  /**
   * Router-lib encodes each path segment ({@code /} as {@code %2F}, space as {@code %20}); the node
   * splits on literal {@code /} and decodes each segment once.
   */
  @Test
  void usersAndChannelsWithSlashesSpacesAndUnicodeSurviveThePath() throws Exception {
    try (TestCluster cluster = new TestCluster("a")) {
      ClusterMap m = cluster.map();
      String user = "a/b c\u20ac";
      String odd = "x+y%2F z/";
      try (Publisher p = publisher(m).build();
          SseTestClient s = connect(p, user, Set.of())) {
        assertEquals(Set.of("room/a"), await(p.subscribe(user, "room/a")));
        assertEquals(new Presence(user, "a", true, 1), await(p.presence(user)));
        assertEquals(new Presence(odd, "a", false, 0), await(p.presence(odd)));

        PublishResult r = await(p.publishToChannel("room/a", "hello slash"));

        assertEquals(1, r.nodes().get(0).connections(), r.toString());
        JsonNode e = s.awaitEvent("message");
        assertEquals("hello slash", e.get("data").asText());
        assertEquals("room/a", e.get("channel").asText());

        assertEquals(Set.of(), await(p.unsubscribe(user, "room/a")));
        PublishResult again = await(p.publishToChannel("room/a", "nobody"));
        assertEquals(0, again.nodes().get(0).connections(), again.toString());
      }
    }
  }

  @Test
  void channelPublishReachesSubscribersOnEveryNode() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b")) {
      ClusterMap m = cluster.map();
      String viaToken = userOn(m, "a", 0);
      String viaApi = userOn(m, "b", 0);
      try (Publisher p = publisher(m).build();
          SseTestClient sa = connect(p, viaToken, Set.of("room:1"));
          SseTestClient sb = connect(p, viaApi, Set.of())) {
        assertTrue(await(p.subscribe(viaApi, "room:1")).contains("room:1"));
        assertEquals(new Presence(viaApi, "b", true, 1), await(p.presence(viaApi)));
        assertFalse(await(p.isOnline(userOn(m, "b", 1))));

        PublishResult r = await(p.publishToChannel("room:1", "hello room"));

        assertEquals("room:1", r.channel());
        assertEquals(2, r.nodes().size(), "one result per node: " + r);
        for (PublishResult.NodeResult n : r.nodes()) {
          assertNull(n.reason(), n.toString());
          assertEquals(Status.DELIVERED, n.status(), n.toString());
          assertEquals(1, n.connections(), n.toString());
        }
        JsonNode ea = sa.awaitEvent("message");
        assertEquals("hello room", ea.get("data").asText());
        assertEquals("room:1", ea.get("channel").asText());
        assertEquals("hello room", sb.awaitData().asText());

        assertFalse(await(p.unsubscribe(viaApi, "room:1")).contains("room:1"));
        PublishResult again = await(p.publishToChannel("room:1", "only a"));
        assertEquals(
            1, again.nodes().stream().mapToInt(PublishResult.NodeResult::connections).sum());
      }
    }
  }

  @Test
  void retryAfterForcedTimeoutUsesTheSameKeyAndDeliversOnce() throws Exception {
    try (TestCluster cluster = new TestCluster("a");
        TcpProxy proxy = new TcpProxy(cluster.node("a").internalPort())) {
      String user = userOn(cluster.map(), "a", 0);
      AtomicInteger retries = new AtomicInteger();
      PublisherListener counting =
          new PublisherListener() {
            @Override
            public void retryScheduled(String node, int attempt, Duration delay) {
              retries.incrementAndGet();
            }
          };
      try (Publisher p =
              publisher(TestCluster.rewrite(cluster.map(), "a", proxy.url()))
                  .requestTimeout(Duration.ofSeconds(1))
                  .maxAttempts(10)
                  .listener(counting)
                  .build();
          SseTestClient live = connect(p, user, Set.of())) {
        proxy.swallowRepliesOfFirst(1); // the node gets the request; its reply is lost

        PublishResult r =
            await(p.publish(Message.toUsers(user).data("once").idempotencyKey("order-42")));

        assertEquals("order-42", r.id());
        // DELIVERED is the first attempt's outcome, which the node repeats for the key; BUFFERED
        // only if a retry overtook a first attempt the node was still processing.
        assertTrue(r.outcome(user).status() != Status.FAILED, r.toString());
        assertTrue(retries.get() >= 1, "a retry happened");
        assertTrue(proxy.publishRequests() >= 2, "the node saw the request again");
        await(p.publish(user, "marker"));
        assertEquals("once", live.awaitData().asText());
        assertEquals("marker", live.awaitData().asText(), "no second copy of the message");
      }
    }
  }

  @Test
  void misdirectedUsersAreReroutedToTheNewOwnerAfterAMapChange() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b")) {
      ClusterMap v2 = cluster.map();
      List<NodeInfo> heavierB = new ArrayList<>();
      for (NodeInfo n : v2.nodes()) {
        heavierB.add(
            new NodeInfo(n.id(), n.publicUrl(), n.internalUrl(), n.id().equals("b") ? 50 : 1));
      }
      ClusterMap v3 = ClusterMap.of(3, heavierB);
      String moved = null;
      for (int i = 0; moved == null; i++) {
        String u = userOn(v2, "a", i);
        if (v3.owner(u).id().equals("b")) {
          moved = u;
        }
      }
      AtomicReference<ClusterMap> source = new AtomicReference<>(v2);
      try (Publisher p =
          Publisher.builder()
              .mapSource(MapSource.of(source::get))
              .apiKey(API_KEY)
              .mapRefreshInterval(Duration.ZERO)
              .build()) {
        cluster.load(v3); // the nodes move on; the publisher still routes by v2
        source.set(v3);

        PublishResult r = await(p.publish(moved, "follow me"));

        assertEquals(new Outcome(Status.BUFFERED, "b", null), r.outcome(moved));
        assertEquals(3, p.map().version(), "the publisher refreshed its map");
      }
      source.set(v2);
      try (Publisher p =
          Publisher.builder()
              .mapSource(MapSource.of(source::get))
              .apiKey(API_KEY)
              .mapRefreshInterval(Duration.ZERO)
              .build()) {
        source.set(v3);

        // Presence goes to a (v2), which answers 421 not_owner; the publisher follows to b.
        assertEquals(new Presence(moved, "b", false, 0), await(p.presence(moved)));
        assertEquals(3, p.map().version());
      }
      String lostUser = moved;
      try (Publisher stale = publisher(v2).build()) {
        // The source never gets newer than v2: nowhere else to send the user.
        assertEquals(
            new Outcome(Status.FAILED, "a", "misdirected"),
            await(stale.publish(lostUser, "lost")).outcome(lostUser));
        ExecutionException e =
            assertThrows(ExecutionException.class, () -> await(stale.presence(lostUser)));
        assertEquals("not_owner", ((NodeRequestException) e.getCause()).code());
      }
    }
  }

  @Test
  void aWrongApiKeyFailsRecipientsWithTheNodesErrorCode() throws Exception {
    try (TestCluster cluster = new TestCluster("a")) {
      try (Publisher p =
          Publisher.builder()
              .mapSource(MapSource.of(cluster::map))
              .apiKey("not-the-key-0123456789")
              .build()) {
        assertEquals(
            new Outcome(Status.FAILED, "a", "api_key_invalid"),
            await(p.publish("alice", "x")).outcome("alice"));
        ExecutionException e =
            assertThrows(ExecutionException.class, () -> await(p.presence("alice")));
        NodeRequestException n = (NodeRequestException) e.getCause();
        assertEquals(401, n.status());
        assertEquals("api_key_invalid", n.code());
        assertEquals("a", n.node());
      }
    }
  }

  @Test
  void stoppedNodeFailsOnlyItsOwnRecipients() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b", "c")) {
      ClusterMap m = cluster.map();
      String onA = userOn(m, "a", 0);
      String onB = userOn(m, "b", 0);
      String onC = userOn(m, "c", 0);
      cluster.node("c").close();
      try (Publisher p = publisher(m).maxAttempts(2).build()) {
        PublishResult r = await(p.publish(List.of(onA, onB, onC), "x"));

        assertEquals(Status.BUFFERED, r.outcome(onA).status());
        assertEquals(Status.BUFFERED, r.outcome(onB).status());
        assertEquals(new Outcome(Status.FAILED, "c", "unreachable"), r.outcome(onC));
        assertEquals(Map.of(onC, r.outcome(onC)), r.failed());
      }
    }
  }

  @Test
  void hangingNodeDoesNotHoldUpPublishingToTheOthers() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b", "c");
        HangingServer hanging = new HangingServer()) {
      ClusterMap m = TestCluster.rewrite(cluster.map(), "c", hanging.url());
      String onA = userOn(m, "a", 0);
      String onB = userOn(m, "b", 0);
      String onC = userOn(m, "c", 0);
      // A long timeout: the hung request is still pending while the others complete.
      try (Publisher p =
          publisher(m).requestTimeout(Duration.ofMinutes(5)).maxAttempts(2).build()) {
        CompletableFuture<PublishResult> toC = p.publish(onC, "stuck");
        for (int i = 0; i < 20; i++) {
          PublishResult r = await(p.publish(List.of(onA, onB), "flowing " + i));
          assertTrue(r.succeeded(), r.toString());
        }
        assertFalse(toC.isDone(), "the hung node's publish is still waiting");
        assertTrue(hanging.connections() >= 1);

        hanging.close(); // the node dies: its connection breaks, the retry is refused

        // The request was sent before the connection broke: the node may have stored it.
        Outcome c = await(toC).outcome(onC);
        assertEquals(new Outcome(Status.UNKNOWN, "c", "connection_lost"), c);
      }
    }
  }

  @Test
  void fullNodeQueueFailsNewMessagesForThatNodeAtOnce() throws Exception {
    try (HangingServer hanging = new HangingServer()) {
      ClusterMap m = ClusterMap.of(1, List.of(new NodeInfo("h", hanging.url(), hanging.url())));
      try (Publisher p =
          publisher(m)
              .requestTimeout(Duration.ofMinutes(5))
              .maxInFlightRequests(1)
              .maxQueuedMessages(2)
              .build()) {
        CompletableFuture<PublishResult> inFlight = p.publish("u1", 1);
        CompletableFuture<PublishResult> queued1 = p.publish("u2", 2);
        CompletableFuture<PublishResult> queued2 = p.publish("u3", 3);

        PublishResult rejected = await(p.publish("u4", 4));

        assertEquals(new Outcome(Status.FAILED, "h", "backlog_full"), rejected.outcome("u4"));
        assertFalse(inFlight.isDone() || queued1.isDone() || queued2.isDone());
        p.close();
        assertEquals("closed", await(queued1).outcome("u2").reason());
        assertEquals("closed", await(queued2).outcome("u3").reason());
      }
    }
  }

  @Test
  void withMaxBlockAPublishWaitsForQueueRoomInsteadOfFailing() throws Exception {
    HangingServer hanging = new HangingServer();
    ClusterMap m = ClusterMap.of(1, List.of(new NodeInfo("h", hanging.url(), hanging.url())));
    try (Publisher p =
        publisher(m)
            .requestTimeout(Duration.ofMinutes(5))
            .maxAttempts(1)
            .maxInFlightRequests(1)
            .maxQueuedMessages(1)
            .maxBlock(Duration.ofMinutes(1))
            .build()) {
      CompletableFuture<PublishResult> inFlight = p.publish("u1", 1);
      // u1's request must be on the wire before the server goes away, else it is `unreachable`
      awaitCondition(() -> hanging.bytesReceived() > 0, "u1's request reaches the server");
      CompletableFuture<PublishResult> queued = p.publish("u2", 2);
      CompletableFuture<CompletableFuture<PublishResult>> blocked = new CompletableFuture<>();
      Thread caller = new Thread(() -> blocked.complete(p.publish("u3", 3)), "blocked-caller");
      caller.start();
      awaitCondition(() -> caller.getState() == Thread.State.TIMED_WAITING, "caller blocks");
      assertFalse(blocked.isDone());

      hanging.close(); // the in-flight request fails, the queue moves, u3 gets its place

      assertEquals(
          new Outcome(Status.UNKNOWN, "h", "connection_lost"), await(inFlight).outcome("u1"));
      assertEquals(new Outcome(Status.FAILED, "h", "unreachable"), await(queued).outcome("u2"));
      assertEquals("unreachable", await(await(blocked)).outcome("u3").reason());
    }
  }

  @Test
  void manySmallPublishesAreCoalescedIntoFewRequestsUnderLoad() throws Exception {
    try (TestCluster cluster = new TestCluster("a");
        TcpProxy proxy = new TcpProxy(cluster.node("a").internalPort())) {
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      try (Publisher p =
          publisher(TestCluster.rewrite(cluster.map(), "a", proxy.url()))
              .maxInFlightRequests(1)
              .maxBatchMessages(50)
              .listener(new MicrometerPublisherListener(registry))
              .build()) {
        List<CompletableFuture<PublishResult>> futures = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
          futures.add(p.publish("user-" + i, Map.of("n", i)));
        }
        for (int i = 0; i < 500; i++) {
          assertEquals(Status.BUFFERED, await(futures.get(i)).outcome("user-" + i).status());
        }

        int requests = proxy.publishRequests();
        assertTrue(requests >= 10 && requests < 500, "500 messages in " + requests + " requests");
        assertTrue(proxy.connections() <= 2, "kept alive: " + proxy.connections() + " connections");
        assertEquals(500.0, registry.get("halley.router.messages").counter().count());
        assertEquals(requests, registry.get("halley.router.requests").timer().count());
      }
    }
  }

  @Test
  void aBatchRefusedAsAWholeIsResentPerMessageSoOnlyTheBadOneFails() throws Exception {
    try (TestCluster cluster =
            new TestCluster(b -> b.tokenHmacSecret(TestCluster.SECRET).maxMessageBytes(1024), "a");
        TcpProxy proxy = new TcpProxy(cluster.node("a").internalPort())) {
      try (Publisher p =
          publisher(TestCluster.rewrite(cluster.map(), "a", proxy.url()))
              .maxInFlightRequests(1)
              .build()) {
        proxy.hold();
        CompletableFuture<PublishResult> first = p.publish("u0", "first"); // fills the window
        CompletableFuture<PublishResult> ok1 = p.publish("u1", "fine");
        CompletableFuture<PublishResult> big = p.publish("u2", "x".repeat(4000));
        CompletableFuture<PublishResult> ok2 = p.publish("u3", "fine too");
        proxy.open(); // then the three queued messages go as one batch: refused with 413

        assertEquals(Status.BUFFERED, await(first).outcome("u0").status());
        assertEquals(Status.BUFFERED, await(ok1).outcome("u1").status());
        assertEquals(
            new Outcome(Status.FAILED, "a", "message_too_large"), await(big).outcome("u2"));
        assertEquals(Status.BUFFERED, await(ok2).outcome("u3").status());
        assertEquals(5, proxy.publishRequests(), "first, the batch, then 3 single messages");
      }
    }
  }

  private static void awaitCondition(java.util.function.BooleanSupplier condition, String what) {
    Awaitility.await()
        .alias(what)
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(5))
        .until(condition::getAsBoolean);
  }
}
