package dev.halley.node.cluster;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The new owner's record of the owner calls that a carried state (issue 14, {@link
 * dev.halley.node.auth.CarriedState}) must not undo: the unsubscriptions ({@code DELETE
 * /v1/users/{user}/channels/{channel}}) and unblocks made on this node within the last {@code
 * ttlMs} ({@code handoffRetentionMs + handoffWaitMs}, the longest a carried state lives). A carried
 * channel this node unsubscribed the user from, or a carried block of a user it unblocked, is not
 * applied (docs/protocol.md "Carried state").
 *
 * <pre>{@code
 * record.unsubscribed("alice", "room:1", now);
 * record.unsubscribedHere("alice", "room:1", now);   // true for ttlMs
 * }</pre>
 *
 * <p>Bounded: at most {@code maxEntries} records ({@code accessMaxEntries}); when full and none has
 * expired, the record {@link #overflowed} for {@code ttlMs}, and every carried state merged
 * meanwhile ends in an honest {@code reset} instead of possibly undoing a call. Thread-safe (this).
 */
public final class CarryRecord {
  private static final char SEP = '\u0000';
  private static final String UNBLOCK = "";

  private final long ttlMs;
  private final int maxEntries;
  // user SEP channel (or user SEP "" for an unblock) -> when, in insertion (time) order.
  private final LinkedHashMap<String, Long> calls = new LinkedHashMap<>();
  private long overflowUntilMs = Long.MIN_VALUE;

  public CarryRecord(long ttlMs, int maxEntries) {
    this.ttlMs = ttlMs;
    this.maxEntries = maxEntries;
  }

  public synchronized void unsubscribed(String user, String channel, long nowMs) {
    put(user + SEP + channel, nowMs);
  }

  public synchronized void unblocked(String user, long nowMs) {
    put(user + SEP + UNBLOCK, nowMs);
  }

  public synchronized boolean unsubscribedHere(String user, String channel, long nowMs) {
    return recent(user + SEP + channel, nowMs);
  }

  public synchronized boolean unblockedHere(String user, long nowMs) {
    return recent(user + SEP + UNBLOCK, nowMs);
  }

  /** Whether a call could not be recorded within the last {@code ttlMs}. */
  public synchronized boolean overflowed(long nowMs) {
    return overflowUntilMs > nowMs;
  }

  public synchronized int size() {
    return calls.size();
  }

  private boolean recent(String key, long nowMs) {
    Long at = calls.get(key);
    return at != null && at + ttlMs > nowMs;
  }

  private void put(String key, long nowMs) {
    expire(nowMs);
    calls.remove(key);
    if (calls.size() >= maxEntries) {
      overflowUntilMs = nowMs + ttlMs;
      return;
    }
    calls.put(key, nowMs);
  }

  private void expire(long nowMs) {
    for (Iterator<Map.Entry<String, Long>> it = calls.entrySet().iterator(); it.hasNext(); ) {
      if (it.next().getValue() + ttlMs > nowMs) {
        return;
      }
      it.remove();
    }
  }

  @Override
  public synchronized String toString() {
    return "CarryRecord{" + calls.size() + " of " + maxEntries + "}";
  }
}
