package dev.halley.router.internal;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.NodeRequestException;
import dev.halley.router.Presence;
import dev.halley.router.UserAccess;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * Presence, subscription and access calls to a user's owner node: retried like publishes (all are
 * idempotent: a repeated block or revocation changes nothing more), re-routed once per newer map on
 * {@code 421 not_owner}.
 */
final class NodeCalls {
  private static final String PRESENCE = "presence";
  private static final String SUBSCRIPTION = "subscription";
  private static final String ACCESS = "access";

  private final HttpPublisher publisher;

  NodeCalls(HttpPublisher publisher) {
    this.publisher = publisher;
  }

  CompletableFuture<Presence> presence(String user) {
    return call(
        user,
        "GET",
        "/presence",
        PRESENCE,
        (node, body) ->
            new Presence(
                user,
                node,
                body.path("online").asBoolean(false),
                body.path("connections").asInt(0)));
  }

  CompletableFuture<Set<String>> subscription(String user, String channel, boolean add) {
    return call(
        user,
        add ? "PUT" : "DELETE",
        "/channels/" + Wire.segment(channel),
        SUBSCRIPTION,
        (node, body) -> {
          Set<String> channels = new LinkedHashSet<>();
          for (JsonNode c : body.path("channels")) {
            channels.add(c.asText());
          }
          return Collections.unmodifiableSet(channels);
        });
  }

  /** {@code POST /v1/users/{user}/{action}} with a JSON body (disconnect, block, revoke...). */
  CompletableFuture<UserAccess> access(String user, String action, byte[] body) {
    return call(user, "POST", "/" + action, ACCESS, body, NodeCalls::userAccess);
  }

  /** {@code GET /v1/users/{user}/access}. */
  CompletableFuture<UserAccess> access(String user) {
    return call(user, "GET", "/access", ACCESS, null, NodeCalls::userAccess);
  }

  private static UserAccess userAccess(String node, JsonNode body) {
    List<String> jtis = new ArrayList<>();
    for (JsonNode j : body.path("revokedJtis")) {
      jtis.add(j.asText());
    }
    return new UserAccess(
        body.path("user").asText(),
        node,
        body.path("disconnected").asInt(0),
        instant(body.get("blockedUntil")),
        instant(body.get("revokedBefore")),
        List.copyOf(jtis));
  }

  private static Instant instant(JsonNode n) {
    return n == null || !n.isNumber() ? null : Instant.ofEpochMilli(n.asLong());
  }

  private interface Reader<T> {
    T read(String node, JsonNode body);
  }

  private <T> CompletableFuture<T> call(
      String user, String method, String suffix, String kind, Reader<T> reader) {
    return call(user, method, suffix, kind, null, reader);
  }

  private <T> CompletableFuture<T> call(
      String user, String method, String suffix, String kind, byte[] body, Reader<T> reader) {
    CompletableFuture<T> result = new CompletableFuture<>();
    if (publisher.isClosed()) {
      result.completeExceptionally(
          new NodeRequestException(null, 0, Wire.CLOSED, "publisher is closed"));
      return result;
    }
    new Attempt<>(user, method, suffix, kind, body, reader, result)
        .run(1, publisher.settings.maxReroutes());
    return result;
  }

  private final class Attempt<T> {
    final String user;
    final String method;
    final String suffix;
    final String kind;
    final byte[] body;
    final Reader<T> reader;
    final CompletableFuture<T> result;

    Attempt(
        String user,
        String method,
        String suffix,
        String kind,
        byte[] body,
        Reader<T> reader,
        CompletableFuture<T> result) {
      this.user = user;
      this.method = method;
      this.suffix = suffix;
      this.kind = kind;
      this.body = body;
      this.reader = reader;
      this.result = result;
    }

    void run(int attempt, int reroutesLeft) {
      if (attempt > 1 && publisher.isClosed()) {
        result.completeExceptionally(
            new NodeRequestException(null, 0, Wire.CLOSED, "publisher is closed"));
        return;
      }
      NodeInfo node = publisher.map().owner(user);
      URI uri = Wire.resolve(node.internalUrl(), "/v1/users/" + Wire.segment(user) + suffix);
      HttpRequest.Builder b =
          HttpRequest.newBuilder(uri)
              .timeout(publisher.settings.requestTimeout())
              .header("Authorization", "Bearer " + publisher.settings.apiKey());
      if (body == null) {
        b.method(method, HttpRequest.BodyPublishers.noBody());
      } else {
        b.header("Content-Type", "application/json")
            .method(method, HttpRequest.BodyPublishers.ofByteArray(body));
      }
      HttpRequest request = b.build();
      long start = System.nanoTime();
      publisher
          .http()
          .sendAsync(request, HttpResponse.BodyHandlers.ofByteArray())
          .whenComplete(
              (response, error) -> {
                Duration latency = Duration.ofNanos(System.nanoTime() - start);
                try {
                  if (error != null) {
                    transportError(node.id(), attempt, reroutesLeft, error, latency);
                  } else {
                    response(node.id(), attempt, reroutesLeft, response, latency);
                  }
                } catch (RuntimeException e) {
                  result.completeExceptionally(
                      new NodeRequestException(node.id(), Wire.BAD_REPLY, e.toString(), e));
                }
              });
    }

    private void transportError(
        String node, int attempt, int reroutesLeft, Throwable error, Duration latency) {
      Throwable cause =
          error instanceof CompletionException && error.getCause() != null
              ? error.getCause()
              : error;
      String reason = cause instanceof HttpTimeoutException ? Wire.TIMEOUT : Wire.UNREACHABLE;
      publisher.listener.requestFailed(node, kind, 1, reason, latency);
      retryOr(
          node,
          attempt,
          reroutesLeft,
          () ->
              new NodeRequestException(
                  node, reason, kind + " call to node " + node + " failed: " + cause, cause));
    }

    private void response(
        String node,
        int attempt,
        int reroutesLeft,
        HttpResponse<byte[]> response,
        Duration latency) {
      int status = response.statusCode();
      publisher.listener.requestCompleted(node, kind, 1, status, latency);
      JsonNode body = Wire.parse(publisher.settings.objectMapper(), response.body());
      if (status == 200 && body != null) {
        result.complete(reader.read(node, body));
        return;
      }
      String code = status == 200 ? Wire.BAD_REPLY : Wire.errorCode(body, status);
      NodeRequestException failure =
          new NodeRequestException(
              node, status, code, "node " + node + ": " + Wire.errorMessage(body, status));
      if (status == 421 && reroutesLeft > 0) {
        int version = body == null ? Integer.MAX_VALUE : body.path("mapVersion").asInt(0);
        publisher
            .mapAtLeast(version)
            .whenComplete(
                (map, error) -> {
                  if (publisher.map().owner(user).id().equals(node)) {
                    result.completeExceptionally(failure); // nowhere else to go
                  } else {
                    run(attempt, reroutesLeft - 1);
                  }
                });
      } else if (status >= 500) {
        retryOr(node, attempt, reroutesLeft, () -> failure);
      } else {
        result.completeExceptionally(failure);
      }
    }

    private void retryOr(
        String node, int attempt, int reroutesLeft, Supplier<NodeRequestException> failure) {
      if (attempt >= publisher.settings.maxAttempts() || publisher.isClosed()) {
        result.completeExceptionally(failure.get());
        return;
      }
      int next = attempt + 1;
      Duration delay = publisher.backoff.delay(next, ThreadLocalRandom.current().nextDouble());
      publisher.listener.retryScheduled(node, next, delay);
      publisher.scheduleRetry(
          () -> run(next, reroutesLeft), () -> result.completeExceptionally(failure.get()), delay);
    }
  }
}
