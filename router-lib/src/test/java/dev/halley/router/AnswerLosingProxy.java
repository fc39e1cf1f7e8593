package dev.halley.router;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BiPredicate;

/**
 * A reverse proxy (HTTP/1.1) in front of a node's internal listener, for tests: it forwards every
 * request with its headers and returns the node's answer, except the first request that {@code
 * lose} matches (path, request body): that one is forwarded, so the node applies it, but its answer
 * is never sent (the client times out: an answer lost after the work was done). Or, built with a
 * {@code hold} latch, that answer is only held back until the latch opens and then sent (an answer
 * that comes late). Every exchange is recorded once answered, and every request counted as it
 * arrives ({@link #received}), answered or not.
 */
final class AnswerLosingProxy implements AutoCloseable {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
  private static final List<String> FORWARDED =
      List.of("Authorization", "Content-Type", "Halley-Publisher", "Halley-Map-Versions");

  /** One exchange through the proxy; {@code lost}: the client never got the answer. */
  record Exchange(
      String method, String path, String request, int status, String answer, boolean lost) {}

  final List<Exchange> exchanges = new CopyOnWriteArrayList<>();
  private final List<String> received = new CopyOnWriteArrayList<>(); // "METHOD path", in order
  private final HttpServer server;
  private final ExecutorService pool = Executors.newCachedThreadPool();
  private final BiPredicate<String, String> lose;
  private final CountDownLatch closing = new CountDownLatch(1);
  private final CountDownLatch hold;
  private final CountDownLatch holding = new CountDownLatch(1);
  private boolean lostOne; // guarded by this
  volatile URI target;

  AnswerLosingProxy(URI target, BiPredicate<String, String> lose) throws IOException {
    this(target, lose, null);
  }

  /**
   * The first request {@code match} matches is forwarded at once, its answer held until {@code
   * hold} opens (then sent); null: lost instead.
   */
  AnswerLosingProxy(URI target, BiPredicate<String, String> match, CountDownLatch hold)
      throws IOException {
    this.target = target;
    this.lose = match;
    this.hold = hold;
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.setExecutor(pool);
    server.createContext("/", this::handle);
    server.start();
  }

  URI url() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
  }

  /** The requests {@code method path} that have arrived so far, answered or not. */
  long received(String method, String path) {
    return received.stream().filter((method + " " + path)::equals).count();
  }

  /** Waits until the node has answered the matched request (its answer is now held or lost). */
  boolean awaitMatched(Duration wait) throws InterruptedException {
    return holding.await(wait.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** The exchanges whose answer was lost (or held). */
  List<Exchange> lost() {
    return exchanges.stream().filter(Exchange::lost).toList();
  }

  private synchronized boolean loseThis(String path, String body) {
    if (!lostOne && lose.test(path, body)) {
      lostOne = true;
      return true;
    }
    return false;
  }

  private void handle(HttpExchange ex) throws IOException {
    try {
      String path = ex.getRequestURI().getPath();
      received.add(ex.getRequestMethod() + " " + path);
      String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      HttpRequest.Builder r =
          HttpRequest.newBuilder(URI.create(target + ex.getRequestURI().toString()))
              .timeout(Duration.ofSeconds(30))
              .method(ex.getRequestMethod(), HttpRequest.BodyPublishers.ofString(body));
      for (String h : FORWARDED) {
        String v = ex.getRequestHeaders().getFirst(h);
        if (v != null) {
          r.header(h, v);
        }
      }
      HttpResponse<byte[]> response = HTTP.send(r.build(), HttpResponse.BodyHandlers.ofByteArray());
      String answer = new String(response.body(), StandardCharsets.UTF_8);
      boolean lost = loseThis(path, body);
      exchanges.add(
          new Exchange(ex.getRequestMethod(), path, body, response.statusCode(), answer, lost));
      if (lost) {
        holding.countDown();
        if (hold == null) {
          closing.await(60, TimeUnit.SECONDS); // applied by the node, never answered
          return;
        }
        hold.await(60, TimeUnit.SECONDS); // applied by the node, answered late
      }
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(
          response.statusCode(), response.body().length == 0 ? -1 : response.body().length);
      ex.getResponseBody().write(response.body());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      ex.close();
    }
  }

  @Override
  public void close() {
    closing.countDown();
    server.stop(0);
    pool.shutdownNow();
  }
}
