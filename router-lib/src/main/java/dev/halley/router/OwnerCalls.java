package dev.halley.router;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.internal.DualRoute;
import dev.halley.router.internal.Ids;
import dev.halley.router.internal.NodeClient;
import dev.halley.router.internal.Wire;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiFunction;

/**
 * The calls about one user that go to the user's owner node: presence, subscriptions and access
 * (disconnect, block, revoke). Each takes the {@link NodeClient} path with its retries (they are
 * idempotent: a repeat changes nothing more) and is re-routed once per newer map on {@code 421
 * not_owner}; failures are {@link NodeRequestException}s.
 */
final class OwnerCalls {
  private final ClusterPublisher publisher;

  OwnerCalls(ClusterPublisher publisher) {
    this.publisher = publisher;
  }

  CompletableFuture<Presence> presence(String user) {
    return userCall(
        Ids.checkUser(user),
        "GET",
        "/presence",
        "presence",
        null,
        (node, body) ->
            new Presence(
                user,
                node,
                body.path("online").asBoolean(false),
                body.path("connections").asInt(0)));
  }

  CompletableFuture<Set<String>> subscribe(String user, String channel) {
    return subscription(Ids.checkUser(user), Ids.checkChannel(channel), true);
  }

  CompletableFuture<Set<String>> unsubscribe(String user, String channel) {
    return subscription(Ids.checkUser(user), Ids.checkChannel(channel), false);
  }

  private CompletableFuture<Set<String>> subscription(String user, String channel, boolean add) {
    return userCall(
        user,
        add ? "PUT" : "DELETE",
        "/channels/" + Wire.segment(channel),
        "subscription",
        null,
        (node, body) -> {
          Set<String> channels = new LinkedHashSet<>();
          for (JsonNode c : body.path("channels")) {
            channels.add(c.asText());
          }
          return Collections.unmodifiableSet(channels);
        });
  }

  /**
   * A call to {@code user}'s owner node (presence and subscriptions are idempotent, so the client
   * retries them like publishes), re-routed on {@code 421 not_owner} as a publish's misdirected
   * user is ({@link #redirect}).
   */
  private <T> CompletableFuture<T> userCall(
      String user,
      String method,
      String suffix,
      String kind,
      byte[] body,
      BiFunction<String, JsonNode, T> read) {
    CompletableFuture<T> result = new CompletableFuture<>();
    if (publisher.isClosed()) {
      result.completeExceptionally(
          new NodeRequestException(null, 0, NodeClient.CLOSED, "publisher is closed"));
      return result;
    }
    Call<T> call =
        new Call<>(
            user, method, suffix, kind, body, read, System.nanoTime() + publisher.budgetNanos);
    DualRoute route = "presence".equals(kind) ? null : publisher.dualRoute();
    DualRoute.UserRoute owners = route == null ? null : route.user(user);
    if (owners == null || !owners.moving()) {
      send(call, publisher.ownerNow(user), publisher.settings.maxReroutes(), 0, result, true);
      return result;
    }
    // Dual mode, a moving user: both owners get the call (its connections may be on either side
    // of the cut-over, and the new owner keeps the subscription or the block after it); the
    // answer is the old owner's, or the new owner's when the old one failed (it refuses the user
    // once it has activated the pending map).
    CompletableFuture<T> old = new CompletableFuture<>();
    CompletableFuture<T> next = new CompletableFuture<>();
    send(call, owners.oldOwner(), 0, 0, old, false);
    send(call, owners.newOwner(), 0, 0, next, false);
    old.whenComplete(
        (v1, e1) ->
            next.whenComplete(
                (v2, e2) -> {
                  if (e1 == null) {
                    result.complete(v1);
                  } else if (e2 == null) {
                    result.complete(v2);
                  } else {
                    result.completeExceptionally(e1);
                  }
                }));
    return result;
  }

  /** One owner call: what to send, how to read the answer, and its deadline (System.nanoTime). */
  private record Call<T>(
      String user,
      String method,
      String suffix,
      String kind,
      byte[] body,
      BiFunction<String, JsonNode, T> read,
      long deadlineNanos) {}

  /**
   * Sends {@code call} to {@code node}; a {@code 421 not_owner} is re-routed ({@link #redirect})
   * while {@code reroutesLeft} > 0, else it fails the call.
   */
  private <T> void send(
      Call<T> call,
      NodeInfo node,
      int reroutesLeft,
      int waits,
      CompletableFuture<T> result,
      boolean followPending) {
    URI uri =
        Wire.resolve(node.internalUrl(), "/v1/users/" + Wire.segment(call.user) + call.suffix);
    publisher
        .client
        .send(
            new NodeClient.Call(
                node.id(), call.kind, 1, () -> uri, call.method, call.body, 1, call.deadlineNanos))
        .whenComplete(
            (r, error) -> {
              if (error != null) {
                result.completeExceptionally(error);
              } else if (!r.answered()) {
                result.completeExceptionally(
                    new NodeRequestException(
                        node.id(),
                        r.failure(),
                        call.kind + " call to node " + node.id() + " failed: " + r.failure(),
                        null));
              } else if (r.status() == 200 && r.body() != null) {
                T value;
                try {
                  value = call.read.apply(node.id(), r.body());
                } catch (RuntimeException e) {
                  result.completeExceptionally(
                      new NodeRequestException(node.id(), Wire.BAD_REPLY, e.toString(), e));
                  return;
                }
                int pending = r.body().path("pendingMapVersion").asInt(-1);
                if (followPending && pending > 0 && !"presence".equals(call.kind)) {
                  alsoToNewOwner(call, node.id(), pending, value, result);
                } else {
                  result.complete(value);
                }
              } else {
                String code =
                    r.status() == 200 ? Wire.BAD_REPLY : Wire.errorCode(r.body(), r.status());
                NodeRequestException failure =
                    new NodeRequestException(
                        node.id(),
                        r.status(),
                        code,
                        "node " + node.id() + ": " + Wire.errorMessage(r.body(), r.status()));
                if (r.status() == 421 && reroutesLeft > 0) {
                  int version =
                      r.body() == null ? Integer.MAX_VALUE : r.body().path("mapVersion").asInt(0);
                  redirect(call, node.id(), version, reroutesLeft, waits, failure, result);
                } else {
                  result.completeExceptionally(failure);
                }
              }
            });
  }

  /**
   * {@code refusing} (whose active map has {@code nodeMapVersion}) answered {@code 421 not_owner}:
   * as for a misdirected user of a publish ({@code ClusterPublisher.reroute}), the call goes to the
   * user's owner under a map at least that new; when the publisher's map still names {@code
   * refusing}, in dual mode to the owner under the other map of the two, and when the node named a
   * newer map version than the publisher has, it waits for that map (the map source is asked again
   * with the retry backoff's first two steps) until the call's deadline. Only then, or when the
   * publisher's map is as new as the node's, does the call fail with the node's {@code 421}.
   */
  private <T> void redirect(
      Call<T> call,
      String refusing,
      int nodeMapVersion,
      int reroutesLeft,
      int waits,
      NodeRequestException failure,
      CompletableFuture<T> result) {
    publisher
        .mapAtLeast(nodeMapVersion)
        .whenComplete(
            (m, e) -> {
              if (publisher.isClosed()) {
                result.completeExceptionally(failure);
                return;
              }
              NodeInfo next = publisher.rerouteOwner(call.user, refusing, publisher.mapNow());
              if (!next.id().equals(refusing)) {
                send(call, next, reroutesLeft - 1, waits, result, true);
                return;
              }
              if (nodeMapVersion > publisher.map().version()) {
                Duration delay =
                    publisher.client.retryDelay(Math.min(waits + 1, 2), call.deadlineNanos);
                if (delay != null) {
                  publisher.client.schedule(
                      () ->
                          redirect(
                              call,
                              refusing,
                              nodeMapVersion,
                              reroutesLeft,
                              waits + 1,
                              failure,
                              result),
                      () -> result.completeExceptionally(failure),
                      delay);
                  return;
                }
              }
              result.completeExceptionally(failure); // nowhere else to go
            });
  }

  /**
   * The user's owner {@code answered} holds a pending map (version {@code pending}) this publisher
   * was not in dual mode for when it sent the call: once the pending map is known, a user it moves
   * gets the call on its new owner too (which must hold the subscription or the block after the
   * cut-over), as a dual-mode call would have. The answer stays {@code answered}'s.
   */
  private <T> void alsoToNewOwner(
      Call<T> call, String answered, int pending, T value, CompletableFuture<T> result) {
    publisher
        .pendingNamed(answered, pending)
        .whenComplete(
            (route, e) -> {
              DualRoute.UserRoute owners = route == null ? null : route.user(call.user);
              if (owners == null
                  || !owners.moving()
                  || !owners.oldOwner().id().equals(answered)
                  || publisher.isClosed()) {
                result.complete(value);
                return;
              }
              CompletableFuture<T> next = new CompletableFuture<>();
              send(call, owners.newOwner(), 0, 0, next, false);
              next.whenComplete((v, e2) -> result.complete(value));
            });
  }

  CompletableFuture<UserAccess> disconnect(String user, String reason) {
    ObjectNode body = JsonNodeFactory.instance.objectNode();
    if (reason != null) {
      body.put("reason", checkReason(reason));
    }
    return access(Ids.checkUser(user), "disconnect", bytes(body));
  }

  CompletableFuture<UserAccess> block(String user, Instant until, String reason) {
    Objects.requireNonNull(until, "until");
    ObjectNode body = JsonNodeFactory.instance.objectNode();
    body.put("until", until.toEpochMilli());
    if (reason != null) {
      body.put("reason", checkReason(reason));
    }
    return access(Ids.checkUser(user), "block", bytes(body));
  }

  CompletableFuture<UserAccess> unblock(String user) {
    return access(Ids.checkUser(user), "unblock", null);
  }

  CompletableFuture<UserAccess> revokeToken(String user, String jti, Instant expiresAt) {
    Objects.requireNonNull(jti, "jti");
    if (jti.isEmpty() || jti.length() > 256) {
      throw new IllegalArgumentException("jti must have 1..256 characters: " + jti.length());
    }
    ObjectNode body = JsonNodeFactory.instance.objectNode();
    body.put("jti", jti);
    if (expiresAt != null) {
      body.put("expiresAt", expiresAt.toEpochMilli());
    }
    return access(Ids.checkUser(user), "revoke", bytes(body));
  }

  CompletableFuture<UserAccess> revokeTokensIssuedBefore(String user, Instant before) {
    Objects.requireNonNull(before, "before");
    ObjectNode body = JsonNodeFactory.instance.objectNode();
    body.put("issuedBefore", before.toEpochMilli());
    return access(Ids.checkUser(user), "revoke", bytes(body));
  }

  CompletableFuture<UserAccess> access(String user) {
    return userCall(Ids.checkUser(user), "GET", "/access", "access", null, OwnerCalls::userAccess);
  }

  /**
   * {@code POST /v1/users/{user}/{action}} with a JSON body (disconnect, block, revoke...): retried
   * like the other calls (a repeated block or revocation changes nothing more).
   */
  private CompletableFuture<UserAccess> access(String user, String action, byte[] body) {
    return userCall(user, "POST", "/" + action, "access", body, OwnerCalls::userAccess);
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

  private static String checkReason(String reason) {
    if (reason.isEmpty() || reason.length() > 256) {
      throw new IllegalArgumentException("reason must have 1..256 characters: " + reason.length());
    }
    return reason;
  }

  private static byte[] bytes(ObjectNode body) {
    return body.toString().getBytes(StandardCharsets.UTF_8);
  }
}
