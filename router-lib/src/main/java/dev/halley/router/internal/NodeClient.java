package dev.halley.router.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The one request path to nodes: every call (publish, presence, subscription) goes through {@link
 * #send}, which sends one HTTP request, retries it with backoff after no answer or a 5xx, and
 * completes with the last answer or the reason there was none. Each call has a deadline: no attempt
 * is started after it and none runs past it, so the time to an outcome is bounded. A 503 or 429
 * with {@code Retry-After} (seconds or an HTTP date) is retried no sooner than it says; when that
 * is at or past the call's deadline (or no attempt is left) the call ends with that answer at once
 * instead of waiting.
 *
 * <p>Thread-safe. Futures complete on the HTTP client's threads or the timer thread.
 */
public final class NodeClient {
  /** The publisher's stable ID, on every request (docs/protocol.md). */
  public static final String PUBLISHER_HEADER = "Halley-Publisher";

  /** The map versions the publisher publishes with, active first ({@code 3} or {@code 3,4}). */
  public static final String MAP_VERSIONS_HEADER = "Halley-Map-Versions";

  /** Why there was no answer. */
  public static final String TIMEOUT = "timeout";

  public static final String UNREACHABLE = "unreachable";
  public static final String CONNECTION_LOST = "connection_lost";
  public static final String CLOSED = "closed";
  public static final String SERVER_ERROR = "server_error";

  /** What the client reports for metrics; node IDs only, never user IDs. */
  public interface Events {
    void requestCompleted(String node, String kind, int messages, int status, Duration latency);

    void requestFailed(String node, String kind, int messages, String reason, Duration latency);

    void retryScheduled(String node, int attempt, Duration delay);
  }

  /**
   * One call. {@code uri} is asked before every attempt (a node's URL can change with the map).
   *
   * @param firstAttempt the number of the first attempt (above 1 when a caller continues a call)
   * @param deadlineNanos {@link System#nanoTime()} after which nothing more is tried
   */
  public record Call(
      String node,
      String kind,
      int messages,
      Supplier<URI> uri,
      String method,
      byte[] body,
      int firstAttempt,
      long deadlineNanos) {}

  /**
   * How a call ended.
   *
   * @param status the HTTP status of the last answer, or 0 when the last attempt got none
   * @param body the parsed JSON of the last answer (null if none, or not JSON)
   * @param failure null when answered, else {@link #TIMEOUT}, {@link #UNREACHABLE}, {@link
   *     #CONNECTION_LOST} or {@link #CLOSED}
   * @param reachedBy when some attempt may have been processed by the node although no answer said
   *     how, the latest such attempt's reason ({@link #TIMEOUT}, {@link #CONNECTION_LOST}, or
   *     {@link #SERVER_ERROR} for a 5xx other than 503); else null
   * @param attempt the number of the last attempt made
   */
  public record Result(int status, JsonNode body, String failure, String reachedBy, int attempt) {
    public boolean mayHaveReached() {
      return reachedBy != null;
    }

    public boolean answered() {
      return failure == null;
    }
  }

  private final HttpClient http;
  private final ObjectMapper mapper;
  private final String authorization;
  private final Duration requestTimeout;
  private final int maxAttempts;
  private final Backoff backoff;
  private final ScheduledExecutorService timer;
  private final Events events;
  private final Supplier<Boolean> closed;
  private final String publisherId;
  private final Supplier<String> mapVersions;
  private final Set<Runnable> pendingRetries = ConcurrentHashMap.newKeySet();

  public NodeClient(
      HttpClient http,
      ObjectMapper mapper,
      String apiKey,
      Duration requestTimeout,
      int maxAttempts,
      Backoff backoff,
      ScheduledExecutorService timer,
      Events events,
      Supplier<Boolean> closed,
      String publisherId,
      Supplier<String> mapVersions) {
    this.http = http;
    this.mapper = mapper;
    this.authorization = "Bearer " + apiKey;
    this.requestTimeout = requestTimeout;
    this.maxAttempts = maxAttempts;
    this.backoff = backoff;
    this.timer = timer;
    this.events = events;
    this.closed = closed;
    this.publisherId = publisherId;
    this.mapVersions = mapVersions;
  }

  public int maxAttempts() {
    return maxAttempts;
  }

  /**
   * The longest a call may take from its first attempt: {@code requestTimeout × maxAttempts} plus
   * the backoff ceilings before attempts 2..maxAttempts.
   */
  public Duration budget() {
    long nanos = requestTimeout.toNanos() * maxAttempts;
    for (int attempt = 2; attempt <= maxAttempts; attempt++) {
      nanos += backoff.ceilingNanos(attempt);
    }
    return Duration.ofNanos(nanos);
  }

  /** Sends {@code call}, retrying after no answer and after a 5xx, until its attempts run out. */
  public CompletableFuture<Result> send(Call call) {
    CompletableFuture<Result> result = new CompletableFuture<>();
    attempt(call, call.firstAttempt(), null, result);
    return result;
  }

  /** The delay before {@code attempt}, or null when it would start after {@code deadlineNanos}. */
  public Duration retryDelay(int attempt, long deadlineNanos) {
    return retryDelay(attempt, deadlineNanos, null);
  }

  /**
   * {@link #retryDelay(int, long)}, but no shorter than {@code notBefore} (a {@code Retry-After};
   * null: none).
   */
  private Duration retryDelay(int attempt, long deadlineNanos, Duration notBefore) {
    if (attempt > maxAttempts || closed.get()) {
      return null;
    }
    Duration delay = backoff.delay(attempt, ThreadLocalRandom.current().nextDouble());
    if (notBefore != null && notBefore.compareTo(delay) > 0) {
      delay = notBefore;
    }
    return System.nanoTime() + delay.toNanos() >= deadlineNanos ? null : delay;
  }

  /**
   * The wait a {@code Retry-After} value asks for: delay-seconds ({@code 5}) or an HTTP date
   * ({@code Wed, 02 Dec 2026 00:30:00 GMT}, a date in the past meaning none); null when absent or
   * unreadable (then the backoff alone decides).
   */
  static Duration retryAfter(String value, Instant now) {
    if (value == null) {
      return null;
    }
    String v = value.trim();
    if (!v.isEmpty() && v.chars().allMatch(c -> c >= '0' && c <= '9')) {
      // Anything over a day is far past any call's deadline; the cap keeps the arithmetic finite.
      return v.length() > 6 ? Duration.ofDays(1) : Duration.ofSeconds(Long.parseLong(v));
    }
    try {
      Instant at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
      return at.isAfter(now) ? Duration.between(now, at) : Duration.ZERO;
    } catch (DateTimeParseException e) {
      return null;
    }
  }

  /**
   * Runs {@code retry} after {@code delay} on the timer; if the client closes first, runs {@code
   * onClosed} instead (exactly one of the two runs).
   */
  public void schedule(Runnable retry, Runnable onClosed, Duration delay) {
    // onClosed (a fresh object per call) is the claim ticket: whoever removes it runs.
    Runnable claimed =
        () -> {
          if (pendingRetries.remove(onClosed)) {
            retry.run();
          }
        };
    pendingRetries.add(onClosed);
    try {
      timer.schedule(claimed, delay.toNanos(), TimeUnit.NANOSECONDS);
    } catch (RuntimeException e) {
      if (pendingRetries.remove(onClosed)) {
        onClosed.run(); // the timer is shut down: the publisher is closing
      }
    }
  }

  /** Runs the closing branch of every scheduled retry (after the owner stopped the timer). */
  public void close() {
    for (Runnable onClosed : List.copyOf(pendingRetries)) {
      if (pendingRetries.remove(onClosed)) {
        onClosed.run();
      }
    }
  }

  private void attempt(Call call, int attempt, String reachedBy, CompletableFuture<Result> result) {
    if (attempt > call.firstAttempt() && closed.get()) {
      result.complete(new Result(0, null, CLOSED, reachedBy, attempt - 1));
      return;
    }
    long left = call.deadlineNanos() - System.nanoTime();
    if (left <= 0) {
      result.complete(new Result(0, null, TIMEOUT, reachedBy, attempt - 1));
      return;
    }
    HttpRequest.BodyPublisher body =
        call.body() == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofByteArray(call.body());
    HttpRequest.Builder request =
        HttpRequest.newBuilder(call.uri().get())
            .timeout(Duration.ofNanos(Math.min(requestTimeout.toNanos(), left)))
            .header("Authorization", authorization)
            .header(PUBLISHER_HEADER, publisherId)
            .header(MAP_VERSIONS_HEADER, mapVersions.get())
            .method(call.method(), body);
    if (call.body() != null) {
      request.header("Content-Type", "application/json");
    }
    long start = System.nanoTime();
    CompletableFuture<HttpResponse<byte[]>> sent;
    try {
      sent = http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (RuntimeException e) {
      result.complete(new Result(0, null, closed.get() ? CLOSED : UNREACHABLE, reachedBy, attempt));
      return;
    }
    sent.whenComplete(
        (response, error) -> {
          Duration latency = Duration.ofNanos(System.nanoTime() - start);
          if (error != null) {
            Throwable cause =
                error instanceof CompletionException && error.getCause() != null
                    ? error.getCause()
                    : error;
            // Refused or not connected in time: the request never left. Anything else may have.
            boolean wentOut = !notConnected(cause);
            String reason = reason(cause);
            if (!wentOut && System.nanoTime() - call.deadlineNanos() >= 0) {
              reason = TIMEOUT; // the attempt's time (cut to the deadline) ran out while connecting
            }
            events.requestFailed(call.node(), call.kind(), call.messages(), reason, latency);
            String reached = wentOut ? reason : reachedBy;
            retryOr(
                call,
                attempt,
                reached,
                new Result(0, null, reason, reached, attempt),
                result,
                null);
            return;
          }
          int status = response.statusCode();
          events.requestCompleted(call.node(), call.kind(), call.messages(), status, latency);
          JsonNode json = parse(response.body());
          Duration retryAfter =
              status == 503 || status == 429
                  ? retryAfter(response.headers().firstValue("Retry-After").orElse(null), now())
                  : null;
          if (status >= 500 || retryAfter != null) {
            // 503 and 429 are refusals before any work (not ready, draining, overloaded, at the
            // socket limit); another 5xx can come from a request that broke half way.
            String reached = status == 503 || status == 429 ? reachedBy : SERVER_ERROR;
            retryOr(
                call,
                attempt,
                reached,
                new Result(status, json, null, reached, attempt),
                result,
                retryAfter);
          } else {
            result.complete(new Result(status, json, null, reachedBy, attempt));
          }
        });
  }

  private void retryOr(
      Call call,
      int attempt,
      String reachedBy,
      Result last,
      CompletableFuture<Result> result,
      Duration retryAfter) {
    int next = attempt + 1;
    Duration delay = retryDelay(next, call.deadlineNanos(), retryAfter);
    if (delay == null) {
      result.complete(last);
      return;
    }
    events.retryScheduled(call.node(), next, delay);
    schedule(() -> attempt(call, next, reachedBy, result), () -> result.complete(last), delay);
  }

  /** The wall clock for HTTP dates in {@code Retry-After}. */
  private static Instant now() {
    return Instant.now();
  }

  private static boolean notConnected(Throwable cause) {
    return cause instanceof HttpConnectTimeoutException
        || cause instanceof ConnectException
        || !(cause instanceof IOException);
  }

  private static String reason(Throwable cause) {
    if (cause instanceof HttpConnectTimeoutException || cause instanceof ConnectException) {
      return UNREACHABLE;
    }
    if (cause instanceof HttpTimeoutException) {
      return TIMEOUT;
    }
    return cause instanceof IOException ? CONNECTION_LOST : UNREACHABLE;
  }

  private JsonNode parse(byte[] body) {
    try {
      return body.length == 0 ? null : mapper.readTree(body);
    } catch (IOException e) {
      return null;
    }
  }
}
