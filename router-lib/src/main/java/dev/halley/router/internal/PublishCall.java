package dev.halley.router.internal;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.router.PublishResult.NodeResult;
import dev.halley.router.PublishResult.Status;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One publish request to one node and its retries: the same body (so the same idempotency keys) on
 * every attempt. Retries after a timeout, a broken connection or a 5xx; a 400/413 on a batch of
 * several messages is re-sent one message per request so one bad message fails only itself.
 */
final class PublishCall {
  private static final String KIND = "publish";

  private final HttpPublisher publisher;
  private final NodeLane lane;
  private final List<Fragment> batch;
  private final Runnable onDone;
  private final byte[] body;

  PublishCall(HttpPublisher publisher, NodeLane lane, List<Fragment> batch, Runnable onDone) {
    this.publisher = publisher;
    this.lane = lane;
    this.batch = batch;
    AtomicBoolean once = new AtomicBoolean();
    this.onDone =
        () -> {
          if (once.compareAndSet(false, true)) {
            onDone.run();
          }
        };
    this.body = Wire.publishBody(batch);
  }

  void start() {
    attempt(1);
  }

  private void attempt(int attempt) {
    if (attempt > 1 && publisher.isClosed()) {
      finish(Wire.CLOSED);
      return;
    }
    HttpRequest request =
        HttpRequest.newBuilder(lane.publishUri())
            .timeout(publisher.settings.requestTimeout())
            .header("Authorization", "Bearer " + publisher.settings.apiKey())
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofByteArray(body))
            .build();
    long start = System.nanoTime();
    try {
      publisher
          .http()
          .sendAsync(request, HttpResponse.BodyHandlers.ofByteArray())
          .whenComplete(
              (response, error) -> {
                Duration latency = Duration.ofNanos(System.nanoTime() - start);
                try {
                  if (error != null) {
                    onTransportError(attempt, error, latency);
                  } else {
                    onResponse(attempt, response, latency);
                  }
                } catch (RuntimeException e) {
                  // Never leave a caller's future hanging on a bug in reply handling.
                  finish(Wire.BAD_REPLY);
                }
              });
    } catch (RuntimeException e) {
      finish(publisher.isClosed() ? Wire.CLOSED : Wire.UNREACHABLE);
    }
  }

  private void onTransportError(int attempt, Throwable error, Duration latency) {
    Throwable cause =
        error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    String reason = cause instanceof HttpTimeoutException ? Wire.TIMEOUT : Wire.UNREACHABLE;
    publisher.listener.requestFailed(lane.nodeId, KIND, batch.size(), reason, latency);
    retryOrFinish(attempt, reason);
  }

  private void onResponse(int attempt, HttpResponse<byte[]> response, Duration latency) {
    int status = response.statusCode();
    publisher.listener.requestCompleted(lane.nodeId, KIND, batch.size(), status, latency);
    JsonNode reply = Wire.parse(publisher.settings.objectMapper(), response.body());
    if (status == 200) {
      if (reply == null || !reply.path("results").isArray()) {
        finish(Wire.BAD_REPLY);
      } else {
        onResults(attempt, reply);
      }
      return;
    }
    String code = Wire.errorCode(reply, status);
    if (status >= 500) {
      retryOrFinish(attempt, status == 503 ? code : Wire.SERVER_ERROR);
    } else if (status == 421) {
      // The whole request was refused as not owned: re-route every user.
      int mapVersion = reply == null ? Integer.MAX_VALUE : reply.path("mapVersion").asInt(0);
      for (Fragment f : batch) {
        if (f.users != null) {
          publisher.reroute(f, f.users, mapVersion);
          f.tracker.release();
        } else {
          publisher.failFragment(f, code);
        }
      }
      onDone.run();
    } else if ((status == 400 || status == 413) && batch.size() > 1) {
      splitAndResend();
    } else {
      finish(code);
    }
  }

  private void onResults(int attempt, JsonNode reply) {
    int mapVersion = reply.path("mapVersion").asInt(0);
    JsonNode results = reply.get("results");
    Map<String, JsonNode> byId = new HashMap<>();
    for (JsonNode r : results) {
      byId.putIfAbsent(r.path("id").asText(), r);
    }
    List<Fragment> unresolved = new ArrayList<>();
    for (int i = 0; i < batch.size(); i++) {
      Fragment f = batch.get(i);
      JsonNode r = results.get(i);
      if (r == null || !f.wireId.equals(r.path("id").asText())) {
        r = byId.get(f.wireId);
      }
      if (r == null) {
        publisher.failFragment(f, Wire.BAD_REPLY);
      } else if (isInFlightDuplicate(f, r) && attempt < publisher.settings.maxAttempts()) {
        unresolved.add(f);
      } else if (f.users != null) {
        userResult(f, r, mapVersion);
      } else {
        f.tracker.node(
            new NodeResult(
                lane.nodeId, r.path("users").asInt(0), r.path("connections").asInt(0), null));
        f.tracker.release();
      }
    }
    if (unresolved.isEmpty()) {
      onDone.run();
    } else {
      // Ask again (same keys) once the first attempt has finished on the node.
      int next = attempt + 1;
      Duration delay = publisher.backoff.delay(next, ThreadLocalRandom.current().nextDouble());
      publisher.listener.retryScheduled(lane.nodeId, next, delay);
      PublishCall again = new PublishCall(publisher, lane, unresolved, onDone);
      publisher.scheduleRetry(() -> again.attempt(next), () -> again.finish(Wire.CLOSED), delay);
    }
  }

  /**
   * A duplicate whose first publish is still running on the node: the reply has no outcome yet (no
   * per-user lists, no connection count).
   */
  private static boolean isInFlightDuplicate(Fragment f, JsonNode r) {
    if (!Wire.STATUS_DUPLICATE.equals(r.path("status").asText())) {
      return false;
    }
    return f.users != null
        ? !r.has("delivered") && !r.has("buffered") && !r.has("misdirected")
        : !r.has("connections");
  }

  private void userResult(Fragment f, JsonNode r, int mapVersion) {
    Set<String> delivered = strings(r.get("delivered"));
    Set<String> buffered = strings(r.get("buffered"));
    Set<String> misdirected = strings(r.get("misdirected"));
    boolean duplicate = Wire.STATUS_DUPLICATE.equals(r.path("status").asText());
    List<String> reroute = new ArrayList<>();
    int failed = 0;
    for (String user : f.users) {
      if (delivered.contains(user)) {
        f.tracker.user(user, Status.DELIVERED, lane.nodeId, null);
      } else if (buffered.contains(user)) {
        f.tracker.user(user, Status.BUFFERED, lane.nodeId, null);
      } else if (misdirected.contains(user)) {
        reroute.add(user);
      } else if (duplicate) {
        // The first attempt was still running on the node when the last retry asked: the node
        // has taken the message, so the user gets it live or from the buffer.
        f.tracker.user(user, Status.BUFFERED, lane.nodeId, null);
      } else {
        f.tracker.user(user, Status.FAILED, lane.nodeId, Wire.BAD_REPLY);
        failed++;
      }
    }
    if (failed > 0) {
      publisher.listener.recipientsFailed(lane.nodeId, Wire.BAD_REPLY, failed);
    }
    if (!reroute.isEmpty()) {
      publisher.reroute(f, reroute, mapVersion);
    }
    f.tracker.release();
  }

  private static Set<String> strings(JsonNode array) {
    if (array == null || !array.isArray() || array.isEmpty()) {
      return Set.of();
    }
    Set<String> set = new HashSet<>(array.size() * 2);
    for (JsonNode n : array) {
      set.add(n.asText());
    }
    return set;
  }

  private void retryOrFinish(int attempt, String reason) {
    if (attempt >= publisher.settings.maxAttempts() || publisher.isClosed()) {
      finish(reason);
      return;
    }
    int next = attempt + 1;
    Duration delay = publisher.backoff.delay(next, ThreadLocalRandom.current().nextDouble());
    publisher.listener.retryScheduled(lane.nodeId, next, delay);
    publisher.scheduleRetry(() -> attempt(next), () -> finish(reason), delay);
  }

  /** Each message alone, so a 400/413 names the one message it is about. */
  private void splitAndResend() {
    AtomicInteger left = new AtomicInteger(batch.size());
    Runnable oneDone =
        () -> {
          if (left.decrementAndGet() == 0) {
            onDone.run();
          }
        };
    for (Fragment f : batch) {
      new PublishCall(publisher, lane, List.of(f), oneDone).start();
    }
  }

  /** Fails every fragment of the batch with {@code reason} and frees the window slot. */
  private void finish(String reason) {
    for (Fragment f : batch) {
      publisher.failFragment(f, reason);
    }
    onDone.run();
  }
}
