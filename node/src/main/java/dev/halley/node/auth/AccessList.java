package dev.halley.node.auth;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.wire.ErrorCodes;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * The blocks and token revocations of users, held in memory by the node that owns them: "block
 * alice until T", "refuse alice's token with jti X", "refuse alice's tokens issued before T".
 *
 * <pre>{@code
 * AccessList access = new AccessList(100_000);
 * access.block("alice", nowMs + 3_600_000, nowMs);
 * access.revokeJti("bob", "device-7", tokenExpMs, nowMs);
 * AccessList.Refusal r = access.check(principal, nowMs);    // null: admitted
 * }</pre>
 *
 * <p>Bounded: at most {@code maxEntries} entries (a block, an {@code iat} revocation and each
 * revoked {@code jti} count one each); adding one more first forgets the expired ones, then is
 * refused with 507 {@code access_list_full}. Every entry expires by itself: a block at its {@code
 * until}, a revocation at its {@code keepUntil} (when the tokens it matches have expired anyway).
 *
 * <p>Thread-safe: one monitor (this) guards every field; each call is a few hash operations.
 */
public final class AccessList {
  /** Why a token is refused: {@code code} is {@link Codes#USER_BLOCKED} or token_revoked. */
  public record Refusal(String code, long untilMs, String reason) {
    public HttpError toHttpError() {
      if (code.equals(ErrorCodes.USER_BLOCKED)) {
        ObjectNode extra = Json.MAPPER.createObjectNode();
        extra.put("until", untilMs);
        return new HttpError(
            403,
            ErrorCodes.USER_BLOCKED,
            "the user is blocked until " + java.time.Instant.ofEpochMilli(untilMs),
            extra);
      }
      return new HttpError(401, ErrorCodes.TOKEN_REVOKED, "the token was revoked");
    }
  }

  private static final class UserAccess {
    long blockedUntilMs; // 0: not blocked
    String blockReason;
    long revokedBeforeMs = Long.MIN_VALUE; // tokens with iat before it are refused
    long revokedBeforeKeepUntilMs;
    final Map<String, Long> jtis = new HashMap<>(2); // jti -> keep until

    int entries() {
      return (blockedUntilMs != 0 ? 1 : 0)
          + (revokedBeforeMs != Long.MIN_VALUE ? 1 : 0)
          + jtis.size();
    }

    /** Forgets what has expired at {@code now}. */
    void expire(long now) {
      if (blockedUntilMs != 0 && blockedUntilMs <= now) {
        blockedUntilMs = 0;
        blockReason = null;
      }
      if (revokedBeforeMs != Long.MIN_VALUE && revokedBeforeKeepUntilMs <= now) {
        revokedBeforeMs = Long.MIN_VALUE;
      }
      jtis.values().removeIf(keep -> keep <= now);
    }
  }

  private final int maxEntries;
  private final Map<String, UserAccess> users = new HashMap<>();
  private int entries;

  public AccessList(int maxEntries) {
    if (maxEntries <= 0) {
      throw new IllegalArgumentException("accessMaxEntries must be > 0: " + maxEntries);
    }
    this.maxEntries = maxEntries;
  }

  /** Refuses {@code user}'s connections until {@code untilMs} (replacing an earlier block). */
  public synchronized void block(String user, long untilMs, String reason, long nowMs) {
    UserAccess a = expired(user, nowMs);
    if (a == null || a.blockedUntilMs == 0) {
      a = room(user, nowMs);
      entries++;
    }
    a.blockedUntilMs = untilMs;
    a.blockReason = reason;
  }

  /** Lifts a block; true if there was one. */
  public synchronized boolean unblock(String user, long nowMs) {
    UserAccess a = expired(user, nowMs);
    if (a == null || a.blockedUntilMs == 0) {
      return false;
    }
    a.blockedUntilMs = 0;
    a.blockReason = null;
    entries--;
    forgetIfEmpty(user, a);
    return true;
  }

  /** Refuses {@code user}'s tokens whose {@code jti} is {@code jti}, until {@code keepUntilMs}. */
  public synchronized void revokeJti(String user, String jti, long keepUntilMs, long nowMs) {
    UserAccess a = expired(user, nowMs);
    Long old = a == null ? null : a.jtis.get(jti);
    if (old == null) {
      a = room(user, nowMs);
      entries++;
    }
    a.jtis.put(jti, old == null ? keepUntilMs : Math.max(old, keepUntilMs));
  }

  /**
   * Refuses {@code user}'s tokens with {@code iat} before {@code beforeMs} (and tokens without
   * {@code iat}), until {@code keepUntilMs}. A later call with an earlier instant keeps the later.
   */
  public synchronized void revokeIssuedBefore(
      String user, long beforeMs, long keepUntilMs, long nowMs) {
    UserAccess a = expired(user, nowMs);
    if (a == null || a.revokedBeforeMs == Long.MIN_VALUE) {
      a = room(user, nowMs);
      entries++;
      a.revokedBeforeMs = beforeMs;
      a.revokedBeforeKeepUntilMs = keepUntilMs;
    } else {
      a.revokedBeforeMs = Math.max(a.revokedBeforeMs, beforeMs);
      a.revokedBeforeKeepUntilMs = Math.max(a.revokedBeforeKeepUntilMs, keepUntilMs);
    }
  }

  /** Null when {@code p} may connect at {@code nowMs}, else why not (a block wins). */
  public synchronized Refusal check(TokenVerifier.Principal p, long nowMs) {
    if (users.isEmpty()) {
      return null;
    }
    UserAccess a = users.get(p.user());
    if (a == null) {
      return null;
    }
    if (a.blockedUntilMs > nowMs) {
      return new Refusal(ErrorCodes.USER_BLOCKED, a.blockedUntilMs, a.blockReason);
    }
    if (p.jti() != null) {
      Long keep = a.jtis.get(p.jti());
      if (keep != null && keep > nowMs) {
        return new Refusal(ErrorCodes.TOKEN_REVOKED, 0, null);
      }
    }
    if (a.revokedBeforeMs != Long.MIN_VALUE
        && a.revokedBeforeKeepUntilMs > nowMs
        && p.issuedAtMs() < a.revokedBeforeMs) {
      return new Refusal(ErrorCodes.TOKEN_REVOKED, 0, null);
    }
    return null;
  }

  /** {@code user}'s access state: {@code blockedUntil}, {@code revokedBefore}, {@code jtis}. */
  public synchronized ObjectNode describe(String user, long nowMs) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("user", user);
    UserAccess a = expired(user, nowMs);
    if (a != null && a.blockedUntilMs != 0) {
      o.put("blockedUntil", a.blockedUntilMs);
    } else {
      o.putNull("blockedUntil");
    }
    if (a != null && a.revokedBeforeMs != Long.MIN_VALUE) {
      o.put("revokedBefore", a.revokedBeforeMs);
    } else {
      o.putNull("revokedBefore");
    }
    var jtis = o.putArray("revokedJtis");
    if (a != null) {
      a.jtis.keySet().stream().sorted().forEach(jtis::add);
    }
    return o;
  }

  /**
   * Issue 14, on the old owner at activation: {@code user}'s entries as a {@link CarriedState} for
   * the map version {@code mapVersion}, with {@code channels} (its API subscriptions), expiring at
   * {@code expiresAtMs}; {@link CarriedState#over} (nothing listed) beyond {@code maxEntries}. Null
   * when there is nothing to carry.
   */
  public synchronized CarriedState carry(
      String user,
      java.util.Collection<String> channels,
      int mapVersion,
      long expiresAtMs,
      int maxEntries,
      long nowMs) {
    UserAccess a = expired(user, nowMs);
    int n = channels.size() + (a == null ? 0 : a.entries());
    if (n == 0) {
      return null;
    }
    if (n > maxEntries) {
      return new CarriedState(
          user,
          mapVersion,
          expiresAtMs,
          true,
          java.util.List.of(),
          0,
          null,
          Long.MIN_VALUE,
          0,
          Map.of());
    }
    return new CarriedState(
        user,
        mapVersion,
        expiresAtMs,
        false,
        new java.util.ArrayList<>(channels),
        a == null ? 0 : a.blockedUntilMs,
        a == null ? null : a.blockReason,
        a == null ? Long.MIN_VALUE : a.revokedBeforeMs,
        a == null ? 0 : a.revokedBeforeKeepUntilMs,
        a == null ? Map.of() : new HashMap<>(a.jtis));
  }

  /**
   * Issue 14, on the new owner at a handoff resume: merges the access entries of a verified carried
   * state. Revocations only add (there is no un-revoke): each carried one is added, the later
   * instant and keep-until kept. The block is applied only when this node holds no block of the
   * user and {@code unblockedHere} is false (an unblock recorded here wins over older carried
   * state). Expired entries are skipped; a full list is 507 as for the API calls.
   */
  public synchronized void merge(CarriedState s, boolean unblockedHere, long nowMs) {
    if (s.blockedUntilMs() > nowMs && !unblockedHere) {
      UserAccess a = expired(s.user(), nowMs);
      if (a == null || a.blockedUntilMs == 0) {
        block(s.user(), s.blockedUntilMs(), s.blockReason(), nowMs);
      }
    }
    if (s.revokedBeforeMs() != Long.MIN_VALUE && s.revokedBeforeKeepUntilMs() > nowMs) {
      revokeIssuedBefore(s.user(), s.revokedBeforeMs(), s.revokedBeforeKeepUntilMs(), nowMs);
    }
    for (var e : s.jtis().entrySet()) {
      if (e.getValue() > nowMs) {
        revokeJti(s.user(), e.getKey(), e.getValue(), nowMs);
      }
    }
  }

  /** Forgets every expired entry; returns how many entries remain. */
  public synchronized int sweep(long nowMs) {
    for (Iterator<Map.Entry<String, UserAccess>> it = users.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<String, UserAccess> e = it.next();
      int before = e.getValue().entries();
      e.getValue().expire(nowMs);
      int after = e.getValue().entries();
      entries -= before - after;
      if (after == 0) {
        it.remove();
      }
    }
    return entries;
  }

  /** Entries held (expired ones included until the next sweep). */
  public synchronized int size() {
    return entries;
  }

  public int maxEntries() {
    return maxEntries;
  }

  /** {@code user}'s state with its expired entries forgotten, or null if none. */
  private UserAccess expired(String user, long nowMs) {
    UserAccess a = users.get(user);
    if (a == null) {
      return null;
    }
    int before = a.entries();
    a.expire(nowMs);
    entries -= before - a.entries();
    return a;
  }

  /**
   * {@code user}'s state, created if needed, once there is room for one more entry (the caller
   * counts it): the expired entries of everyone are forgotten first if the list is full.
   *
   * @throws HttpError 507 {@code access_list_full}
   */
  private UserAccess room(String user, long nowMs) {
    if (entries >= maxEntries) {
      sweep(nowMs);
    }
    if (entries >= maxEntries) {
      throw new HttpError(
          507,
          ErrorCodes.ACCESS_LIST_FULL,
          "the access list holds accessMaxEntries = "
              + maxEntries
              + " entries; wait for some to expire or raise the limit");
    }
    return users.computeIfAbsent(user, u -> new UserAccess());
  }

  private void forgetIfEmpty(String user, UserAccess a) {
    if (a.entries() == 0) {
      users.remove(user);
    }
  }

  @Override
  public synchronized String toString() {
    return "AccessList{" + entries + " of " + maxEntries + " entries}";
  }
}
