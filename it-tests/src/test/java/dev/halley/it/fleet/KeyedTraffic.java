package dev.halley.it.fleet;

import dev.halley.router.Message;
import dev.halley.router.PublishResult;
import dev.halley.router.Publisher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Continuous publishing through one router-lib {@link Publisher} to users and channels, every
 * message with an explicit key ({@code u:<user>:<seq>}, {@code c:<channel>:<seq>}) that is its
 * idempotency key, so the key a client receives names exactly one publish, whichever node delivered
 * it. Each round (every {@code periodMs}) publishes one message to each observed user, {@code
 * perChannel} to each observed channel and one to each load user (users without a client: they make
 * the rate, and move with the map like the others; only their outcomes are counted), the load users
 * {@code loadGroup} to a message (one publish to several users, as an app sends a notice to a
 * group; each user's copy counts as a message). Observed messages are kept in a ledger per stream
 * ({@code u:<user>}, {@code c:<channel>}) with router-lib's outcome, which {@link #tally} checks
 * each client against.
 *
 * <p>Threading: one pump thread publishes the observed messages (so the per-stream order of the
 * {@code publish} calls is the seq order), another the load users'; outcomes are written by
 * router-lib's threads into volatile fields; ledger lists are synchronized.
 */
public final class KeyedTraffic extends RoundPump {
  /** One observed publish. */
  public static final class Sent {
    public final String key;
    public final long seq;
    public final long startNanos;
    volatile String status;
    volatile String reason;

    Sent(String key, long seq, long startNanos) {
      this.key = key;
      this.seq = seq;
      this.startNanos = startNanos;
    }

    public boolean accepted() {
      return "DELIVERED".equals(status) || "BUFFERED".equals(status) || "OK".equals(status);
    }
  }

  private final Publisher publisher;
  private final List<String> users;
  private final List<String> channels;
  private final int perChannel;
  private final List<List<String>> loadGroups = new ArrayList<>();
  private final int loadUsers;
  private final Map<String, List<Sent>> ledger = new ConcurrentHashMap<>();
  private final Map<String, Long> nextSeq = new HashMap<>(); // pump thread only
  private final ConcurrentLinkedQueue<Runnable> extra = new ConcurrentLinkedQueue<>();
  private final Map<String, LongAdder> loadStatuses = new ConcurrentHashMap<>();
  private final AtomicLong published = new AtomicLong();
  private final AtomicLong messages = new AtomicLong();
  private final AtomicLong inFlight = new AtomicLong();

  /**
   * Publishes without an outcome yet, at most: the pumps wait for room (back-pressure), so a slow
   * machine publishes at the rate it can serve instead of queueing into router-lib's timeouts.
   */
  public static final int MAX_IN_FLIGHT = 512;

  /** Rounds a pump runs at once when a stall put it behind (one second at 100 ms a round). */
  public static final int CATCH_UP_ROUNDS = 10;

  private final java.util.concurrent.Semaphore room =
      new java.util.concurrent.Semaphore(MAX_IN_FLIGHT);

  public KeyedTraffic(
      Publisher publisher,
      List<String> users,
      List<String> channels,
      int perChannel,
      List<String> loadUsers,
      int loadGroup,
      long periodMs) {
    super(periodMs, CATCH_UP_ROUNDS);
    this.publisher = publisher;
    this.users = List.copyOf(users);
    this.channels = List.copyOf(channels);
    this.perChannel = perChannel;
    this.loadUsers = loadUsers.size();
    for (int i = 0; i < loadUsers.size(); i += loadGroup) {
      loadGroups.add(List.copyOf(loadUsers.subList(i, Math.min(loadUsers.size(), i + loadGroup))));
    }
    for (String u : users) {
      ledger.put("u:" + u, Collections.synchronizedList(new ArrayList<>()));
    }
    for (String c : channels) {
      ledger.put("c:" + c, Collections.synchronizedList(new ArrayList<>()));
    }
    pump("keyed-traffic", this::round);
    pump("keyed-traffic-load", this::loadRound);
  }

  /** Messages per second this traffic aims at (a message to n users counts n). */
  public double targetRate() {
    return (users.size() + channels.size() * perChannel + loadUsers) * 1000.0 / periodMs;
  }

  public KeyedTraffic start() {
    startPumps();
    return this;
  }

  private void round() {
    for (Runnable r; (r = extra.poll()) != null; ) {
      r.run();
    }
    for (String u : users) {
      observed("u:" + u, Message.toUsers(u), u);
    }
    for (String c : channels) {
      for (int i = 0; i < perChannel; i++) {
        observed("c:" + c, Message.toChannel(c), null);
      }
    }
  }

  /** The load users' messages, on their own pump (same period). */
  private void loadRound() {
    for (List<String> group : loadGroups) {
      long now = System.nanoTime();
      if (!acquire()) {
        throw new IllegalStateException("interrupted");
      }
      track(
          publisher.publish(Message.toUsers(group).data(Map.of("load", true, "sentNanos", now))),
          group.size(),
          (r, e) -> {
            for (String u : group) {
              String status = e != null ? "EXCEPTION" : outcome(r.outcome(u));
              loadStatuses.computeIfAbsent(status, k -> new LongAdder()).increment();
            }
          });
    }
  }

  /** Publishes the next message of {@code stream}; {@code user} null for a channel. */
  private Sent observed(String stream, Message m, String user) {
    if (!acquire()) {
      throw new IllegalStateException("interrupted");
    }
    long seq = nextSeq.merge(stream, 1L, Long::sum);
    String key = stream + ":" + seq;
    long now = System.nanoTime();
    Sent s = new Sent(key, seq, now);
    ledger.get(stream).add(s);
    track(
        publisher.publish(m.data(Map.of("k", key, "sentNanos", now)).idempotencyKey(key)),
        1,
        (r, e) -> {
          if (e != null) {
            s.status = "EXCEPTION";
            s.reason = e.toString();
          } else if (user != null) {
            PublishResult.Outcome o = r.outcome(user);
            s.status = o.status().name();
            s.reason = o.reason();
          } else {
            s.status = r.succeeded() ? "OK" : "FAILED";
            s.reason =
                r.succeeded()
                    ? null
                    : r.nodes().stream()
                        .filter(n -> n.failed() || n.unknown())
                        .map(n -> n.node() + ":" + n.status() + "/" + n.reason())
                        .sorted()
                        .toList()
                        .toString();
          }
        });
    return s;
  }

  /** Waits for room among the publishes in flight; false if interrupted. */
  private boolean acquire() {
    try {
      room.acquire();
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private static String outcome(PublishResult.Outcome o) {
    return o.status().name() + (o.reason() == null ? "" : "/" + o.reason());
  }

  private void track(
      CompletableFuture<PublishResult> f,
      int recipients,
      java.util.function.BiConsumer<PublishResult, Throwable> onDone) {
    published.incrementAndGet();
    messages.addAndGet(recipients);
    inFlight.incrementAndGet();
    f.whenComplete(
        (r, e) -> {
          try {
            onDone.accept(r, e);
          } finally {
            inFlight.decrementAndGet();
            room.release();
          }
        });
  }

  /**
   * Publishes {@code n} messages to observed {@code user} at once (in the pump, between two rounds,
   * so they keep their place in the user's order), then waits until router-lib reported them.
   */
  public void burst(String user, int n) {
    CompletableFuture<List<Sent>> done = new CompletableFuture<>();
    extra.add(
        () -> {
          List<Sent> out = new ArrayList<>();
          for (int i = 0; i < n; i++) {
            out.add(observed("u:" + user, Message.toUsers(user), user));
          }
          done.complete(out);
        });
    Await.until(done::isDone, "burst to " + user + " published", Duration.ofMinutes(1));
    List<Sent> sent = done.join();
    Await.until(
        () -> sent.stream().allMatch(s -> s.status != null),
        "burst to " + user + " reported",
        Duration.ofMinutes(1));
  }

  /** Every outcome (bounded by router-lib's own timeouts). */
  @Override
  protected void awaitOutcomes() {
    Await.until(
        () -> inFlight.get() == 0,
        () -> inFlight.get() + " publishes without an outcome",
        Duration.ofMinutes(1));
  }

  /**
   * Messages per second between start and stop, load included (a message to n users counts n, a
   * channel message once).
   */
  public double achievedRate() {
    return messages.get() / seconds();
  }

  /** {@code publish} calls per second between start and stop. */
  public double publishRate() {
    return published.get() / seconds();
  }

  /** Messages published (a message to n users counts n). */
  public long messages() {
    return messages.get();
  }

  public long published() {
    return published.get();
  }

  /** Outcomes of the load users' messages, by status. */
  public Map<String, Long> loadStatuses() {
    Map<String, Long> out = new TreeMap<>();
    loadStatuses.forEach((k, v) -> out.put(k, v.sum()));
    return out;
  }

  private List<Sent> sent(String stream) {
    List<Sent> l = ledger.get(stream);
    synchronized (l) {
      return List.copyOf(l);
    }
  }

  /**
   * How the messages to these clients ended: each client is owed its user's messages and those of
   * each channel of {@code channelsOf.get(user)} (null: none).
   */
  public Tally tally(List<StreamClient> clients, Map<String, List<String>> channelsOf) {
    Tally t = new Tally();
    for (StreamClient c : clients) {
      t.clients++;
      List<String> got = c.keys();
      Set<String> received = new java.util.HashSet<>(got);
      List<Long> resets = c.resetAtNanos();
      t.resets += resets.size();
      c.resetReasons().forEach(r -> t.resetReasons.merge(r, 1, Integer::sum));
      t.moved += c.moved();
      t.duplicates += c.keyDuplicates();
      for (String n : c.outOfOrderNotes()) {
        if (t.outOfOrderKeys.size() < 20) {
          t.outOfOrderKeys.add(c.user + " " + n);
        }
      }
      t.withoutKey += c.withoutKey();
      t.connections += c.connectedAtNanos().size();
      List<String> streams = new ArrayList<>();
      streams.add("u:" + c.user);
      for (String channel : channelsOf.getOrDefault(c.user, List.of())) {
        streams.add("c:" + channel);
      }
      Set<String> owed = new java.util.HashSet<>();
      for (String stream : streams) {
        for (Sent s : sent(stream)) {
          owed.add(s.key);
          t.published++;
          t.statuses.merge(s.status + (s.reason == null ? "" : "/" + s.reason), 1, Integer::sum);
          boolean resetAfter = resets.stream().anyMatch(r -> r > s.startNanos);
          if (received.contains(s.key)) {
            t.received++;
          } else if (s.status == null) {
            t.noOutcome++;
            t.lost.add(c.user + " " + s.key + " (no outcome)");
          } else if (!s.accepted()) {
            t.failed++;
          } else if (resetAfter) {
            t.resetCovered++;
          } else {
            t.lost.add(c.user + " " + s.key + " (" + s.status + ")");
          }
        }
      }
      Map<String, Long> last = new HashMap<>();
      Set<String> seen = new java.util.HashSet<>();
      for (String key : got) {
        if (!owed.contains(key)) {
          t.unexpected++;
        }
        if (!seen.add(key)) {
          continue; // a repeat, counted as a duplicate
        }
        int colon = key.lastIndexOf(':');
        String stream = key.substring(0, colon);
        long seq = Long.parseLong(key.substring(colon + 1));
        Long before = last.put(stream, seq);
        if (before != null && seq < before) {
          t.outOfOrder++;
        }
      }
    }
    return t;
  }

  /** Counts over a group of clients. */
  public static final class Tally {
    public int clients;
    public int published;
    public int received;
    public int failed;
    public int resetCovered;
    public int noOutcome;
    public int resets;
    public int moved;
    public int duplicates;
    public int withoutKey;
    public int unexpected;
    public int outOfOrder;
    public int connections;
    public final Map<String, Integer> statuses = new TreeMap<>();
    public final Map<String, Integer> resetReasons = new TreeMap<>();
    public final List<String> lost = new ArrayList<>();
    public final List<String> outOfOrderKeys = new ArrayList<>();

    /** Accepted, not received and no reset after it was published: must never happen. */
    public int lost() {
      return lost.size();
    }

    /** Every message received, or reported to the publisher or to the client. */
    public boolean accountedFor() {
      return lost.isEmpty() && noOutcome == 0;
    }

    /** Every message received (nothing failed, nothing reset-covered, nothing lost). */
    public boolean allReceived() {
      return received == published;
    }

    @Override
    public String toString() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("clients", clients);
      m.put("published", published);
      m.put("received", received);
      m.put("duplicated", duplicates);
      m.put("resets", resets);
      m.put("failed", failed);
      m.put("resetCovered", resetCovered);
      m.put("lost", lost.size());
      m.put("noOutcome", noOutcome);
      m.put("outOfOrder", outOfOrder);
      m.put("unexpected", unexpected);
      m.put("withoutKey", withoutKey);
      m.put("moved", moved);
      m.put("connections", connections);
      m.put("resetReasons", resetReasons);
      m.put("statuses", statuses);
      if (!lost.isEmpty()) {
        m.put("lostKeys", lost.subList(0, Math.min(20, lost.size())));
      }
      if (!outOfOrderKeys.isEmpty()) {
        m.put("outOfOrderKeys", outOfOrderKeys);
      }
      return m.toString();
    }
  }
}
