package dev.halley.node.stream;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The handoff resume of lossless resharding (issue 14, docs/protocol.md "Handoff resume"): one pure
 * decision, {@link #decide}, whether a client arriving from the old owner of its user with its last
 * event ID {@code X} (an ID of the old owner) and the opaque {@code handoff} string of the old
 * owner's {@code moved} event is covered by what this node (the new owner) holds, must wait for
 * relays still in flight, or gets a {@code reset}.
 *
 * <pre>{@code
 * Handoff.Token t = Handoff.Token.parse(query);          // null for a malformed string
 * Handoff.Decision d = Handoff.decide(x, t, positions, now >= deadline);
 * if (d.outcome() == Handoff.Outcome.COVERED) ... deliver the events whose old seq > d.skipThrough()
 * }</pre>
 *
 * <p>Pure and thread-confined: no clocks, no I/O; {@link Positions} is mutable and guarded by its
 * owner (the user stream's lock). Reused by the fleet simulation (bench/).
 */
public final class Handoff {
  private Handoff() {}

  /** The old position of an event relayed with {@code null}: the old owner's outcome is unknown. */
  public static final Object UNKNOWN_POSITION = new Object();

  /**
   * One handoff resume as a user stream evaluates it: the client's last event ID (of the old owner)
   * and its handoff (or null); {@link UserStream} writes the {@link #decision} it took. Confined to
   * one connect attempt.
   */
  public static final class Resume {
    public final String epoch;
    public final long x;
    public final Token token;
    public final boolean waitExpired;

    /**
     * Rule 3 (no handoff) is only for a late client: relays must have been quiet this long ({@code
     * handoffWaitMs}), else a relay still in flight could repeat an event; 0: no check.
     */
    public final long quietMs;

    /**
     * The client brings a {@code handoff} to a node that has not activated the pending map yet: its
     * old owner activated first (against the documented order), so a channel message published
     * since then that was not relayed (from a publisher not in dual mode) reached neither owner for
     * it: this one takes plain channel messages into a pre-stream only after its own activation.
     * Never covered: {@code reset} {@code gap}.
     */
    public final boolean oldOwnerActivatedFirst;

    /**
     * Contract change 5's second input, read by the stream under its lock after it has indexed the
     * connecting token's channels: whether no request declaring only the pending version has
     * reached this node since the pending map was installed. A channel message that such a
     * publisher sends is recorded before it is fanned out, so either the stream sees the record
     * here, or the message sees the stream subscribed (and reaches the new connection live).
     */
    public final java.util.function.BooleanSupplier publishersDual;

    public Decision decision;

    /**
     * Issue 14: the state the old owner carried could not be applied (expired, made for another map
     * version, over {@code handoffCarryMaxEntries}, or the new owner's record of calls overflowed):
     * never covered, {@code reset} {@code gap} (rule {@code "carry"}), as API subscriptions may be
     * missing.
     */
    public boolean carryRefused;

    /**
     * Whether {@link #nowNanos} and {@link #waitUntilNanos} are set (a connect held by {@code
     * HandoffWait}); without them a {@link Outcome#WAIT} waits until {@link #waitExpired}.
     */
    public final boolean timed;

    /** The holder's clock ({@link System#nanoTime()}) when this attempt runs. */
    public final long nowNanos;

    /**
     * When this connect's wait ends ({@code handoffWaitMs} after its first attempt). The stream
     * lowers it to the end of the wait an earlier connect with the same handoff started: a client
     * that gave up before its answer and connects again continues that wait instead of starting a
     * new one (else a client that gives up sooner than {@code handoffWaitMs} would never get an
     * answer, neither its messages nor a {@code reset}).
     */
    public long waitUntilNanos;

    /** Set by the stream when the wait ended at {@link #waitUntilNanos} (an earlier connect's). */
    public boolean waitOver;

    public Resume(String epoch, long x, Token token, boolean waitExpired) {
      this(epoch, x, token, waitExpired, 0);
    }

    public Resume(String epoch, long x, Token token, boolean waitExpired, long quietMs) {
      this(epoch, x, token, waitExpired, quietMs, false);
    }

    public Resume(
        String epoch,
        long x,
        Token token,
        boolean waitExpired,
        long quietMs,
        boolean oldOwnerActivatedFirst) {
      this(epoch, x, token, waitExpired, quietMs, oldOwnerActivatedFirst, false, 0, 0, () -> true);
    }

    /** A connect held until {@code waitUntilNanos} at most (see {@link #waitUntilNanos}). */
    public Resume(
        String epoch,
        long x,
        Token token,
        boolean waitExpired,
        long quietMs,
        boolean oldOwnerActivatedFirst,
        long nowNanos,
        long waitUntilNanos) {
      this(
          epoch,
          x,
          token,
          waitExpired,
          quietMs,
          oldOwnerActivatedFirst,
          true,
          nowNanos,
          waitUntilNanos,
          () -> true);
    }

    /**
     * A connect held until {@code waitUntilNanos} at most, with {@link #publishersDual} (the node's
     * record of publishers that left dual mode).
     */
    public Resume(
        String epoch,
        long x,
        Token token,
        boolean waitExpired,
        long quietMs,
        boolean oldOwnerActivatedFirst,
        long nowNanos,
        long waitUntilNanos,
        java.util.function.BooleanSupplier publishersDual) {
      this(
          epoch,
          x,
          token,
          waitExpired,
          quietMs,
          oldOwnerActivatedFirst,
          true,
          nowNanos,
          waitUntilNanos,
          publishersDual);
    }

    private Resume(
        String epoch,
        long x,
        Token token,
        boolean waitExpired,
        long quietMs,
        boolean oldOwnerActivatedFirst,
        boolean timed,
        long nowNanos,
        long waitUntilNanos,
        java.util.function.BooleanSupplier publishersDual) {
      this.publishersDual = Objects.requireNonNull(publishersDual, "publishersDual");
      this.epoch = epoch;
      this.x = x;
      this.token = token;
      this.waitExpired = waitExpired;
      this.quietMs = quietMs;
      this.oldOwnerActivatedFirst = oldOwnerActivatedFirst;
      this.timed = timed;
      this.nowNanos = nowNanos;
      this.waitUntilNanos = waitUntilNanos;
    }
  }

  /** What the client gets. */
  public enum Outcome {
    /** Covered: every event whose old position is not at or before X, then live events. */
    COVERED,
    /** Relays of [S, F] are still missing: hold the connection (until {@code handoffWaitMs}). */
    WAIT,
    /** Not covered: {@code reset} reason {@code gap}. */
    RESET_GAP,
    /** Not covered: {@code reset} reason {@code epoch} (nothing of the old owner is held). */
    RESET_EPOCH
  }

  /**
   * A decision; {@code skipThrough} (only for {@link Outcome#COVERED}) is X's seq: events whose old
   * position (of X's epoch) is at or before it are not sent. {@code rule} names the rule of the
   * contract that decided (for logs and tests).
   */
  public record Decision(Outcome outcome, long skipThrough, String rule) {
    static Decision covered(long x, String rule) {
      return new Decision(Outcome.COVERED, x, rule);
    }

    static Decision of(Outcome o, String rule) {
      return new Decision(o, -1, rule);
    }
  }

  /**
   * The handoff string of a {@code moved} event: {@code <epoch>:<S>:<F>}, or {@code <epoch>::<F>}
   * when the old owner added no event while the pending map was installed. {@code first} is S (-1:
   * none), {@code last} is F (the seq of the last event of the stream on the old owner).
   */
  public record Token(String epoch, long first, long last, long[] unreported) {
    /** Most seqs of [S, F] a token lists as not reported ({@link #unreported}). */
    public static final int MAX_UNREPORTED = 8;

    /**
     * Longest handoff string accepted (16 hex + 3 colons + two 19-digit seqs + up to {@value
     * #MAX_UNREPORTED} unreported seqs of 19 digits with their separators).
     */
    public static final int MAX_LENGTH = 16 + 3 + 19 + 19 + MAX_UNREPORTED * 20;

    private static final long[] NONE = new long[0];

    /**
     * {@code unreported}: seqs in (S, F] the old owner added while the pending map was installed
     * without reporting a position to a publisher (latest-value copies at a connect), sorted; the
     * new owner does not wait for their relays. At most {@value #MAX_UNREPORTED}.
     */
    public Token {
      if (epoch == null || last < 0 || first < -1 || (first >= 0 && first > last)) {
        throw new IllegalArgumentException("bad handoff " + epoch + ":" + first + ":" + last);
      }
      unreported = unreported == null || unreported.length == 0 ? NONE : unreported.clone();
      if (unreported.length > MAX_UNREPORTED) {
        throw new IllegalArgumentException("more than " + MAX_UNREPORTED + " unreported seqs");
      }
      for (int i = 0; i < unreported.length; i++) {
        if (first < 0
            || unreported[i] <= first
            || unreported[i] > last
            || (i > 0 && unreported[i] <= unreported[i - 1])) {
          throw new IllegalArgumentException("bad unreported seqs in handoff");
        }
      }
    }

    public Token(String epoch, long first, long last) {
      this(epoch, first, last, NONE);
    }

    @Override
    public long[] unreported() {
      return unreported.clone();
    }

    /** Whether the old owner added events while the pending map was installed (S is present). */
    public boolean relayed() {
      return first >= 0;
    }

    /**
     * The opaque string handed to the client: {@code <epoch>:<S>:<F>}, then {@code :<k1>.<k2>...}
     * when some seqs were not reported.
     */
    public String encode() {
      StringBuilder b =
          new StringBuilder(epoch)
              .append(':')
              .append(first >= 0 ? Long.toString(first) : "")
              .append(':')
              .append(last);
      for (int i = 0; i < unreported.length; i++) {
        b.append(i == 0 ? ':' : '.').append(unreported[i]);
      }
      return b.toString();
    }

    /** Parses a client's {@code handoff} parameter; null if it is not one this node issues. */
    public static Token parse(String s) {
      if (s == null || s.length() > MAX_LENGTH) {
        return null;
      }
      int a = s.indexOf(':');
      int b = a < 0 ? -1 : s.indexOf(':', a + 1);
      int c = b < 0 ? -1 : s.indexOf(':', b + 1);
      if (a != 16 || b < 0 || (c >= 0 && s.indexOf(':', c + 1) >= 0)) {
        return null;
      }
      for (int i = 0; i < 16; i++) {
        char ch = s.charAt(i);
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
          return null;
        }
      }
      try {
        long first = b == a + 1 ? -1 : parseSeq(s.substring(a + 1, b));
        long last = parseSeq(s.substring(b + 1, c < 0 ? s.length() : c));
        if (first > last) {
          return null;
        }
        long[] unreported = NONE;
        if (c >= 0) {
          String[] parts = s.substring(c + 1).split("\\.", -1);
          if (parts.length > MAX_UNREPORTED) {
            return null;
          }
          unreported = new long[parts.length];
          for (int i = 0; i < parts.length; i++) {
            unreported[i] = parseSeq(parts[i]);
          }
        }
        return new Token(s.substring(0, 16), first, last, unreported);
      } catch (IllegalArgumentException e) { // NumberFormatException included
        return null;
      }
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Token t
          && t.epoch.equals(epoch)
          && t.first == first
          && t.last == last
          && Arrays.equals(t.unreported, unreported);
    }

    @Override
    public int hashCode() {
      return Objects.hash(epoch, first, last, Arrays.hashCode(unreported));
    }

    private static long parseSeq(String d) {
      if (d.isEmpty() || d.charAt(0) == '+' || d.charAt(0) == '-') {
        throw new NumberFormatException(d);
      }
      return Long.parseLong(d);
    }

    @Override
    public String toString() {
      return encode();
    }
  }

  /**
   * The old positions a stream holds: per old epoch, the set of old seqs it has an event (or, for
   * {@code ttlMs: 0} and expired events, an entry kept for contiguity) for; whether an event has an
   * unknown old position (a relay of {@code null}); whether the stream dropped an event for room or
   * age. Bounded by {@code maxEntries}: beyond it the stream counts as {@link #lost}. Not
   * thread-safe: the user stream guards it.
   */
  public static final class Positions {
    private final int maxEntries;
    private final Map<String, long[]> byEpoch = new HashMap<>(2);
    private final Map<String, Integer> sizes = new HashMap<>(2);
    private int entries;
    private int unknown; // events held with an unknown old position
    private boolean lost;

    public Positions(int maxEntries) {
      this.maxEntries = maxEntries;
    }

    /** Records an event relayed with old position {@code epoch:seq}; false if already held. */
    public boolean add(String epoch, long seq) {
      long[] a = byEpoch.get(epoch);
      int n = sizes.getOrDefault(epoch, 0);
      if (a == null) {
        a = new long[4];
      }
      int at = Arrays.binarySearch(a, 0, n, seq);
      if (at >= 0) {
        return false;
      }
      if (entries >= maxEntries) {
        lost = true;
        return false;
      }
      int ins = -at - 1;
      if (n == a.length) {
        a = Arrays.copyOf(a, a.length * 2);
      }
      System.arraycopy(a, ins, a, ins + 1, n - ins);
      a[ins] = seq;
      byEpoch.put(epoch, a);
      sizes.put(epoch, n + 1);
      entries++;
      return true;
    }

    /** Whether {@code epoch:seq} is held. */
    public boolean contains(String epoch, long seq) {
      long[] a = byEpoch.get(epoch);
      return a != null && Arrays.binarySearch(a, 0, sizes.get(epoch), seq) >= 0;
    }

    /** An event arrived with an unknown old position (relay {@code null}). */
    public void unknown() {
      unknown++;
    }

    /** An event held with an unknown old position learned it (a later relay of its key). */
    public void resolved() {
      unknown = Math.max(0, unknown - 1);
    }

    /** The stream dropped an event for room or age: no handoff to it is covered. */
    public void lost() {
      lost = true;
    }

    public boolean hasUnknown() {
      return unknown > 0;
    }

    public boolean hasLost() {
      return lost;
    }

    /** Old seqs held of {@code epoch}. */
    public int count(String epoch) {
      return sizes.getOrDefault(epoch, 0);
    }

    /** Every old position held, over all epochs. */
    public int entries() {
      return entries;
    }

    /** The highest old seq of {@code epoch} held, or -1. */
    public long max(String epoch) {
      int n = count(epoch);
      return n == 0 ? -1 : byEpoch.get(epoch)[n - 1];
    }

    /** The first {@code max} seqs of {@code [from, to]} of {@code epoch} not held (for logs). */
    public java.util.List<Long> missing(String epoch, long from, long to, int max) {
      java.util.List<Long> out = new java.util.ArrayList<>();
      for (long s = Math.max(0, from); s <= to && out.size() < max; s++) {
        if (!contains(epoch, s)) {
          out.add(s);
        }
      }
      return out;
    }

    /**
     * Whether every seq in {@code [from, to]} of {@code epoch} but those in {@code except} (sorted)
     * is held.
     */
    public boolean coversAll(String epoch, long from, long to, long[] except) {
      long start = from;
      for (long k : except) {
        if (k < start || k > to) {
          continue;
        }
        if (!coversAll(epoch, start, k - 1)) {
          return false;
        }
        start = k + 1;
      }
      return coversAll(epoch, start, to);
    }

    /** Whether every seq in {@code [from, to]} of {@code epoch} is held (true when empty). */
    public boolean coversAll(String epoch, long from, long to) {
      if (from > to) {
        return true;
      }
      long[] a = byEpoch.get(epoch);
      if (a == null) {
        return false;
      }
      int n = sizes.get(epoch);
      int lo = Arrays.binarySearch(a, 0, n, from);
      int hi = Arrays.binarySearch(a, 0, n, to);
      return lo >= 0 && hi >= 0 && hi - lo == to - from;
    }
  }

  /**
   * The decision for a client whose last event ID is {@code xEpoch:x} (an ID of the old owner),
   * with the old owner's {@code handoff} (null: the client sent none, or a malformed one), against
   * the old positions {@code held} of the user's stream here. {@code waitExpired}: the connection
   * was held for {@code handoffWaitMs} already, so a {@link Outcome#WAIT} becomes {@link
   * Outcome#RESET_GAP}. Rules (numbers as in the contract, docs/protocol.md):
   *
   * <ol>
   *   <li>nothing of epoch E held: covered with nothing to skip iff the handoff says nothing was
   *       relayed (no S) and X == F; otherwise {@code reset epoch};
   *   <li>with a handoff (of epoch E, X <= F): X < S - 1 is not covered; otherwise wait until every
   *       seq of [S, F] is held, then covered (a handoff with no S is covered iff X == F);
   *   <li>without a handoff: covered iff every seq from X + 1 to the highest held is held;
   *   <li>an event with an unknown old position, or a drop for room or age: not covered.
   * </ol>
   *
   * A handoff of another epoch than X's, or with X > F, counts as no handoff.
   */
  public static Decision decide(String xEpoch, long x, Token handoff, Positions held) {
    return decide(xEpoch, x, handoff, held, false);
  }

  /** {@link #decide(String, long, Token, Positions)}, with the wait already expired or not. */
  public static Decision decide(
      String xEpoch, long x, Token handoff, Positions held, boolean waitExpired) {
    Token h = effective(xEpoch, x, handoff);
    boolean any = held.count(xEpoch) > 0;
    if (!any) {
      // Rule 1.
      if (h != null && !h.relayed() && x == h.last()) {
        return held.hasLost() || held.hasUnknown()
            ? Decision.of(Outcome.RESET_GAP, "4")
            : Decision.covered(x, "1");
      }
      if (h != null && h.relayed() && x >= h.first() - 1) {
        // Relays of [S, F] may still be on their way: rule 2 applies.
        return waitOrGap(held, waitExpired, "2");
      }
      return Decision.of(Outcome.RESET_EPOCH, "1");
    }
    if (held.hasLost() || held.hasUnknown()) {
      return Decision.of(Outcome.RESET_GAP, "4");
    }
    if (h != null) {
      // Rule 2.
      if (!h.relayed()) {
        return x == h.last() ? Decision.covered(x, "2") : Decision.of(Outcome.RESET_GAP, "2");
      }
      if (x < h.first() - 1) {
        return Decision.of(Outcome.RESET_GAP, "2");
      }
      if (held.coversAll(xEpoch, h.first(), h.last(), h.unreported)) {
        return Decision.covered(x, "2");
      }
      return waitOrGap(held, waitExpired, "2");
    }
    // Rule 3: a late client, relays long done.
    return held.coversAll(xEpoch, x + 1, held.max(xEpoch))
        ? Decision.covered(x, "3")
        : Decision.of(Outcome.RESET_GAP, "3");
  }

  /**
   * {@link #decide(String, long, Token, Positions, boolean)} with the channel check of contract
   * change 5: a plain channel message reaches a pre-stream only on a channel it is relay-subscribed
   * to, so on any other channel a message may have reached neither owner for the user (the old
   * owner's finishing stream stored it after F and reported its position, but the publisher had
   * left dual mode and did not relay it). A decision that would be covered is so only when {@link
   * #channelsCovered} holds; else {@code reset gap} (rule {@code "channels"}).
   *
   * @param channelsRelayed every channel the connecting token grants is relay-subscribed on the
   *     stream (or was held by a connection covered before)
   * @param publishersDual no request declaring only the pending version ({@code
   *     Halley-Map-Versions: P}) has reached this node since the pending map was installed
   */
  public static Decision decide(
      String xEpoch,
      long x,
      Token handoff,
      Positions held,
      boolean waitExpired,
      boolean channelsRelayed,
      boolean publishersDual) {
    Decision d = decide(xEpoch, x, handoff, held, waitExpired);
    if (d.outcome() == Outcome.COVERED
        && !channelsCovered(
            effective(xEpoch, x, handoff) != null, channelsRelayed, publishersDual)) {
      return Decision.of(Outcome.RESET_GAP, CHANNELS_RULE);
    }
    return d;
  }

  /** The {@link Decision#rule} of a decision the channel check (contract change 5) turned. */
  public static final String CHANNELS_RULE = "channels";

  /**
   * Contract change 5: with a handoff (of X's epoch, X <= F) the token's channels are covered when
   * they are relay-subscribed or every publisher is still dual; without one (rule 3) only when they
   * are relay-subscribed.
   */
  public static boolean channelsCovered(
      boolean withHandoff, boolean channelsRelayed, boolean publishersDual) {
    return channelsRelayed || (withHandoff && publishersDual);
  }

  /** The handoff as the rules use it: null when of another epoch than X's or with X > F. */
  public static Token effective(String xEpoch, long x, Token handoff) {
    return handoff != null && handoff.epoch().equals(xEpoch) && x <= handoff.last()
        ? handoff
        : null;
  }

  private static Decision waitOrGap(Positions held, boolean waitExpired, String rule) {
    if (held.hasLost() || held.hasUnknown()) {
      return Decision.of(Outcome.RESET_GAP, "4");
    }
    return waitExpired ? Decision.of(Outcome.RESET_GAP, rule) : Decision.of(Outcome.WAIT, rule);
  }
}
