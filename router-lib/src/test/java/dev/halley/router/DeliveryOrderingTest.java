package dev.halley.router;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.testing.RawHttp;
import dev.halley.testing.TransportClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;

/**
 * Issue 9, end to end: several publisher threads through router-lib with default settings, to users
 * and a channel on three real nodes, every transport receiving, with a map change (node c leaves
 * the map, its users move) and a retry storm (node b's internal listener answers 503 for a while)
 * in the middle. Per (publisher thread, recipient) the received sequence must be exactly the
 * published one, or the client saw a {@code reset} and the gap is counted. Messages router-lib
 * reported FAILED or UNKNOWN may be missing (they are counted); any that arrive must still be in
 * order and once. Prints the figures.
 */
class DeliveryOrderingTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final TokenMinter MINTER = TokenMinter.hs256(TestCluster.SECRET);
  private static final String CHANNEL = "room:e2e";
  private static final String[] TRANSPORTS = {"ws", "sse", "longpoll", "poll"};
  private static final int THREADS = 4;
  private static final int PER_PHASE = 40; // messages per thread per phase (3 phases)

  @Test
  void everyRecipientGetsEachThreadsMessagesOnceAndInOrderOrAReset() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b", "c");
        FlakyProxy proxyB = new FlakyProxy(cluster.internalUrl("b"))) {
      ClusterMap before = cluster.map();
      List<NodeInfo> ab = new ArrayList<>();
      for (NodeInfo n : before.nodes()) {
        if (!n.id().equals("c")) {
          ab.add(n);
        }
      }
      ClusterMap after = ClusterMap.of(before.version() + 1, ab);
      ClusterMap[] viaProxy = {TestCluster.rewrite(before, "b", proxyB.url())};
      Supplier<ClusterMap> nodesMap = () -> cluster.map();

      // Receivers: per transport a user on each node (c's users move when c leaves the map).
      List<Receiver> receivers = new ArrayList<>();
      int n = 0;
      for (String t : TRANSPORTS) {
        for (String node : List.of("a", "b", "c")) {
          String user = TestCluster.userOn(before, node, n++);
          receivers.add(new Receiver(t, user, nodesMap));
        }
      }
      receivers.forEach(Receiver::start);
      for (Receiver r : receivers) {
        r.awaitConnected();
      }

      List<String> users = receivers.stream().map(r -> r.user).toList();
      // sent[thread][recipient] = published keys in order; recipient is a user or the channel.
      Map<String, List<Sent>> sent = new ConcurrentHashMap<>();
      CyclicBarrier phase = new CyclicBarrier(THREADS + 1);
      try (Publisher publisher =
          Publisher.builder()
              .mapSource(MapSource.of(() -> viaProxy[0]))
              .apiKey(TestCluster.API_KEY)
              .build()) {
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < THREADS; p++) {
          int thread = p;
          Thread th =
              new Thread(
                  () -> {
                    try {
                      for (int ph = 0; ph < 3; ph++) {
                        for (int i = 0; i < PER_PHASE; i++) {
                          int k = ph * PER_PHASE + i;
                          Map<String, Object> data = Map.of("p", thread, "k", k);
                          if (k % 3 == 2) {
                            sent.computeIfAbsent(key(thread, CHANNEL), x -> new ArrayList<>())
                                .add(
                                    new Sent(
                                        k, CHANNEL, publisher.publishToChannel(CHANNEL, data)));
                          } else {
                            String user = users.get((thread * 7 + k) % users.size());
                            sent.computeIfAbsent(key(thread, user), x -> new ArrayList<>())
                                .add(new Sent(k, user, publisher.publish(user, data)));
                          }
                        }
                        phase.await(60, TimeUnit.SECONDS);
                        phase.await(60, TimeUnit.SECONDS);
                      }
                    } catch (Exception e) {
                      throw new IllegalStateException(e);
                    }
                  },
                  "publisher-" + p);
          th.start();
          threads.add(th);
        }
        // Phase 1 published: the storm starts and the map changes in the middle of phase 2.
        phase.await(60, TimeUnit.SECONDS);
        proxyB.failing = true;
        phase.await(60, TimeUnit.SECONDS);
        cluster.load(after);
        viaProxy[0] = TestCluster.rewrite(after, "b", proxyB.url());
        // Phase 2 published: end the storm once b has answered 503 a while.
        phase.await(60, TimeUnit.SECONDS);
        // The storm lasts until b has refused 5 requests; the main thread keeps publishing to a
        // user on b meanwhile (as publisher "thread" THREADS), so there are requests to refuse.
        String onB = TestCluster.userOn(before, "b", 0);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (int k = 0; proxyB.refused.get() < 5 && System.nanoTime() < deadline; k++) {
          Map<String, Object> data = Map.of("p", THREADS, "k", k);
          sent.computeIfAbsent(key(THREADS, onB), x -> new ArrayList<>())
              .add(new Sent(k, onB, publisher.publish(onB, data)));
          Thread.sleep(10); // the feeder's pace, not a wait for a condition
        }
        proxyB.failing = false;
        phase.await(60, TimeUnit.SECONDS);
        phase.await(60, TimeUnit.SECONDS);
        phase.await(60, TimeUnit.SECONDS);
        for (Thread th : threads) {
          th.join(TimeUnit.SECONDS.toMillis(60));
        }

        // Outcomes, then wait until every message that must arrive has arrived (or 60 s).
        int ok = 0;
        int notOk = 0;
        for (List<Sent> list : sent.values()) {
          for (Sent s : list) {
            PublishResult r = s.result.get(60, TimeUnit.SECONDS);
            s.mustArrive =
                s.recipient.equals(CHANNEL)
                    ? r.succeeded()
                    : !r.outcome(s.recipient).failed() && !r.outcome(s.recipient).unknown();
            if (s.mustArrive) {
              ok++;
            } else {
              notOk++;
            }
          }
        }
        try {
          await()
              .atMost(Duration.ofSeconds(60))
              .pollInterval(Duration.ofMillis(50))
              .until(() -> allArrived(receivers, sent));
        } catch (ConditionTimeoutException e) {
          // not all arrived: the checks below say which are missing
        }

        // Check per (thread, recipient) and receiver.
        int checkedSequences = 0;
        int delivered = 0;
        int gaps = 0;
        int userGaps = 0;
        int gapsWithoutReset = 0;
        int duplicatesAcrossReset = 0;
        List<String> violations = new ArrayList<>();
        for (Receiver r : receivers) {
          for (int p = 0; p <= THREADS; p++) {
            for (String recipient : List.of(r.user, CHANNEL)) {
              List<Sent> published = sent.getOrDefault(key(p, recipient), List.of());
              List<Got> got = r.got(p, recipient.equals(CHANNEL));
              checkedSequences++;
              delivered += got.size();
              Check c = check(published, got, r.resets.get() > 0);
              gaps += c.missing;
              if (!recipient.equals(CHANNEL)) {
                userGaps += c.missing;
              }
              duplicatesAcrossReset += c.repeatedAfterReset;
              if (c.violation != null) {
                violations.add(r + " thread " + p + " " + recipient + ": " + c.violation);
              }
              if (c.missing > 0 && r.resets.get() == 0) {
                gapsWithoutReset += c.missing;
              }
            }
          }
        }
        int resets = receivers.stream().mapToInt(r -> r.resets.get()).sum();
        int moves = receivers.stream().mapToInt(r -> r.moves.get()).sum();
        System.out.printf(
            "delivery e2e: %d threads (+ a storm feeder), %d receivers (%s), %d messages published: %d reported"
                + " delivered/buffered, %d failed/unknown; storm: %d requests answered 503;"
                + " map change: %d moved or 421, %d resets; %d sequences checked, %d messages"
                + " received, %d missing after a reset (%d of them user messages, %d without a"
                + " reset), %d repeated across a reset, %d violations%n",
            THREADS,
            receivers.size(),
            String.join("/", TRANSPORTS),
            ok + notOk,
            ok,
            notOk,
            proxyB.refused.get(),
            moves,
            resets,
            checkedSequences,
            delivered,
            gaps,
            userGaps,
            gapsWithoutReset,
            duplicatesAcrossReset,
            violations.size());
        violations.stream().limit(20).forEach(v -> System.out.println("  " + v));
        assertTrue(proxyB.refused.get() >= 5, "the storm did not happen");
        assertTrue(moves >= TRANSPORTS.length, "the map change moved no one: " + moves);
        assertTrue(ok > 0 && delivered > 0, "nothing was delivered");
        assertEquals(List.of(), violations);
        assertEquals(0, gapsWithoutReset);
      } finally {
        receivers.forEach(Receiver::close);
      }
    }
  }

  private static String key(int thread, String recipient) {
    return thread + "/" + recipient;
  }

  private static boolean allArrived(List<Receiver> receivers, Map<String, List<Sent>> sent) {
    for (Receiver r : receivers) {
      for (int p = 0; p <= THREADS; p++) {
        for (String recipient : List.of(r.user, CHANNEL)) {
          List<Sent> published = sent.getOrDefault(key(p, recipient), List.of());
          Sent last = null;
          for (Sent s : published) {
            if (s.mustArrive) {
              last = s;
            }
          }
          if (last == null) {
            continue;
          }
          int lastKey = last.key;
          if (r.got(p, recipient.equals(CHANNEL)).stream().noneMatch(g -> g.key == lastKey)) {
            return false;
          }
        }
      }
    }
    return true;
  }

  /** What one (thread, recipient) sequence shows. */
  record Check(int missing, int repeatedAfterReset, String violation) {}

  /**
   * Between two resets the keys must follow the published order without repeats; a key repeated
   * after a reset is counted (the new owner replays what it holds); a message that must arrive and
   * did not is a gap, allowed only if the client saw a reset.
   */
  static Check check(List<Sent> published, List<Got> got, boolean sawReset) {
    Map<Integer, Integer> order = new java.util.HashMap<>();
    for (int i = 0; i < published.size(); i++) {
      order.put(published.get(i).key, i);
    }
    int repeated = 0;
    int lastIndex = -1;
    int lastEpoch = -1;
    java.util.Set<Integer> seen = new java.util.HashSet<>();
    for (Got g : got) {
      Integer at = order.get(g.key);
      if (at == null) {
        return new Check(0, repeated, "received unpublished key " + g.key);
      }
      if (g.segment != lastEpoch) {
        lastEpoch = g.segment;
        lastIndex = -1;
      }
      if (!seen.add(g.key)) {
        if (g.segment == 0 || !sawReset) {
          return new Check(0, repeated, "duplicate key " + g.key + " in " + keys(got));
        }
        repeated++;
      }
      if (at <= lastIndex) {
        return new Check(0, repeated, "out of order at key " + g.key + " in " + keys(got));
      }
      lastIndex = at;
    }
    int missing = 0;
    for (Sent s : published) {
      if (s.mustArrive && !seen.contains(s.key)) {
        missing++;
      }
    }
    return new Check(missing, repeated, null);
  }

  private static List<Integer> keys(List<Got> got) {
    return got.stream().map(g -> g.key).toList();
  }

  static final class Sent {
    final int key;
    final String recipient;
    final CompletableFuture<PublishResult> result;
    volatile boolean mustArrive;

    Sent(int key, String recipient, CompletableFuture<PublishResult> result) {
      this.key = key;
      this.recipient = recipient;
      this.result = result;
    }
  }

  /** One received message: thread, key, whether it came on the channel, reset segment. */
  record Got(int thread, int key, boolean channel, int segment) {}

  /**
   * A browser stand-in on one transport that follows the protocol: resumes with its last event ID,
   * follows {@code moved} and 421, reconnects after other ends, counts resets. Each connection is
   * one of the shared test-fixtures clients ({@link TransportClient.Transport#client}); this class
   * only decides where to connect next and from which position.
   */
  static final class Receiver {
    final String transport;
    final String user;
    final AtomicInteger resets = new AtomicInteger();
    final AtomicInteger moves = new AtomicInteger();
    private final Supplier<ClusterMap> map;
    private final String token;
    private final List<Got> got = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Void> connected = new CompletableFuture<>();
    private volatile boolean closed;
    private volatile String lastEventId;
    private volatile URI target;
    private volatile TransportClient current;
    private Thread loop;

    Receiver(String transport, String user, Supplier<ClusterMap> map) {
      this.transport = transport;
      this.user = user;
      this.map = map;
      this.token = MINTER.mint(user, Duration.ofMinutes(10), List.of(CHANNEL));
    }

    List<Got> got(int thread, boolean channel) {
      return got.stream().filter(g -> g.thread == thread && g.channel == channel).toList();
    }

    void start() {
      loop = new Thread(this::run, "receiver-" + transport + "-" + user);
      loop.setDaemon(true);
      loop.start();
    }

    void awaitConnected() throws Exception {
      connected.get(30, TimeUnit.SECONDS);
    }

    private TransportClient.Transport kind() {
      return switch (transport) {
        case "ws" -> TransportClient.Transport.WS;
        case "sse" -> TransportClient.Transport.SSE;
        case "longpoll" -> TransportClient.Transport.LONGPOLL;
        default -> TransportClient.Transport.POLL;
      };
    }

    private URI owner() {
      ClusterMap m = map.get();
      return m.owner(user).publicUrl();
    }

    private void run() {
      while (!closed) {
        URI base = target != null ? target : owner();
        target = null;
        TransportClient c = kind().client(base.getPort());
        current = c;
        try {
          c.connect(token, lastEventId);
          JsonNode hello = c.hello();
          if (hello != null && hello.hasNonNull("lastEventId")) {
            lastEventId = hello.get("lastEventId").asText(); // WebSocket and SSE
          } else if (lastEventId == null) {
            lastEventId = c.lastEventId(); // poll: the position its first request read
          }
          connected.complete(null);
          follow(c);
        } catch (AssertionError refused) {
          if (!closed && !movedBeforeHello(c)) {
            refused(base);
          }
        } finally {
          c.close();
        }
        if (target == null && !closed) {
          try {
            Thread.sleep(50); // a retry delay, not a wait for a condition
          } catch (InterruptedException e) {
            return;
          }
        }
      }
    }

    /** Takes the connection's events until it ends or an event ends it (moved, reconnect). */
    private void follow(TransportClient c) {
      while (!closed) {
        boolean ended = c.isEnded(); // before the poll: an event that came before the end is read
        JsonNode e;
        try {
          e = c.nextEvent(Duration.ofMillis(100));
        } catch (AssertionError failed) {
          return; // the connection failed (for poll: a refused request, such as a 421)
        }
        if (e != null ? event(e) : ended) {
          return;
        }
      }
    }

    /** Handles one event; returns true if it ends the connection (moved, reconnect). */
    private boolean event(JsonNode e) {
      String type = e.path("type").asText();
      switch (type) {
        case "message" -> {
          JsonNode d = e.get("data");
          got.add(new Got(d.get("p").asInt(), d.get("k").asInt(), e.has("channel"), resets.get()));
          lastEventId = e.get("id").asText();
        }
        case "reset" -> {
          resets.incrementAndGet();
          lastEventId = e.get("id").asText();
        }
        case "moved" -> {
          moves.incrementAndGet();
          target = URI.create(e.get("url").asText());
          return true;
        }
        case "reconnect", "token_expired" -> {
          return true;
        }
        default -> {}
      }
      return false;
    }

    /**
     * A connect that saw no {@code hello}: whether the node sent {@code moved} (or another ending
     * event) first, handled as on an open connection.
     */
    private boolean movedBeforeHello(TransportClient c) {
      try {
        for (JsonNode e = c.nextEvent(Duration.ZERO); e != null; e = c.nextEvent(Duration.ZERO)) {
          if (event(e)) {
            return true;
          }
        }
      } catch (AssertionError failed) {
        // what failed the connect
      }
      return false;
    }

    /** A connect was refused: a 421 names the owner to go to next. */
    private void refused(URI base) {
      String q = "token=" + URLEncoder.encode(token, StandardCharsets.UTF_8);
      String last = lastEventId;
      if (last != null) {
        q += "&lastEventId=" + URLEncoder.encode(last, StandardCharsets.UTF_8);
      }
      try {
        RawHttp.Response r = kind().attempt(base.getPort(), q, Map.of());
        if (r.status() == 421) {
          moves.incrementAndGet();
          target = URI.create(JSON.readTree(r.body()).path("owner").path("url").asText());
        }
      } catch (IOException e) {
        // the node is unreachable: the next round asks the map again
      }
    }

    void close() {
      closed = true;
      TransportClient c = current;
      if (c != null) {
        c.close();
      }
      if (loop != null) {
        loop.interrupt();
      }
    }

    @Override
    public String toString() {
      return transport + "(" + user + ")";
    }
  }

  /**
   * A real HTTP proxy in front of a node's internal listener that answers {@code 503 not_ready}
   * while {@link #failing}, counting those answers.
   */
  static final class FlakyProxy implements AutoCloseable {
    private static final HttpClient HTTP =
        HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final HttpServer server;
    private final URI target;
    volatile boolean failing;
    final AtomicInteger refused = new AtomicInteger();

    FlakyProxy(URI target) throws IOException {
      this.target = target;
      server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      server.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(8));
      server.createContext(
          "/",
          ex -> {
            try (InputStream in = ex.getRequestBody();
                OutputStream out = ex.getResponseBody()) {
              byte[] body = in.readAllBytes();
              if (failing) {
                refused.incrementAndGet();
                byte[] err =
                    "{\"error\":\"not_ready\",\"message\":\"injected by the test\"}"
                        .getBytes(StandardCharsets.UTF_8);
                ex.getResponseHeaders().add("Content-Type", "application/json");
                ex.sendResponseHeaders(503, err.length);
                out.write(err);
                return;
              }
              HttpRequest.Builder b =
                  HttpRequest.newBuilder(target.resolve(ex.getRequestURI().toString()))
                      .timeout(Duration.ofSeconds(20))
                      .method(ex.getRequestMethod(), HttpRequest.BodyPublishers.ofByteArray(body));
              for (String h : List.of("Authorization", "Content-Type")) {
                String v = ex.getRequestHeaders().getFirst(h);
                if (v != null) {
                  b.header(h, v);
                }
              }
              HttpResponse<byte[]> r =
                  HTTP.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
              r.headers()
                  .firstValue("Content-Type")
                  .ifPresent(v -> ex.getResponseHeaders().add("Content-Type", v));
              ex.sendResponseHeaders(r.statusCode(), r.body().length == 0 ? -1 : r.body().length);
              out.write(r.body());
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              ex.sendResponseHeaders(502, -1);
            }
          });
      server.start();
    }

    URI url() {
      return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    @Override
    public void close() {
      server.stop(0);
      ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }
  }
}
