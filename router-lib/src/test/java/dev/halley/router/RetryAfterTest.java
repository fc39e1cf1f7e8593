package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.PublishResult.Outcome;
import dev.halley.router.PublishResult.Status;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

/**
 * A node's {@code Retry-After} on a 503 or 429 is honoured, against a real HTTP server: the retry
 * comes no sooner than it says (seconds or an HTTP date), and a wait that reaches past the call's
 * deadline ends the call with that answer at once instead of retrying on the backoff.
 */
class RetryAfterTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** What the fake node answers to its n-th publish (0-based): status and Retry-After (or null). */
  record Answer(int status, String retryAfter) {}

  /** A real server standing in for a node; records when each publish arrived (nanoTime). */
  static final class RefusingNode implements AutoCloseable {
    final HttpServer server;
    final List<Long> arrivals = new CopyOnWriteArrayList<>();

    RefusingNode(IntFunction<Answer> answers) throws IOException {
      server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
      server.createContext(
          "/v1/publish",
          exchange -> {
            int n = arrivals.size();
            arrivals.add(System.nanoTime());
            JsonNode body = JSON.readTree(exchange.getRequestBody());
            Answer a = answers.apply(n);
            if (a.status() == 200) {
              delivered(exchange, body);
            } else {
              refuse(exchange, a);
            }
          });
      server.start();
    }

    private static void refuse(HttpExchange exchange, Answer a) throws IOException {
      byte[] reply =
          ("{\"error\":\""
                  + (a.status() == 429 ? "rate_limited" : "over_capacity")
                  + "\",\"message\":\"later\"}")
              .getBytes(StandardCharsets.UTF_8);
      if (a.retryAfter() != null) {
        exchange.getResponseHeaders().add("Retry-After", a.retryAfter());
      }
      exchange.getResponseHeaders().add("Content-Type", "application/json");
      exchange.sendResponseHeaders(a.status(), reply.length);
      exchange.getResponseBody().write(reply);
      exchange.close();
    }

    private static void delivered(HttpExchange exchange, JsonNode body) throws IOException {
      StringBuilder results = new StringBuilder();
      for (JsonNode m : body.get("messages")) {
        results
            .append(results.length() > 0 ? "," : "")
            .append("{\"id\":")
            .append(JSON.writeValueAsString(m.get("id").asText()))
            .append(",\"connections\":1,\"delivered\":")
            .append(m.get("users"))
            .append(",\"buffered\":[],\"misdirected\":[]}");
      }
      byte[] reply =
          ("{\"node\":\"s\",\"mapVersion\":1,\"results\":[" + results + "]}")
              .getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().add("Content-Type", "application/json");
      exchange.sendResponseHeaders(200, reply.length);
      exchange.getResponseBody().write(reply);
      exchange.close();
    }

    URI url() {
      return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    /** Milliseconds between the first and the second publish. */
    long gapMs() {
      return TimeUnit.NANOSECONDS.toMillis(arrivals.get(1) - arrivals.get(0));
    }

    @Override
    public void close() {
      server.stop(0);
    }
  }

  private static Publisher publisher(RefusingNode node) {
    ClusterMap m = ClusterMap.of(1, List.of(new NodeInfo("s", node.url(), node.url())));
    return Publisher.builder().mapSource(MapSource.of(() -> m)).apiKey(API_KEY).build();
  }

  private static PublishResult publish(Publisher p) throws Exception {
    return p.publish(List.of("alice"), 1).get(60, TimeUnit.SECONDS);
  }

  @Test
  void a503WithRetryAfterSecondsIsRetriedNoSoonerThanItSays() throws Exception {
    try (RefusingNode node =
            new RefusingNode(n -> n == 0 ? new Answer(503, "1") : new Answer(200, null));
        Publisher p = publisher(node)) {
      PublishResult r = publish(p);
      assertEquals(Status.DELIVERED, r.outcome("alice").status(), r.toString());
      assertEquals(2, node.arrivals.size());
      // The backoff alone waits at most 100 ms before the second attempt.
      assertTrue(node.gapMs() >= 1_000, "retried after " + node.gapMs() + " ms");
    }
  }

  @Test
  void a429WithAnHttpDateIsRetriedAtThatDate() throws Exception {
    // Whole seconds on the wire, written when the refusal is: at least one second ahead of it.
    try (RefusingNode node =
            new RefusingNode(
                n ->
                    n == 0
                        ? new Answer(
                            429,
                            DateTimeFormatter.RFC_1123_DATE_TIME.format(
                                Instant.now().plusSeconds(2).atOffset(ZoneOffset.UTC)))
                        : new Answer(200, null));
        Publisher p = publisher(node)) {
      PublishResult r = publish(p);
      assertEquals(Status.DELIVERED, r.outcome("alice").status(), r.toString());
      assertEquals(2, node.arrivals.size());
      assertTrue(node.gapMs() >= 900, "retried after " + node.gapMs() + " ms");
    }
  }

  @Test
  void aRetryAfterPastTheDeadlineEndsTheCallAtOnceWithThatAnswer() throws Exception {
    // 30 s is past the default budget (requestTimeout 2 s x 3 attempts + backoff = 6.3 s).
    try (RefusingNode node = new RefusingNode(n -> new Answer(503, "30"));
        Publisher p = publisher(node)) {
      long t0 = System.nanoTime();
      PublishResult r = publish(p);
      long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
      assertEquals(new Outcome(Status.FAILED, "s", "over_capacity"), r.outcome("alice"));
      assertEquals(1, node.arrivals.size(), "retried although Retry-After is past the deadline");
      assertTrue(ms < 30_000, ms + " ms");
    }
  }

  @Test
  void a503WithoutRetryAfterIsRetriedOnTheBackoffAsBefore() throws Exception {
    try (RefusingNode node = new RefusingNode(n -> new Answer(503, null));
        Publisher p = publisher(node)) {
      PublishResult r = publish(p);
      assertEquals(new Outcome(Status.FAILED, "s", "over_capacity"), r.outcome("alice"));
      assertEquals(3, node.arrivals.size(), "maxAttempts");
    }
  }
}
