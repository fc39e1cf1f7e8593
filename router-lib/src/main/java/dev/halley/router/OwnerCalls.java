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
   * retries them like publishes), re-routed once per newer map on {@code 421 not_owner}.
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
    DualRoute route = "presence".equals(kind) ? null : publisher.dualRoute();
    DualRoute.UserRoute owners = route == null ? null : route.user(user);
    if (owners == null || !owners.moving()) {
      userCall(
          user, null, method, suffix, kind, body, read, publisher.settings.maxReroutes(), result);
      return result;
    }
    // Dual mode, a moving user: both owners get the call (its connections may be on either side
    // of the cut-over); the answer is the old owner's, or the new owner's when the old one failed.
    CompletableFuture<T> old = new CompletableFuture<>();
    CompletableFuture<T> next = new CompletableFuture<>();
    userCall(user, owners.oldOwner(), method, suffix, kind, body, read, 0, old);
    userCall(user, owners.newOwner(), method, suffix, kind, body, read, 0, next);
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

  private <T> void userCall(
      String user,
      NodeInfo fixed,
      String method,
      String suffix,
      String kind,
      byte[] body,
      BiFunction<String, JsonNode, T> read,
      int reroutesLeft,
      CompletableFuture<T> result) {
    NodeInfo node = fixed != null ? fixed : publisher.ownerNow(user);
    URI uri = Wire.resolve(node.internalUrl(), "/v1/users/" + Wire.segment(user) + suffix);
    publisher
        .client
        .send(
            new NodeClient.Call(
                node.id(),
                kind,
                1,
                () -> uri,
                method,
                body,
                1,
                System.nanoTime() + publisher.budgetNanos))
        .whenComplete(
            (r, error) -> {
              if (error != null) {
                result.completeExceptionally(error);
              } else if (!r.answered()) {
                result.completeExceptionally(
                    new NodeRequestException(
                        node.id(),
                        r.failure(),
                        kind + " call to node " + node.id() + " failed: " + r.failure(),
                        null));
              } else if (r.status() == 200 && r.body() != null) {
                try {
                  result.complete(read.apply(node.id(), r.body()));
                } catch (RuntimeException e) {
                  result.completeExceptionally(
                      new NodeRequestException(node.id(), Wire.BAD_REPLY, e.toString(), e));
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
                  publisher
                      .mapAtLeast(version)
                      .whenComplete(
                          (m, e) -> {
                            if (publisher.ownerNow(user).id().equals(node.id())) {
                              result.completeExceptionally(failure); // nowhere else to go
                            } else {
                              userCall(
                                  user,
                                  null,
                                  method,
                                  suffix,
                                  kind,
                                  body,
                                  read,
                                  reroutesLeft - 1,
                                  result);
                            }
                          });
                } else {
                  result.completeExceptionally(failure);
                }
              }
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
