package dev.halley.it.fleet;

import dev.halley.router.PublishResult;
import dev.halley.router.Publisher;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Continuous publishing through router-lib, one message per user per round ({@code {"seq",
 * "sentNanos"}}), with every outcome kept: the ledger that {@link #tally} checks each client
 * against. A message is <em>received</em> (its seq reached the client), <em>failed</em> (router-lib
 * reported it not delivered: any status but DELIVERED and BUFFERED), <em>reset-covered</em> (not
 * received, but the client got a {@code reset} after it was published: the client was told it may
 * have missed events), or <em>silently lost</em>, which no scenario allows.
 */
public final class Traffic extends RoundPump {
  /** One publish: its seq, when it was sent and completed, and router-lib's outcome. */
  public static final class Sent {
    public final long seq;
    public final long startNanos;
    volatile long endNanos;
    volatile String status;
    volatile String reason;

    Sent(long seq, long startNanos) {
      this.seq = seq;
      this.startNanos = startNanos;
    }

    public boolean accepted() {
      return "DELIVERED".equals(status) || "BUFFERED".equals(status);
    }

    public long tookNanos() {
      return endNanos - startNanos;
    }

    public String status() {
      return status;
    }

    public String reason() {
      return reason;
    }
  }

  private final Publisher publisher;
  private final List<String> users;
  private final Map<String, List<Sent>> ledger = new ConcurrentHashMap<>();
  private final List<CompletableFuture<?>> pending =
      Collections.synchronizedList(new ArrayList<>());
  private long seq; // the pump's

  public Traffic(Publisher publisher, List<String> users, long periodMs) {
    super(periodMs);
    this.publisher = publisher;
    this.users = List.copyOf(users);
    for (String u : users) {
      ledger.put(u, Collections.synchronizedList(new ArrayList<>()));
    }
    pump("traffic", this::round);
  }

  public Traffic start() {
    startPumps();
    return this;
  }

  private void round() {
    seq++;
    for (String u : users) {
      long now = System.nanoTime();
      Sent s = new Sent(seq, now);
      ledger.get(u).add(s);
      CompletableFuture<PublishResult> f =
          publisher.publish(u, Map.of("seq", seq, "sentNanos", now));
      pending.add(
          f.whenComplete(
              (r, e) -> {
                s.endNanos = System.nanoTime();
                if (e != null) {
                  s.status = "EXCEPTION";
                  s.reason = e.toString();
                } else {
                  PublishResult.Outcome o = r.outcome(u);
                  s.status = o.status().name();
                  s.reason = o.reason();
                }
              }));
    }
  }

  /** Every outcome (bounded by router-lib's own timeouts). */
  @Override
  protected void awaitOutcomes() {
    CompletableFuture<?>[] all;
    synchronized (pending) {
      all = pending.toArray(new CompletableFuture<?>[0]);
    }
    try {
      CompletableFuture.allOf(all).get(60, java.util.concurrent.TimeUnit.SECONDS);
    } catch (Exception e) {
      // an exceptional outcome is recorded on its Sent; a missing one fails the tally
    }
  }

  public List<Sent> sent(String user) {
    synchronized (ledger.get(user)) {
      return List.copyOf(ledger.get(user));
    }
  }

  /** How the messages to these clients' users ended. */
  public Tally tally(List<StreamClient> clients) {
    Tally t = new Tally();
    for (StreamClient c : clients) {
      List<Long> got = c.seqs();
      java.util.Set<Long> received = new java.util.HashSet<>(got);
      List<Long> resets = c.resetAtNanos();
      t.resets += resets.size();
      t.duplicates += c.duplicates();
      t.outOfOrder += c.outOfOrder();
      t.moved += c.moved();
      for (String reason : c.resetReasons()) {
        t.resetReasons.merge(reason, 1, Integer::sum);
      }
      java.util.Map<Long, Sent> bySeq = new java.util.HashMap<>();
      for (Sent s : sent(c.user)) {
        bySeq.put(s.seq, s);
      }
      long lastAccepted = Long.MIN_VALUE;
      for (long seq : got) {
        Sent s = bySeq.get(seq);
        if (s != null && s.accepted()) {
          if (seq < lastAccepted) {
            t.acceptedOutOfOrder++;
          }
          lastAccepted = Math.max(lastAccepted, seq);
        }
      }
      for (Sent s : sent(c.user)) {
        t.published++;
        t.statuses.merge(s.status + (s.reason == null ? "" : "/" + s.reason), 1, Integer::sum);
        boolean resetAfter = resets.stream().anyMatch(r -> r > s.startNanos);
        if (received.contains(s.seq)) {
          t.received++;
          if (!s.accepted()) {
            t.failedButReceived++;
          }
        } else if (s.status == null) {
          t.noOutcome++;
          t.lost.add(c.user + "#" + s.seq + "(no outcome)");
        } else if (!s.accepted()) {
          t.failed++;
        } else if (resetAfter) {
          t.resetCovered++;
        } else {
          t.silentlyLost++;
          t.lost.add(c.user + "#" + s.seq + "(" + s.status + ")");
        }
      }
    }
    return t;
  }

  /** Counts over a group of clients. */
  public static final class Tally {
    public int published;
    public int received;
    public int failed;
    public int failedButReceived;
    public int resetCovered;
    public int silentlyLost;
    public int noOutcome;
    public int resets;
    public int moved;
    public int duplicates;
    public int outOfOrder;

    /** Out of order among messages router-lib reported delivered or buffered (the promise). */
    public int acceptedOutOfOrder;

    public final Map<String, Integer> statuses = new TreeMap<>();
    public final Map<String, Integer> resetReasons = new TreeMap<>();
    public final List<String> lost = new ArrayList<>();

    /** Every message received, or reported to the publisher or to the client. */
    public boolean accountedFor() {
      return silentlyLost == 0 && noOutcome == 0;
    }

    @Override
    public String toString() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("published", published);
      m.put("received", received);
      m.put("failed", failed);
      m.put("failedButReceived", failedButReceived);
      m.put("resetCovered", resetCovered);
      m.put("silentlyLost", silentlyLost);
      m.put("noOutcome", noOutcome);
      m.put("resets", resets);
      m.put("resetReasons", resetReasons);
      m.put("moved", moved);
      m.put("duplicates", duplicates);
      m.put("outOfOrder", outOfOrder);
      m.put("acceptedOutOfOrder", acceptedOutOfOrder);
      m.put("statuses", statuses);
      if (!lost.isEmpty()) {
        m.put("lost", lost.subList(0, Math.min(20, lost.size())));
      }
      return m.toString();
    }
  }

  /** The {@code p}-th percentile (0..100) of {@code values}, 0 for none. */
  public static long percentile(List<Long> values, double p) {
    if (values.isEmpty()) {
      return 0;
    }
    List<Long> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
  }
}
