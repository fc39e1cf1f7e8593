package dev.halley.node.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.auth.AccessList;
import dev.halley.node.auth.TokenVerifier;
import dev.halley.node.stream.Connection;
import dev.halley.node.stream.UserStream;
import dev.halley.node.wire.CloseCodes;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.EventTypes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Disconnect, block and revoke (docs/protocol.md, "Access"): refuses blocked users and revoked
 * tokens at connect, and ends the live connections they concern with a {@code disconnect} event
 * (WebSocket close 4030 {@code disconnected}, 4031 {@code user_blocked}, 4032 {@code
 * token_revoked}).
 *
 * <pre>{@code
 * access.admit(principal);                 // at connect: 403 user_blocked / 401 token_revoked
 * access.opened(connection, principal);    // after the connection is registered on its stream
 * access.block("alice", untilMs, "spam");  // refuses alice, ends her connections
 * }</pre>
 *
 * <p>Only the node that owns a user holds its entries (router-lib sends them there). A connection
 * that is admitted while a block or revocation is being recorded is caught either way: the entry is
 * recorded before the stream's connections are walked, and {@link #opened} checks again after the
 * connection is on its stream.
 *
 * <p>Thread-safe: the entries are the {@link AccessList}'s (its own lock); each live connection
 * carries its token's principal ({@link Connection#principal}, set by {@link #opened}), found
 * through its user's stream; {@link #live} counts them (one close hook shared by all, so a
 * connection costs no map entry here, issue 12).
 */
public final class AccessControl {
  private static final Logger log = LoggerFactory.getLogger(AccessControl.class);

  private final NodeCore node;
  private final AccessList list;
  private final long revocationTtlMs;
  private final AtomicInteger live = new AtomicInteger();
  private final Runnable closed = live::decrementAndGet;

  AccessControl(NodeCore node) {
    this.node = node;
    this.list = node.accessList;
    this.revocationTtlMs = node.config.revocationTtlMs();
  }

  public AccessList list() {
    return list;
  }

  /**
   * At connect, after the token is verified.
   *
   * @throws HttpError 403 {@code user_blocked} (with {@code until}) or 401 {@code token_revoked}
   */
  public void admit(TokenVerifier.Principal p) {
    AccessList.Refusal r = list.check(p, node.clock.millis());
    if (r != null) {
      throw r.toHttpError();
    }
  }

  /** Tracks a connection registered on its stream; ends it at once if it was refused meanwhile. */
  public void opened(Connection c, TokenVerifier.Principal p) {
    c.principal(p);
    live.incrementAndGet();
    c.addCloseHook(closed);
    AccessList.Refusal r = list.check(p, node.clock.millis());
    if (r != null) {
      end(c, r.code(), r.untilMs(), r.reason());
    }
  }

  /** Ends every live connection of {@code user} with {@code disconnect}; returns how many. */
  public int disconnect(String user, String reason) {
    return endWhere(user, ErrorCodes.DISCONNECTED, 0, reason, p -> true);
  }

  /** Blocks {@code user} until {@code untilMs} and ends their connections; returns how many. */
  public int block(String user, long untilMs, String reason) {
    list.block(user, untilMs, reason, node.clock.millis());
    log.info("event=user_blocked node={} user={} until={}", node.nodeId, user, untilMs);
    return endWhere(user, ErrorCodes.USER_BLOCKED, untilMs, reason, p -> true);
  }

  public boolean unblock(String user) {
    node.carryRecord.unblocked(user, node.clock.millis());
    return list.unblock(user, node.clock.millis());
  }

  /** Revokes {@code user}'s token {@code jti}; ends the connections using it; returns how many. */
  public int revokeJti(String user, String jti, Long keepUntilMs) {
    long now = node.clock.millis();
    list.revokeJti(user, jti, keepUntilMs != null ? keepUntilMs : now + revocationTtlMs, now);
    log.info("event=token_revoked node={} user={} jti={}", node.nodeId, user, jti);
    return endWhere(user, ErrorCodes.TOKEN_REVOKED, 0, null, p -> jti.equals(p.jti()));
  }

  /**
   * Revokes {@code user}'s tokens issued before {@code beforeMs}; ends the connections using them.
   */
  public int revokeIssuedBefore(String user, long beforeMs, Long keepUntilMs) {
    long now = node.clock.millis();
    long keep = keepUntilMs != null ? keepUntilMs : saturatedAdd(beforeMs, revocationTtlMs);
    list.revokeIssuedBefore(user, beforeMs, keep, now);
    log.info("event=tokens_revoked node={} user={} issuedBefore={}", node.nodeId, user, beforeMs);
    return endWhere(user, ErrorCodes.TOKEN_REVOKED, 0, null, p -> p.issuedAtMs() < beforeMs);
  }

  /** {@code user}'s entries. */
  public ObjectNode describe(String user) {
    return list.describe(user, node.clock.millis());
  }

  /** Housekeeping: forgets expired entries. */
  public void sweep() {
    list.sweep(node.clock.millis());
  }

  private int endWhere(
      String user, String code, long untilMs, String reason, Predicate<TokenVerifier.Principal> p) {
    UserStream s = node.streams.get(user);
    if (s == null) {
      return 0;
    }
    int n = 0;
    for (Connection c : s.connections()) {
      TokenVerifier.Principal principal = (TokenVerifier.Principal) c.principal();
      // Not yet tracked: opened() checks the list again once it is.
      if (principal != null && p.test(principal)) {
        end(c, code, untilMs, reason);
        n++;
      }
    }
    return n;
  }

  private void end(Connection c, String code, long untilMs, String reason) {
    ObjectNode e = Json.MAPPER.createObjectNode();
    e.put("type", EventTypes.DISCONNECT);
    e.put("code", code);
    if (untilMs != 0) {
      e.put("until", untilMs);
    }
    if (reason != null) {
      e.put("reason", reason);
    }
    int close =
        switch (code) {
          case ErrorCodes.USER_BLOCKED -> CloseCodes.USER_BLOCKED;
          case ErrorCodes.TOKEN_REVOKED -> CloseCodes.TOKEN_REVOKED;
          default -> CloseCodes.DISCONNECTED;
        };
    c.finish(
        EventTypes.DISCONNECT,
        Json.bytes(e),
        close,
        code,
        node.config.operations().finishGraceMs());
  }

  /**
   * Applies one entry {@code {"user", "action": "block"|"revoke", ...}} as the API bodies describe
   * it (docs/protocol.md, "Access"); the file form and the API share it. Returns connections ended.
   *
   * @throws HttpError 400 naming the bad field
   */
  public int apply(String user, String action, JsonNode body) {
    if (body == null || body.isNull() || body.isMissingNode()) {
      body = Json.MAPPER.createObjectNode();
    }
    if (!body.isObject()) {
      throw HttpError.invalidField("the body must be a JSON object");
    }
    String reason = text(body, "reason", 256);
    long now = node.clock.millis();
    switch (action) {
      case "disconnect" -> {
        only(body, action, "reason");
        return disconnect(user, reason);
      }
      case "block" -> {
        only(body, action, "reason", "until");
        Long until = millis(body, "until");
        if (until == null || until <= now) {
          throw HttpError.invalidField("until (epoch milliseconds, after now) is required");
        }
        return block(user, until, reason);
      }
      case "unblock" -> {
        only(body, action);
        unblock(user);
        return 0;
      }
      case "revoke" -> {
        only(body, action, "jti", "issuedBefore", "expiresAt");
        String jti = text(body, "jti", 256);
        Long before = millis(body, "issuedBefore");
        Long expiresAt = millis(body, "expiresAt");
        if ((jti == null) == (before == null)) {
          throw HttpError.invalidField("give exactly one of jti and issuedBefore");
        }
        if (expiresAt != null && expiresAt <= now) {
          throw HttpError.invalidField("expiresAt must be after now: " + expiresAt);
        }
        return jti != null
            ? revokeJti(user, jti, expiresAt)
            : revokeIssuedBefore(user, before, expiresAt);
      }
      default -> throw new HttpError(404, ErrorCodes.NOT_FOUND, "no such access action: " + action);
    }
  }

  /**
   * Loads {@code accessFile}: {@code {"entries": [{"user", "action": "block"|"revoke", ...}]}}.
   * Entries already expired are skipped.
   *
   * @throws IllegalArgumentException naming the file and the bad entry
   */
  public int load(Path file) {
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(Files.readAllBytes(file));
    } catch (IOException e) {
      throw new IllegalArgumentException("accessFile: cannot read " + file + ": " + e.getMessage());
    }
    JsonNode entries = root == null ? null : root.get("entries");
    if (entries == null || !entries.isArray()) {
      throw new IllegalArgumentException("accessFile: " + file + " must be {\"entries\": [...]}");
    }
    int loaded = 0;
    long now = node.clock.millis();
    for (int i = 0; i < entries.size(); i++) {
      JsonNode e = entries.get(i);
      try {
        String user = e.path("user").asText("");
        if (!dev.halley.node.wire.Ids.isUserId(user)) {
          throw HttpError.invalidField("user must be a user ID");
        }
        String action = e.path("action").asText("");
        if (!action.equals("block") && !action.equals("revoke")) {
          throw HttpError.invalidField("action must be block or revoke");
        }
        ObjectNode body = ((ObjectNode) e).deepCopy();
        body.remove("user");
        body.remove("action");
        Long until = body.has("until") ? body.get("until").asLong() : null;
        Long expiresAt = body.has("expiresAt") ? body.get("expiresAt").asLong() : null;
        if ((until != null && until <= now) || (expiresAt != null && expiresAt <= now)) {
          continue; // expired while the node was down
        }
        apply(user, action, body);
        loaded++;
      } catch (HttpError | ClassCastException ex) {
        throw new IllegalArgumentException(
            "accessFile: " + file + " entries[" + i + "]: " + ex.getMessage());
      }
    }
    log.info("event=access_loaded node={} file={} entries={}", node.nodeId, file, loaded);
    return loaded;
  }

  private static void only(JsonNode body, String action, String... allowed) {
    Set<String> ok = Set.of(allowed);
    for (var it = body.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!ok.contains(f)) {
        throw new HttpError(400, ErrorCodes.UNKNOWN_FIELD, f + " is not a field of " + action);
      }
    }
  }

  private static String text(JsonNode body, String field, int max) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isTextual() || v.asText().isEmpty() || v.asText().length() > max) {
      throw HttpError.invalidField(field + " must be a string of 1.." + max + " characters");
    }
    return v.asText();
  }

  private static Long millis(JsonNode body, String field) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
      throw HttpError.invalidField(field + " must be epoch milliseconds (an integer >= 0)");
    }
    return v.asLong();
  }

  private static long saturatedAdd(long a, long b) {
    long r = a + b;
    return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
  }

  @Override
  public String toString() {
    return "AccessControl{" + list + ", " + live.get() + " live}";
  }
}
