package dev.halley.node.publish;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.wire.Json;
import java.time.Clock;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Remembers publish idempotency keys for a window (milliseconds) and at most {@code maxKeys} of
 * them (oldest forgotten first), with the first outcome of each. Thread-safe.
 */
public final class Idempotency {
  /** The outcome of a key whose first publish is still running. */
  public static final ObjectNode IN_FLIGHT = Json.MAPPER.createObjectNode();

  private record Entry(long atMs, ObjectNode result) {}

  private final LinkedHashMap<String, Entry> keys = new LinkedHashMap<>();
  private final long windowMs;
  private final int maxKeys;
  private final Clock clock;

  public Idempotency(long windowMs, int maxKeys, Clock clock) {
    this.windowMs = windowMs;
    this.maxKeys = maxKeys;
    this.clock = clock;
  }

  /**
   * Reserves {@code key}: returns null if it is new (the caller publishes, then calls {@link
   * #complete}), else the first outcome ({@link #IN_FLIGHT} while that publish runs).
   */
  public synchronized ObjectNode reserve(String key) {
    long now = clock.millis();
    for (Iterator<Map.Entry<String, Entry>> it = keys.entrySet().iterator(); it.hasNext(); ) {
      Entry e = it.next().getValue();
      if (e.atMs() + windowMs > now && keys.size() <= maxKeys) {
        break;
      }
      it.remove();
    }
    Entry e = keys.get(key);
    if (e != null) {
      return e.result() == null ? IN_FLIGHT : e.result();
    }
    keys.put(key, new Entry(now, null));
    if (keys.size() > maxKeys) {
      Iterator<String> it = keys.keySet().iterator();
      it.next();
      it.remove();
    }
    return null;
  }

  public synchronized void complete(String key, ObjectNode result) {
    Entry e = keys.get(key);
    if (e != null && e.result() == null) {
      keys.put(key, new Entry(e.atMs(), result));
    }
  }

  public synchronized int size() {
    return keys.size();
  }
}
