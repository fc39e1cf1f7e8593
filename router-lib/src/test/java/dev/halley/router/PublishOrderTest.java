package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static dev.halley.router.TestCluster.userOn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.PublishResult.Status;
import dev.halley.testing.SseTestClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Publish order per recipient through a Publisher with default settings (8 requests in flight per
 * node, batching, retries, re-routes) to real nodes in-process, read back by real SSE clients.
 */
class PublishOrderTest {
  private static final TokenMinter MINTER = TokenMinter.hs256(TestCluster.SECRET);
  private static final int N = 3000;

  /** Defaults everywhere except the map source and the key. */
  private static Publisher defaults(MapSource source) {
    return Publisher.builder().mapSource(source).apiKey(API_KEY).build();
  }

  static SseTestClient connect(Publisher p, String user, Set<String> channels) throws Exception {
    ConnectInfo ci = p.connectInfo(user, MINTER, Duration.ofMinutes(5), channels);
    return SseTestClient.open(java.net.URI.create(ci.url()), ci.token());
  }

  /** Reads message data (ints) until {@code count} arrived or nothing more comes for a while. */
  static List<Integer> read(SseTestClient s, int count) throws InterruptedException {
    List<Integer> got = new ArrayList<>();
    while (got.size() < count) {
      JsonNode e = s.nextEvent(Duration.ofSeconds(10));
      if (e == null || !"message".equals(e.path("type").asText())) {
        break;
      }
      got.add(e.get("data").asInt());
    }
    return got;
  }

  /** Pairs (i, j), i before j in {@code seq}, with seq[i] > seq[j]. */
  static long inversions(List<Integer> seq) {
    long n = 0;
    int max = Integer.MIN_VALUE;
    // Counting every pair is quadratic; adjacent-descent counting is what the issue measured as
    // "inversions" and is zero exactly when the sequence is increasing.
    for (int v : seq) {
      if (v < max) {
        n++;
      }
      max = Math.max(max, v);
    }
    return n;
  }

  private static List<PublishResult> all(List<CompletableFuture<PublishResult>> futures)
      throws Exception {
    List<PublishResult> results = new ArrayList<>();
    for (CompletableFuture<PublishResult> f : futures) {
      results.add(f.get(60, TimeUnit.SECONDS));
    }
    return results;
  }

  @Test
  void oneThreadToOneUserArrivesInPublishOrderWithDefaultSettings() throws Exception {
    try (TestCluster cluster = new TestCluster("a")) {
      String user = userOn(cluster.map(), "a", 0);
      try (Publisher p = defaults(MapSource.of(cluster::map));
          SseTestClient client = connect(p, user, Set.of())) {
        List<CompletableFuture<PublishResult>> futures = new ArrayList<>();
        for (int i = 0; i < N; i++) {
          futures.add(p.publish(user, i));
        }
        for (PublishResult r : all(futures)) {
          assertEquals(Status.DELIVERED, r.outcome(user).status(), r.toString());
        }

        List<Integer> got = read(client, N);
        System.out.println("one user: received " + got.size() + ", inversions " + inversions(got));
        assertEquals(0, inversions(got), "inversions");
        assertEquals(N, got.size());
        assertEquals(N - 1, got.get(N - 1));
      }
    }
  }

  @Test
  void oneThreadToAChannelArrivesInPublishOrderOnEveryNode() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b")) {
      String onA = userOn(cluster.map(), "a", 0);
      String onB = userOn(cluster.map(), "b", 0);
      try (Publisher p = defaults(MapSource.of(cluster::map));
          SseTestClient a = connect(p, onA, Set.of("room:1"));
          SseTestClient b = connect(p, onB, Set.of("room:1"))) {
        List<CompletableFuture<PublishResult>> futures = new ArrayList<>();
        for (int i = 0; i < N; i++) {
          futures.add(p.publishToChannel("room:1", i));
        }
        for (PublishResult r : all(futures)) {
          assertTrue(r.succeeded(), r.toString());
        }
        for (SseTestClient s : List.of(a, b)) {
          List<Integer> got = read(s, N);
          System.out.println("channel: received " + got.size() + ", inversions " + inversions(got));
          assertEquals(0, inversions(got), "inversions");
          assertEquals(N, got.size());
        }
      }
    }
  }

  @Test
  void severalThreadsToOverlappingUsersKeepEachThreadsOrderPerUser() throws Exception {
    int threads = 4;
    int perThread = 600;
    try (TestCluster cluster = new TestCluster("a", "b")) {
      List<String> users =
          List.of(
              userOn(cluster.map(), "a", 0),
              userOn(cluster.map(), "a", 1),
              userOn(cluster.map(), "b", 0),
              userOn(cluster.map(), "b", 1));
      try (Publisher p = defaults(MapSource.of(cluster::map))) {
        List<SseTestClient> clients = new ArrayList<>();
        try {
          for (String u : users) {
            clients.add(connect(p, u, Set.of()));
          }
          List<Thread> publishers = new ArrayList<>();
          List<CompletableFuture<PublishResult>> futures =
              java.util.Collections.synchronizedList(new ArrayList<>());
          int[] expected = new int[users.size()];
          for (int t = 0; t < threads; t++) {
            int thread = t;
            publishers.add(
                new Thread(
                    () -> {
                      java.util.Random random = new java.util.Random(thread);
                      for (int i = 0; i < perThread; i++) {
                        List<String> to = new ArrayList<>();
                        for (String u : users) {
                          if (random.nextBoolean()) {
                            to.add(u);
                          }
                        }
                        if (to.isEmpty()) {
                          to.add(users.get(random.nextInt(users.size())));
                        }
                        synchronized (expected) {
                          for (String u : to) {
                            expected[users.indexOf(u)]++;
                          }
                        }
                        futures.add(p.publish(to, java.util.Map.of("t", thread, "n", i)));
                      }
                    },
                    "publisher-" + t));
          }
          publishers.forEach(Thread::start);
          for (Thread t : publishers) {
            t.join();
          }
          for (PublishResult r : all(new ArrayList<>(futures))) {
            assertTrue(r.succeeded(), r.toString());
          }
          long inversions = 0;
          for (int u = 0; u < users.size(); u++) {
            int[] last = new int[threads];
            java.util.Arrays.fill(last, -1);
            int got = 0;
            while (got < expected[u]) {
              JsonNode e = clients.get(u).nextEvent(Duration.ofSeconds(10));
              if (e == null || !"message".equals(e.path("type").asText())) {
                break;
              }
              got++;
              int t = e.get("data").get("t").asInt();
              int n = e.get("data").get("n").asInt();
              if (n <= last[t]) {
                inversions++;
              }
              last[t] = n;
            }
            assertEquals(expected[u], got, "messages to " + users.get(u));
          }
          System.out.println("threads: inversions per (thread, user) " + inversions);
          assertEquals(0, inversions, "inversions per (thread, user)");
        } finally {
          clients.forEach(SseTestClient::close);
        }
      }
    }
  }

  @Test
  void orderHoldsThroughANodeAnswering503ForAWhile() throws Exception {
    try (TestCluster cluster = new TestCluster("a");
        TcpProxy proxy = new TcpProxy(cluster.node("a").internalPort())) {
      String user = userOn(cluster.map(), "a", 0);
      AtomicInteger retries = new AtomicInteger();
      ClusterMap viaProxy = TestCluster.rewrite(cluster.map(), "a", proxy.url());
      try (Publisher p =
              Publisher.builder()
                  .mapSource(MapSource.of(() -> viaProxy))
                  .apiKey(API_KEY)
                  .listener(
                      new PublisherListener() {
                        @Override
                        public void retryScheduled(String node, int attempt, Duration delay) {
                          retries.incrementAndGet();
                        }
                      })
                  .build();
          SseTestClient client = connect(p, user, Set.of())) {
        List<CompletableFuture<PublishResult>> futures = new ArrayList<>();
        for (int i = 0; i < N; i++) {
          if (i == N / 3) {
            proxy.refuseNext(6); // a retry storm: in-flight connections cut, then 503s
          }
          futures.add(p.publish(user, i));
        }
        List<PublishResult> results = all(futures);
        assertTrue(retries.get() > 0 && proxy.refused() > 0, "retries happened");
        checkAgainstOutcomes(results, user, read(client, N));
      }
    }
  }

  @Test
  void orderHoldsWhenAMapChangeReroutesTheUserToAnotherNode() throws Exception {
    try (TestCluster cluster =
        new TestCluster(
            b ->
                b.tokenHmacSecret(TestCluster.SECRET)
                    .bufferMaxEvents(N)
                    .connectionQueueMaxEvents(N + 2),
            "a",
            "b")) {
      ClusterMap v2 = cluster.map();
      List<NodeInfo> heavierB = new ArrayList<>();
      for (NodeInfo n : v2.nodes()) {
        heavierB.add(
            new NodeInfo(n.id(), n.publicUrl(), n.internalUrl(), n.id().equals("b") ? 50 : 1));
      }
      ClusterMap v3 = ClusterMap.of(3, heavierB);
      String found = null;
      for (int i = 0; found == null; i++) {
        String u = userOn(v2, "a", i);
        if (v3.owner(u).id().equals("b")) {
          found = u;
        }
      }
      String moved = found;
      AtomicReference<ClusterMap> source = new AtomicReference<>(v2);
      try (Publisher p = defaults(MapSource.of(source::get));
          SseTestClient onA = connect(p, moved, Set.of())) {
        List<CompletableFuture<PublishResult>> futures = new ArrayList<>();
        for (int i = 0; i < N; i++) {
          if (i == N / 2) {
            cluster.load(v3); // the nodes move on; the publisher learns of it when misdirected
            source.set(v3);
          }
          futures.add(p.publish(moved, i));
        }
        List<PublishResult> results = all(futures);
        List<Integer> fromA = read(onA, N); // until node a says the user moved
        // What b buffered for the user since the move, replayed from the start of b's stream.
        List<Integer> fromB;
        ConnectInfo ci = p.connectInfo(moved, MINTER, Duration.ofMinutes(5), Set.of());
        String epoch;
        try (SseTestClient probe = SseTestClient.open(java.net.URI.create(ci.url()), ci.token())) {
          epoch = probe.hello().get("epoch").asText();
        }
        try (SseTestClient onB =
            SseTestClient.open(java.net.URI.create(ci.url()), ci.token(), epoch + ":0")) {
          fromB = read(onB, N);
        }
        long rerouted = results.stream().filter(r -> "b".equals(r.outcome(moved).node())).count();
        System.out.println(
            "map change: a " + fromA.size() + ", b " + fromB.size() + ", via b " + rerouted);
        assertTrue(rerouted > 0, "some messages went to b");
        List<Integer> got = new ArrayList<>(fromA);
        got.addAll(fromB);
        checkAgainstOutcomes(results, moved, got);
      }
    }
  }

  /**
   * {@code got} (what the user received, in order) holds every DELIVERED or BUFFERED message once,
   * in publish order, and no FAILED one; UNKNOWN ones may be there or not.
   */
  private static void checkAgainstOutcomes(
      List<PublishResult> results, String user, List<Integer> got) {
    Set<Integer> stored = new HashSet<>();
    Set<Integer> failed = new HashSet<>();
    Function<Status, Long> count =
        s -> results.stream().filter(r -> r.outcome(user).status() == s).count();
    for (int i = 0; i < results.size(); i++) {
      Status s = results.get(i).outcome(user).status();
      if (s == Status.DELIVERED || s == Status.BUFFERED) {
        stored.add(i);
      } else if (s == Status.FAILED) {
        failed.add(i);
      }
    }
    List<Integer> storedGot = new ArrayList<>();
    for (int v : got) {
      assertTrue(!failed.contains(v), "a FAILED message arrived: " + v);
      if (stored.contains(v)) {
        storedGot.add(v);
      }
    }
    System.out.println(
        "outcomes: delivered "
            + count.apply(Status.DELIVERED)
            + ", buffered "
            + count.apply(Status.BUFFERED)
            + ", failed "
            + failed.size()
            + ", unknown "
            + count.apply(Status.UNKNOWN)
            + "; received "
            + got.size()
            + ", inversions "
            + inversions(storedGot));
    assertEquals(0, inversions(storedGot), "inversions among stored messages");
    assertEquals(stored.size(), storedGot.size(), "every stored message arrived, once");
    assertEquals(stored.size(), new HashSet<>(storedGot).size(), "no duplicates");
  }
}
