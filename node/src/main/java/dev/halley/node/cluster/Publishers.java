package dev.halley.node.cluster;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The publishers this node has seen (issue 14): each request of the app tier may carry {@code
 * Halley-Publisher: <id>} and {@code Halley-Map-Versions: 3,4} (the map versions it publishes with,
 * active first); {@code GET /v1/admin/map/state} lists those seen within {@code
 * publisherSeenWindowMs}, so an operator (or {@code halley reshard}) can wait until every publisher
 * publishes with the pending map before activating it.
 *
 * <p>Bounded: at most {@code maxTrackedPublishers} IDs; a new one beyond it replaces the least
 * recently seen. Thread-safe (a {@link ConcurrentHashMap} of immutable entries); the bound is
 * enforced best-effort under concurrent inserts (it may be passed by the number of inserting
 * threads for an instant, never grows beyond).
 */
public final class Publishers {
  /** Header naming the publisher. */
  public static final String HEADER_PUBLISHER = "Halley-Publisher";

  /** Header listing the map versions the publisher publishes with. */
  public static final String HEADER_MAP_VERSIONS = "Halley-Map-Versions";

  /** Longest publisher ID, characters. */
  public static final int MAX_ID_LENGTH = 128;

  /** Longest {@code Halley-Map-Versions} header, characters. */
  public static final int MAX_VERSIONS_LENGTH = 64;

  private static final Pattern ID = Pattern.compile("[A-Za-z0-9_.:@-]{1," + MAX_ID_LENGTH + "}");

  /** One publisher: the versions it last declared (empty: none), when it was last seen. */
  public record Seen(String id, int[] versions, long lastSeenMs) {}

  /**
   * Contract change 5: the pending version this node watches ({@link #pendingInstalled}) and
   * whether a request declaring only it ({@code Halley-Map-Versions: P}: a publisher that left dual
   * mode) has reached this node since. One atomic reference: a record is visible to every handoff
   * decided after it.
   */
  private record Dual(int version, boolean left) {}

  private static final Dual NONE = new Dual(-1, true);

  private final java.util.concurrent.atomic.AtomicReference<Dual> dual =
      new java.util.concurrent.atomic.AtomicReference<>(NONE);

  private final ConcurrentHashMap<String, Seen> seen = new ConcurrentHashMap<>();
  private final long windowMs;
  private final int max;
  private final Clock clock;

  public Publishers(long windowMs, int max, Clock clock) {
    this.windowMs = windowMs;
    this.max = max;
    this.clock = clock;
  }

  /**
   * Checks the two headers' values (either may be null: absent) and records the publisher. Returns
   * the declared versions (empty when absent).
   *
   * @throws HttpError 400 {@code bad_request} for a malformed or too long value
   */
  public int[] record(String id, String versions) {
    int[] v = parseVersions(versions);
    if (v.length == 1) {
      Dual d = dual.get();
      while (!d.left()
          && d.version() == v[0]
          && !dual.compareAndSet(d, new Dual(d.version(), true))) {
        d = dual.get();
      }
    }
    if (id == null) {
      return v;
    }
    if (!ID.matcher(id).matches()) {
      throw HttpError.badRequest(
          HEADER_PUBLISHER + " must be 1.." + MAX_ID_LENGTH + " characters from [A-Za-z0-9_.:@-]");
    }
    long now = clock.millis();
    if (seen.put(id, new Seen(id, v, now)) == null && seen.size() > max) {
      evictOldest();
    }
    return v;
  }

  /**
   * A pending map of {@code version} was installed on this node ({@code -1}: removed): no publisher
   * is known to have left dual mode for it yet. The same version again changes nothing.
   */
  public void pendingInstalled(int version) {
    if (version < 0) {
      dual.set(NONE);
      return;
    }
    Dual d = dual.get();
    while (d.version() != version && !dual.compareAndSet(d, new Dual(version, false))) {
      d = dual.get();
    }
  }

  /**
   * Whether this node installed the pending map of {@code version} and no request declaring only
   * {@code version} has reached it since (every publisher it saw is still dual, or has not left
   * dual mode yet).
   */
  public boolean stillDual(int version) {
    Dual d = dual.get();
    return d.version() == version && !d.left();
  }

  /** Parses {@code 3,4}: 1..4 positive integers; null or empty is none. */
  public static int[] parseVersions(String s) {
    if (s == null || s.isEmpty()) {
      return new int[0];
    }
    if (s.length() > MAX_VERSIONS_LENGTH) {
      throw HttpError.badRequest(
          HEADER_MAP_VERSIONS + " is longer than " + MAX_VERSIONS_LENGTH + " characters");
    }
    String[] parts = s.split(",", -1);
    if (parts.length > 4) {
      throw HttpError.badRequest(HEADER_MAP_VERSIONS + " lists at most 4 versions: " + s);
    }
    int[] out = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      String p = parts[i].trim();
      try {
        if (p.isEmpty() || !p.chars().allMatch(Character::isDigit)) {
          throw new NumberFormatException();
        }
        out[i] = Integer.parseInt(p);
      } catch (NumberFormatException e) {
        throw HttpError.badRequest(
            HEADER_MAP_VERSIONS + " must be map versions separated by commas (\"3,4\"): " + s);
      }
    }
    return out;
  }

  private void evictOldest() {
    while (seen.size() > max) {
      Seen oldest = null;
      for (Seen s : seen.values()) {
        if (oldest == null || s.lastSeenMs() < oldest.lastSeenMs()) {
          oldest = s;
        }
      }
      if (oldest == null || !seen.remove(oldest.id(), oldest)) {
        return;
      }
    }
  }

  /** The publishers seen within the window, most recent first. */
  public List<Seen> recent() {
    long from = clock.millis() - windowMs;
    List<Seen> out = new ArrayList<>();
    for (Map.Entry<String, Seen> e : seen.entrySet()) {
      if (e.getValue().lastSeenMs() >= from) {
        out.add(e.getValue());
      } else {
        seen.remove(e.getKey(), e.getValue());
      }
    }
    out.sort(Comparator.comparingLong(Seen::lastSeenMs).reversed().thenComparing(Seen::id));
    return out;
  }

  /** {@link #recent()} as the {@code publishers} array of the state endpoint. */
  public ArrayNode toJson() {
    ArrayNode a = Json.MAPPER.createArrayNode();
    for (Seen s : recent()) {
      ObjectNode o = a.addObject();
      o.put("id", s.id());
      ArrayNode v = o.putArray("versions");
      Arrays.stream(s.versions()).forEach(v::add);
      o.put("lastSeenMs", s.lastSeenMs());
    }
    return a;
  }
}
