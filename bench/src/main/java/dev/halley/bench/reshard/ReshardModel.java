package dev.halley.bench.reshard;

import dev.halley.bench.reshard.Decisions.OldResult;
import dev.halley.bench.reshard.Decisions.Resume;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.MapChange;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.stream.Handoff;
import dev.halley.router.internal.DualRoute;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.SplittableRandom;

/**
 * One reshard (one map change) of a fleet, as a deterministic discrete-event model on a simulated
 * clock (microseconds; no sockets, no threads, no wall clock). The fleet's users and their owners
 * come from {@link FleetMaps} (the real owner function); the moving users, their streams on the old
 * and the new owner, their clients and the publishers' messages to them are modelled one by one.
 * Users that do not move are not modelled message by message: nothing in a reshard touches them
 * (their owner is the same under both maps, which {@link FleetMaps} checks for every user).
 *
 * <p>What runs: the {@code halley reshard} steps (install pending gainers first, wait until every
 * node saw every publisher declare both versions, activate gainers, unchanged, losers), router-lib
 * publishers (single map, fetching the pending map, dual mode with {@link Decisions#dualRoute},
 * dual grace, single map again; per node lanes in order; a message's new-owner send issued in
 * publish order), old owners (positions while pending, finishing streams at activation, {@code
 * moved} spread over {@code movedSpreadMs}, replay then moved for long-poll requests and returning
 * clients), new owners (pre-streams, relay annotation by key, relay-subscribed channels, {@link
 * Decisions#handoff} with its wait) and clients (WebSocket, SSE, long-poll; reconnect after moved
 * in 2.5 RTT; churn). Every message a moving user was sent is checked at the end against what its
 * client received: lost, duplicated, out of publisher order, or covered by a reset.
 *
 * <p>Not thread-safe: one thread runs it.
 */
public final class ReshardModel {
  // Client states.
  private static final byte OFFLINE = 0;
  private static final byte OLD = 1;
  private static final byte OLD_GAP = 2;
  private static final byte TRANSIT = 3;
  private static final byte WAITING = 4;
  private static final byte NEW = 5;

  // Publisher modes.
  private static final int SINGLE_OLD = 0;
  private static final int FETCHING = 1;
  private static final int DUAL = 2;
  private static final int SINGLE_NEW = 3;

  private static final int LONG_POLL = 2;

  private final SimConfig c;
  private final FleetMaps.Move move;
  private final int nodeCount;
  private final int[] phaseOf;
  private final int[] phaseNodes;
  private final String[] epochs;
  private final DualRoute dual;
  private final SplittableRandom rnd;

  private final PriorityQueue<Ev> queue = new PriorityQueue<>();
  private long order;
  private long now;

  private final MU[] mu;
  private final List<List<MU>> byOldNode = new ArrayList<>();
  private final int[] channelStart;
  private final int[] channelMembers;
  private final int[] relevantChannels;
  private final Pub[] pubs;

  private final boolean[] pending;
  private final boolean[] active;
  private final long[] installedAt;
  private final long[] activatedAt;
  // Contract change 5 as the node implements it: when the first request declaring only the pending
  // version (a publisher that left dual mode) reached each node (Long.MAX_VALUE: none yet).
  private final long[] singleSeenAt;

  private long[] msgPublisher = new long[1 << 16];
  private int messages;
  private boolean publishing = true;

  /** Figures of the run. */
  public final Figures f = new Figures();

  /** What one run measured. Times are simulated milliseconds from the start. */
  public static final class Figures {
    public long messagesToMovingUsers;
    public long deliveriesToMovingUsers;
    public long lost;
    public long duplicated;
    public long outOfOrder;
    public long coveredByReset;
    public long covered;
    public long resetGap;
    public long resetEpoch;
    public long waited;
    public double maxWaitMs;
    public long coveredAfterWait;
    public double maxCoveredWaitMs;
    public long resetsOfConnected;
    public long resetsOfReturning;
    public long resetsOfChurned;
    public long resetsWhileDual;
    public long resetSkippedAfterDelivered;

    /** Resets by contract change 5's channel check (covered without it). */
    public long resetChannelCheck;

    /** Resets of handoffs that reached a new owner before its activation (rule 4). */
    public long resetBeforeNewOwnersActivation;

    public long relaysRefused;
    public long afterRetention;
    public long movedSent;
    public long onlineMovers;
    public long returners;
    public long churners;
    public int peakReconnectsPerSecond;
    public String peakReconnectNode;
    public long peakPreStreamEvents;
    public long peakPreStreamBytes;
    public long peakPreStreamUsers;
    public long finishingEvents;
    public long finishingBytes;
    public double installStartMs;
    public double installDoneMs;
    public double allDualMs;
    public double step3Ms;
    public double activateStartMs;
    public double activateDoneMs;
    public double movedDoneMs;
    public double connectedHandedOffMs;
    public double publishersSingleMs;
    public double stopMs;
    public double lastHandoffMs;
    public long events;
  }

  /** One moving user: its two streams (old and new owner) and its client. */
  private static final class MU {
    final int user;
    final int oldN;
    final int newN;
    final int[] ch;
    final boolean online;
    final int transport;
    final long rttUs;
    // Old owner's stream: keys by seq (seq i at index i - 1).
    long[] oldKeys = new long[8];
    int oldSeq;
    int s;
    boolean finishing;
    int f = -1;
    // The last seq when the stream began finishing: it delivers (live, replay) nothing after it.
    int fin = -1;
    // New owner's stream.
    long[] newKeys = new long[8];
    int[] newOld = new int[8];
    int newCount;
    final Handoff.Positions held = new Handoff.Positions(Integer.MAX_VALUE);
    int relaySubscribed;
    int preCount;
    // Client.
    byte state;
    int x;
    boolean hadHandoff;
    int hs;
    int hf;
    boolean reset;
    boolean waitScheduled;
    long connectAt;
    boolean returner;
    boolean churned;
    boolean connectedWhileDual;
    long[] got = new long[8];
    int gotCount;
    long[] expect = new long[8];
    int expectCount;

    MU(int user, int oldN, int newN, int[] ch, boolean online, int transport, long rttUs) {
      this.user = user;
      this.oldN = oldN;
      this.newN = newN;
      this.ch = ch;
      this.online = online;
      this.transport = transport;
      this.rttUs = rttUs;
    }
  }

  /** One publisher (a router-lib Publisher on one app server). */
  private final class Pub {
    final int id;
    int mode = SINGLE_OLD;
    final long[] lane = new long[nodeCount];
    final long[] back = new long[nodeCount];
    final ArrayDeque<Item> order = new ArrayDeque<>();
    final List<Runnable> afterFetch = new ArrayList<>();
    long dualAt = -1;
    long sawActiveAt = -1;
    long singleAt = -1;

    Pub(int id) {
      this.id = id;
    }

    /** Arrival time at {@code node} of a request sent now (requests to a node stay in order). */
    long send(int node) {
      long t = Math.max(lane[node], now + oneWay());
      lane[node] = t;
      if (mode == SINGLE_NEW) {
        singleSeenAt[node] = Math.min(singleSeenAt[node], t);
      }
      return t;
    }

    /** Arrival time back here of the answer to a request handled at {@code t}. */
    long answer(int node, long t) {
      long r = Math.max(back[node], t + oneWay());
      back[node] = r;
      return r;
    }

    void discover() {
      if (mode == SINGLE_OLD) {
        mode = FETCHING;
        at(now + 2 * oneWay(), this::fetched);
      }
    }

    void fetched() {
      mode = DUAL;
      dualAt = now;
      List<Runnable> waiting = new ArrayList<>(afterFetch);
      afterFetch.clear();
      waiting.forEach(Runnable::run);
    }

    void sawActive() {
      if (sawActiveAt < 0 && mode != SINGLE_NEW && mode != SINGLE_OLD) {
        sawActiveAt = now;
        at(now + c.dualGraceMs() * 1000, this::leaveDual);
      }
    }

    void leaveDual() {
      mode = SINGLE_NEW;
      singleAt = now;
      // Each node sees it declare the pending version alone at its next request there (its
      // fleet-wide traffic; a moving user's send may come earlier: send above).
      double meanGap = 1_000_000.0 * nodeCount / c.requestsPerPublisherSecond();
      for (int n = 0; n < nodeCount; n++) {
        singleSeenAt[n] = Math.min(singleSeenAt[n], now + (long) exp(meanGap) + oneWay());
      }
    }

    /** Issues ready new-owner sends in publish order. */
    void flush() {
      while (!order.isEmpty() && order.peekFirst().action != null) {
        order.pollFirst().action.run();
      }
    }
  }

  /** A new-owner send of one message, issued once it and every earlier one are ready. */
  private static final class Item {
    Runnable action;
  }

  private static final Runnable NOTHING = () -> {};

  private static final class Ev implements Comparable<Ev> {
    final long t;
    final long o;
    final Runnable r;

    Ev(long t, long o, Runnable r) {
      this.t = t;
      this.o = o;
      this.r = r;
    }

    @Override
    public int compareTo(Ev e) {
      return t != e.t ? Long.compare(t, e.t) : Long.compare(o, e.o);
    }
  }

  /** Builds the model of {@code move} (the fleet before and after) with assumptions {@code c}. */
  public ReshardModel(SimConfig c, FleetMaps.Move move, ClusterMap before, ClusterMap after) {
    this.c = c;
    this.move = move;
    this.nodeCount = move.nodeIds().size();
    this.dual = DualRoute.of(before, after);
    this.phaseOf = new int[nodeCount];
    this.epochs = new String[nodeCount];
    for (int n = 0; n < nodeCount; n++) {
      phaseOf[n] = dual.change().phase(move.nodeIds().get(n)).ordinal() + 1;
      epochs[n] = String.format("%016x", mix(c.seed() + 7, n));
    }
    this.phaseNodes = new int[4];
    List<List<NodeInfo>> phases = dual.channelPhases();
    for (List<NodeInfo> ph : phases) {
      phaseNodes[dual.change().phase(ph.get(0).id()).ordinal() + 1] = ph.size();
    }
    this.rnd = new SplittableRandom(c.seed() * 0x9E3779B97F4A7C15L + move.moved());
    pending = new boolean[nodeCount];
    active = new boolean[nodeCount];
    installedAt = new long[nodeCount];
    activatedAt = new long[nodeCount];
    singleSeenAt = new long[nodeCount];
    Arrays.fill(singleSeenAt, Long.MAX_VALUE);
    Arrays.fill(installedAt, -1);
    Arrays.fill(activatedAt, -1);
    for (int n = 0; n < nodeCount; n++) {
      byOldNode.add(new ArrayList<>());
    }
    int m = move.moved();
    mu = new MU[m];
    int[] perChannel = new int[c.channels()];
    for (int k = 0; k < m; k++) {
      int user = move.user()[k];
      int[] ch = channelsOf(user);
      for (int x : ch) {
        perChannel[x]++;
      }
      SplittableRandom r = new SplittableRandom(mix(c.seed(), user));
      boolean online = r.nextDouble() < c.onlineFraction();
      double t = r.nextDouble();
      int transport = t < c.wsFraction() ? 0 : t < c.wsFraction() + c.sseFraction() ? 1 : 2;
      long rtt = (long) (c.clientRttMs() * 1000 * Math.exp(0.6 * gaussian(r)));
      mu[k] = new MU(user, move.oldNode()[k], move.newNode()[k], ch, online, transport, rtt);
      DualRoute.UserRoute route = dual.user(FleetMaps.userId(user));
      if (!route.moving()
          || !route.oldOwner().id().equals(move.nodeIds().get(mu[k].oldN))
          || !route.newOwner().id().equals(move.nodeIds().get(mu[k].newN))) {
        throw new IllegalStateException("DualRoute and the owner pass disagree on user " + user);
      }
      byOldNode.get(mu[k].oldN).add(mu[k]);
    }
    channelStart = new int[c.channels() + 1];
    int relevant = 0;
    for (int x = 0; x < c.channels(); x++) {
      channelStart[x + 1] = channelStart[x] + perChannel[x];
      if (perChannel[x] > 0) {
        relevant++;
      }
    }
    channelMembers = new int[channelStart[c.channels()]];
    relevantChannels = new int[relevant];
    int[] fill = Arrays.copyOf(channelStart, c.channels());
    for (int k = 0; k < m; k++) {
      for (int x : mu[k].ch) {
        channelMembers[fill[x]++] = k;
      }
    }
    int j = 0;
    for (int x = 0; x < c.channels(); x++) {
      if (perChannel[x] > 0) {
        relevantChannels[j++] = x;
      }
    }
    pubs = new Pub[c.publishers()];
    for (int p = 0; p < pubs.length; p++) {
      pubs[p] = new Pub(p);
    }
  }

  /** The channels of user {@code user} (distinct, chosen by hash). */
  int[] channelsOf(int user) {
    int[] ch = new int[Math.min(c.channelsPerUser(), c.channels())];
    for (int j = 0; j < ch.length; j++) {
      int x = (int) Math.floorMod(mix(c.seed() ^ 0x5bd1e995L, (long) user * 64 + j), c.channels());
      for (int i = 0; i < j; i++) {
        if (ch[i] == x) {
          x = (x + 1) % c.channels();
          i = -1;
        }
      }
      ch[j] = x;
    }
    return ch;
  }

  static long mix(long a, long b) {
    long z = a * 0x9E3779B97F4A7C15L + b;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private static double gaussian(SplittableRandom r) {
    double u = 1 - r.nextDouble();
    double v = r.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  private long oneWay() {
    double mean = c.appLatencyMs() * 1000;
    return 300 + (long) (-Math.log(1 - rnd.nextDouble()) * Math.max(0, mean - 300));
  }

  private long exp(double meanUs) {
    return (long) (-Math.log(1 - rnd.nextDouble()) * meanUs);
  }

  private void at(long t, Runnable r) {
    queue.add(new Ev(Math.max(t, now), order++, r));
  }

  // ---------------------------------------------------------------- the run

  /** Runs the reshard to its end and computes the figures. */
  public Figures run() {
    for (MU u : mu) {
      if (u.online) {
        u.state = OLD;
        f.onlineMovers++;
        if (rnd.nextDouble() < c.churnFraction()) {
          f.churners++;
          long drop = 1_000_000 + (long) (rnd.nextDouble() * 8_000_000);
          at(drop, () -> churn(u));
        }
      } else {
        u.returner = true;
        f.returners++;
        at(1_000_000 + (long) (rnd.nextDouble() * c.returnWindowMs() * 1000), () -> comeBack(u));
      }
    }
    long installStart = 1_000_000;
    f.installStartMs = installStart / 1000.0;
    scheduleUserMessages();
    scheduleChannelMessages();
    // Step 2: install pending, gainers first, then unchanged, then losers (one call each).
    int[] nodesInOrder = activationOrder();
    long t = installStart;
    for (int n : nodesInOrder) {
      t += (long) (c.cliCallMs() * 1000);
      long when = t;
      installedAt[n] = when;
      at(when, () -> pending[n] = true);
    }
    f.installDoneMs = t / 1000.0;
    // Publishers discover the pending map from their fleet-wide traffic (a response of a node
    // that holds it), or earlier from a moving user's positions.
    for (Pub p : pubs) {
      long d = firstRequestTo(installStart, installedAt);
      at(d, p::discover);
    }
    at(t + c.cliPollMs() * 1000, this::cliPoll);
    while (!queue.isEmpty()) {
      Ev e = queue.poll();
      now = e.t;
      e.r.run();
      f.events++;
    }
    tally();
    return f;
  }

  /** The CLI's order (install and activate): gainers, unchanged, losers ({@link MapChange}). */
  private int[] activationOrder() {
    return dual.change().activationOrder().stream()
        .mapToInt(node -> move.index(node.id()))
        .toArray();
  }

  /** When a publisher's first request that reaches a node marked in {@code since} is answered. */
  private long firstRequestTo(long from, long[] since) {
    double meanGap = 1_000_000 / c.requestsPerPublisherSecond();
    long t = from;
    for (int i = 0; i < 10_000_000; i++) {
      t += exp(meanGap);
      int n = rnd.nextInt(nodeCount);
      long arrival = t + oneWay();
      if (since[n] >= 0 && since[n] <= arrival) {
        return arrival + oneWay();
      }
    }
    throw new IllegalStateException("no request reached a node");
  }

  // Step 3: every node saw every publisher declare both versions. A node sees a publisher at the
  // publisher's next request to it after the publisher went dual.
  private long[][] seenDual;

  private void cliPoll() {
    boolean ready = true;
    for (Pub p : pubs) {
      if (p.mode != DUAL) {
        ready = false;
        break;
      }
    }
    if (ready) {
      double meanGap = 1_000_000.0 * nodeCount / c.requestsPerPublisherSecond();
      if (seenDual == null) {
        seenDual = new long[pubs.length][nodeCount];
        long all = 0;
        for (Pub p : pubs) {
          all = Math.max(all, p.dualAt);
          for (int n = 0; n < nodeCount; n++) {
            seenDual[p.id][n] = p.dualAt + exp(meanGap) + oneWay();
          }
        }
        f.allDualMs = all / 1000.0;
      }
      for (long[] row : seenDual) {
        for (long s : row) {
          if (s > now) {
            ready = false;
          }
        }
      }
    }
    if (!ready) {
      at(now + c.cliPollMs() * 1000, this::cliPoll);
      return;
    }
    f.step3Ms = now / 1000.0;
    // Step 4: activate gainers, then unchanged, then losers.
    long t = now;
    f.activateStartMs = t / 1000.0;
    for (int n : activationOrder()) {
      t += (long) (c.cliCallMs() * 1000);
      activatedAt[n] = t;
      at(t, () -> activate(n));
    }
    f.activateDoneMs = t / 1000.0;
    for (Pub p : pubs) {
      long seen = firstRequestTo(now, activatedAt);
      at(seen, p::sawActive);
    }
    at(t, this::maybeStop);
  }

  private void activate(int n) {
    active[n] = true;
    List<MU> losing = new ArrayList<>(byOldNode.get(n));
    // The drain plan: a random order, each user at a random instant of its slot.
    for (int i = losing.size() - 1; i > 0; i--) {
      int j = rnd.nextInt(i + 1);
      MU tmp = losing.get(i);
      losing.set(i, losing.get(j));
      losing.set(j, tmp);
    }
    long spread = c.movedSpreadMs() * 1000;
    for (int i = 0; i < losing.size(); i++) {
      MU u = losing.get(i);
      u.finishing = true;
      u.fin = u.oldSeq;
      long offset = spread == 0 ? 0 : (long) ((i + rnd.nextDouble()) * spread / losing.size());
      at(now + offset, () -> moved(u));
    }
  }

  // ---------------------------------------------------------------- traffic

  private void scheduleUserMessages() {
    double rate = mu.length * c.userMessagesPerUserSecond();
    if (rate <= 0) {
      return;
    }
    double meanGap = 1_000_000 / rate;
    at(
        exp(meanGap),
        new Runnable() {
          @Override
          public void run() {
            if (!publishing) {
              return;
            }
            publishUser(mu[rnd.nextInt(mu.length)], pubs[rnd.nextInt(pubs.length)]);
            at(now + exp(meanGap), this);
          }
        });
  }

  private void scheduleChannelMessages() {
    double rate = relevantChannels.length * c.channelMessagesPerSecond();
    if (rate <= 0) {
      return;
    }
    double meanGap = 1_000_000 / rate;
    at(
        exp(meanGap),
        new Runnable() {
          @Override
          public void run() {
            if (!publishing) {
              return;
            }
            int ch = relevantChannels[rnd.nextInt(relevantChannels.length)];
            publishChannel(ch, pubs[rnd.nextInt(pubs.length)]);
            at(now + exp(meanGap), this);
          }
        });
  }

  private long newKey(Pub p) {
    if (messages == msgPublisher.length) {
      msgPublisher = Arrays.copyOf(msgPublisher, messages * 2);
    }
    msgPublisher[messages] = p.id;
    f.messagesToMovingUsers++;
    return messages++;
  }

  private static long[] add(long[] a, int n, long v) {
    if (n == a.length) {
      a = Arrays.copyOf(a, n * 2);
    }
    a[n] = v;
    return a;
  }

  private void expect(MU u, long key) {
    u.expect = add(u.expect, u.expectCount++, key);
    f.deliveriesToMovingUsers++;
  }

  private void publishUser(MU u, Pub p) {
    long key = newKey(p);
    expect(u, key);
    Item item = new Item();
    p.order.addLast(item);
    if (p.mode == SINGLE_NEW) {
      ready(p, item, () -> toNewUser(p, u, key, 0));
      return;
    }
    boolean dual = p.mode == DUAL;
    long arrival = p.send(u.oldN);
    at(
        arrival,
        () -> {
          OldResult r = oldAccept(u, key, -1);
          int pos = u.oldSeq;
          boolean hasPending = pending[u.oldN];
          long back = p.answer(u.oldN, now);
          at(back, () -> afterOld(p, item, u, key, r, pos, hasPending, dual, -1));
        });
  }

  /** router-lib's handling of the old owner's answer for moving user {@code u}. */
  private void afterOld(
      Pub p,
      Item item,
      MU u,
      long key,
      OldResult r,
      int pos,
      boolean nodePending,
      boolean dual,
      int channel) {
    if (nodePending) {
      p.discover();
    }
    if (dual) {
      resolve(p, item, u, key, second(u, r, pos), channel);
    } else if (r == OldResult.MISDIRECTED) {
      // router-lib's re-route of a misdirected recipient to its new owner.
      resolve(p, item, u, key, DualRoute.Second.PLAIN, channel);
    } else if (r == OldResult.ACCEPTED && c.relayEarlyPositions()) {
      DualRoute.Second second = second(u, r, pos);
      if (p.mode == DUAL || p.mode == SINGLE_NEW) {
        resolve(p, item, u, key, second, channel);
      } else {
        p.afterFetch.add(() -> resolve(p, item, u, key, second, channel));
      }
    } else {
      ready(p, item, NOTHING);
    }
  }

  /** router-lib's decision ({@link DualRoute#afterOld}) from the old owner's answer. */
  private DualRoute.Second second(MU u, OldResult r, int pos) {
    DualRoute.OldOutcome outcome =
        switch (r) {
          case ACCEPTED, ACCEPTED_WITHOUT_POSITION -> DualRoute.OldOutcome.ACCEPTED;
          case MISDIRECTED -> DualRoute.OldOutcome.MISDIRECTED;
          case FAILED -> DualRoute.OldOutcome.FAILED;
        };
    String position = r == OldResult.ACCEPTED ? position(u, pos) : null;
    return DualRoute.afterOld(outcome, position);
  }

  private String position(MU u, int seq) {
    return epochs[u.oldN] + ":" + seq;
  }

  /** The old seq of an event ID of {@code u}'s old owner. */
  private int seqOf(MU u, String position) {
    if (!position.startsWith(epochs[u.oldN]) || position.charAt(16) != ':') {
      throw new IllegalStateException("not an ID of the old owner: " + position);
    }
    return Integer.parseInt(position.substring(17));
  }

  private void resolve(Pub p, Item item, MU u, long key, DualRoute.Second s, int channel) {
    int code =
        !s.send()
            ? Integer.MIN_VALUE
            : !s.relay() ? 0 : s.position() == null ? -1 : seqOf(u, s.position());
    if (code == Integer.MIN_VALUE) {
      ready(p, item, NOTHING);
    } else if (channel < 0) {
      ready(p, item, () -> toNewUser(p, u, key, code));
    } else {
      ready(p, item, () -> toNewChannel(p, u, key, code, channel, s.relay()));
    }
  }

  private void ready(Pub p, Item item, Runnable action) {
    item.action = action;
    p.flush();
  }

  private void toNewUser(Pub p, MU u, long key, int code) {
    long arrival = p.send(u.newN);
    at(
        arrival,
        () -> {
          if (!pending[u.newN] && !active[u.newN]) {
            f.relaysRefused++;
          } else {
            newAppend(u, key, code);
          }
          long back = p.answer(u.newN, now);
          boolean activeThere = active[u.newN];
          at(
              back,
              () -> {
                if (activeThere) {
                  p.sawActive();
                }
              });
        });
  }

  private void toNewChannel(Pub p, MU u, long key, int code, int channel, boolean listed) {
    long arrival = p.send(u.newN);
    at(
        arrival,
        () -> {
          if (!pending[u.newN] && !active[u.newN]) {
            if (listed) {
              f.relaysRefused++;
            }
            return;
          }
          int bit = bitOf(u, channel);
          if (listed) {
            u.relaySubscribed |= bit;
            newAppend(u, key, code);
          } else if (((u.relaySubscribed & bit) != 0
                  && (active[u.newN] || !c.plainCopyAfterActivation()))
              || u.state == NEW) {
            // A plain copy reaches a relay-subscribed pre-stream only once the new owner has
            // activated (rdup's rule of 2026-12-02 03:00, replacing (j)); a handed-off stream
            // through its client's grants.
            newAppend(u, key, 0);
          }
        });
  }

  private static int bitOf(MU u, int channel) {
    for (int i = 0; i < u.ch.length; i++) {
      if (u.ch[i] == channel) {
        return 1 << i;
      }
    }
    throw new IllegalStateException("not a member");
  }

  private void publishChannel(int channel, Pub p) {
    long key = newKey(p);
    int from = channelStart[channel];
    int to = channelStart[channel + 1];
    Item[] items = new Item[to - from];
    for (int i = from; i < to; i++) {
      expect(mu[channelMembers[i]], key);
      items[i - from] = new Item();
      p.order.addLast(items[i - from]);
    }
    if (p.mode == SINGLE_NEW) {
      // Out of dual mode: every node at once; the old owner's answer is not waited for.
      for (int i = from; i < to; i++) {
        MU u = mu[channelMembers[i]];
        at(p.send(u.oldN), () -> oldAccept(u, key, channel));
        ready(p, items[i - from], () -> toNewChannel(p, u, key, 0, channel, false));
      }
      return;
    }
    if (p.mode != DUAL) {
      // Not yet dual: the old owner's answer decides what the new owner gets (a relay when it
      // reported a position, contract change 2; else a plain copy, reaching relay-subscribed
      // pre-streams and handed-off streams), in publish order.
      for (int i = from; i < to; i++) {
        MU u = mu[channelMembers[i]];
        Item item = items[i - from];
        long arrival = p.send(u.oldN);
        at(
            arrival,
            () -> {
              OldResult r = oldAccept(u, key, channel);
              int pos = u.oldSeq;
              boolean hasPending = pending[u.oldN];
              long back = p.answer(u.oldN, now);
              at(
                  back,
                  () -> {
                    if (hasPending) {
                      p.discover();
                    }
                    if (r == OldResult.ACCEPTED && c.relayEarlyPositions()) {
                      DualRoute.Second second = second(u, r, pos);
                      Runnable relay = () -> resolve(p, item, u, key, second, channel);
                      if (p.mode == DUAL || p.mode == SINGLE_NEW) {
                        relay.run();
                      } else {
                        p.afterFetch.add(relay);
                      }
                    } else {
                      resolve(p, item, u, key, DualRoute.Second.PLAIN, channel);
                    }
                  });
            });
      }
      return;
    }
    // Dual mode: phase 1 losers, 2 unchanged, 3 gainers; each later phase's request carries the
    // relay built from the earlier phases' positions.
    OldResult[] results = new OldResult[to - from];
    int[] positions = new int[to - from];
    phase(p, key, channel, from, to, items, results, positions, 1);
  }

  /**
   * One phase of a dual-mode channel message ({@link DualRoute#channelPhases}): the new owners in
   * this phase get the relay {@link DualRoute#channelRelay} builds from the earlier phases'
   * positions; the old owners in this phase get the message and answer with positions. The next
   * phase starts when every node of this one answered.
   */
  private void phase(
      Pub p,
      long key,
      int channel,
      int from,
      int to,
      Item[] items,
      OldResult[] results,
      int[] positions,
      int phase) {
    if (phase > 3) {
      return;
    }
    int nodesInPhase = phaseNodes[phase];
    if (nodesInPhase == 0) {
      phase(p, key, channel, from, to, items, results, positions, phase + 1);
      return;
    }
    long end = now;
    for (int i = 0; i < nodesInPhase; i++) {
      end = Math.max(end, now + oneWay() + oneWay());
    }
    Map<String, String> earlier = null;
    for (int i = from; i < to; i++) {
      MU u = mu[channelMembers[i]];
      int idx = i - from;
      if (phaseOf[u.newN] == phase) {
        if (earlier == null) {
          earlier = new LinkedHashMap<>();
          for (int j = from; j < to; j++) {
            OldResult r = results[j - from];
            if (r == OldResult.ACCEPTED) {
              earlier.put(
                  FleetMaps.userId(mu[channelMembers[j]].user),
                  position(mu[channelMembers[j]], positions[j - from]));
            } else if (r == OldResult.FAILED
                || (r == null && phaseOf[mu[channelMembers[j]].oldN] >= phase)) {
              // No answer for it before this phase (or its old owner comes later: not lossless).
              earlier.put(FleetMaps.userId(mu[channelMembers[j]].user), null);
            }
          }
        }
        Map<String, String> relay = dual.channelRelay(move.nodeIds().get(u.newN), earlier);
        String id = FleetMaps.userId(u.user);
        if (relay.containsKey(id)) {
          String pos = relay.get(id);
          int code = pos == null ? -1 : seqOf(u, pos);
          ready(p, items[idx], () -> toNewChannel(p, u, key, code, channel, true));
        } else if (results[idx] == OldResult.MISDIRECTED) {
          ready(p, items[idx], () -> toNewChannel(p, u, key, 0, channel, false));
        } else {
          // Stored by the old owner before it held the pending map: the client reads it there.
          ready(p, items[idx], NOTHING);
        }
      }
      if (phaseOf[u.oldN] == phase) {
        long arrival = p.send(u.oldN);
        long back = Math.max(p.back[u.oldN], arrival + oneWay());
        p.back[u.oldN] = back;
        end = Math.max(end, back);
        at(
            arrival,
            () -> {
              results[idx] = oldAccept(u, key, channel);
              positions[idx] = u.oldSeq;
            });
      }
    }
    at(end, () -> phase(p, key, channel, from, to, items, results, positions, phase + 1));
  }

  // ---------------------------------------------------------------- old owner

  /** A message reaching moving user {@code u}'s old owner ({@code channel} -1: a user message). */
  private OldResult oldAccept(MU u, long key, int channel) {
    if (u.finishing && (channel < 0 || !c.finishingKeepsChannels())) {
      return OldResult.MISDIRECTED;
    }
    u.oldKeys = add(u.oldKeys, u.oldSeq, key);
    u.oldSeq++;
    if (u.finishing) {
      f.finishingEvents++;
      f.finishingBytes += c.payloadBytes() + 48;
    }
    boolean positioned = pending[u.oldN];
    if (positioned && u.s == 0) {
      u.s = u.oldSeq;
    }
    if (u.state == OLD && !u.finishing) {
      receive(u, key);
      u.x = u.oldSeq;
      if (u.transport == LONG_POLL) {
        u.state = OLD_GAP;
        at(now + u.rttUs, () -> poll(u));
      }
    }
    return positioned ? OldResult.ACCEPTED : OldResult.ACCEPTED_WITHOUT_POSITION;
  }

  /** A long-poll request (or a returning client) reaching the old owner: replay after x. */
  private void poll(MU u) {
    if (u.state != OLD_GAP) {
      return;
    }
    if (u.finishing && now >= activatedAt[u.oldN] + c.handoffRetentionMs() * 1000) {
      // The finishing stream is gone: moved without handoff, resume by rule 3.
      f.afterRetention++;
      leave(u, false);
      return;
    }
    int upTo = u.finishing ? u.fin : u.oldSeq;
    int replayed = upTo - u.x;
    for (int s = u.x + 1; s <= upTo; s++) {
      receive(u, u.oldKeys[s - 1]);
    }
    u.x = Math.max(u.x, upTo);
    if (u.finishing) {
      leave(u, true);
    } else if (replayed > 0 && u.transport == LONG_POLL) {
      u.state = OLD_GAP;
      at(now + u.rttUs, () -> poll(u));
    } else {
      u.state = OLD;
    }
  }

  private void moved(MU u) {
    if (u.state == OLD) {
      leave(u, true);
    }
    // OLD_GAP: the next request gets replay then moved; OFFLINE: when it comes back.
  }

  /** {@code moved} with handoff: the client leaves for the new owner. */
  private void leave(MU u, boolean handoff) {
    u.f = u.oldSeq;
    u.hadHandoff = handoff;
    u.hs = u.s;
    u.hf = u.f;
    u.state = TRANSIT;
    f.movedSent++;
    if (!u.returner) {
      f.movedDoneMs = Math.max(f.movedDoneMs, now / 1000.0);
    }
    long delay = (long) (2.5 * u.rttUs) + (long) (rnd.nextDouble() * 5000);
    at(now + delay, () -> connectNew(u));
  }

  private void churn(MU u) {
    if (u.state != OLD && u.state != OLD_GAP) {
      return;
    }
    u.state = OFFLINE;
    u.churned = true;
    at(now + exp(c.churnOfflineMs() * 1000.0), () -> comeBack(u));
  }

  private void comeBack(MU u) {
    if (u.state != OFFLINE) {
      return;
    }
    u.state = OLD_GAP;
    poll(u);
  }

  // ---------------------------------------------------------------- new owner

  private long preEvents;
  private long preUsers;
  private final List<long[]> reconnects = new ArrayList<>();

  private void newAppend(MU u, long key, int code) {
    for (int i = u.newCount - 1; i >= 0; i--) {
      if (u.newKeys[i] == key) {
        if (u.newOld[i] == 0 && code != 0) {
          u.newOld[i] = code;
          note(u, code);
        }
        if (u.state == WAITING) {
          decide(u, false);
        }
        return;
      }
    }
    if (u.newCount == u.newKeys.length) {
      u.newKeys = Arrays.copyOf(u.newKeys, u.newCount * 2);
      u.newOld = Arrays.copyOf(u.newOld, u.newCount * 2);
    }
    int i = u.newCount++;
    u.newKeys[i] = key;
    u.newOld[i] = code;
    note(u, code);
    if (u.state == NEW) {
      if (!(c.skipLiveAtOrBelowX() && !u.reset && code > 0 && code <= u.x)) {
        receive(u, key);
      }
    } else {
      if (u.preCount++ == 0) {
        preUsers++;
        f.peakPreStreamUsers = Math.max(f.peakPreStreamUsers, preUsers);
      }
      preEvents++;
      if (preEvents > f.peakPreStreamEvents) {
        f.peakPreStreamEvents = preEvents;
        f.peakPreStreamBytes = preEvents * (c.payloadBytes() + 48);
      }
      if (u.state == WAITING) {
        decide(u, false);
      }
    }
  }

  private void note(MU u, int code) {
    if (code > 0) {
      u.held.add(epochs[u.oldN], code);
    } else if (code < 0) {
      u.held.unknown();
    }
  }

  private void connectNew(MU u) {
    u.connectAt = now;
    u.connectedWhileDual = allDual();
    reconnects.add(new long[] {now, u.newN});
    decide(u, false);
  }

  /** Whether every event the handoff skips (old seq <= X) precedes every event it delivers. */
  private static boolean skippedBeforeDelivered(MU u) {
    boolean delivered = false;
    for (int i = 0; i < u.newCount; i++) {
      boolean skipped = u.newOld[i] > 0 && u.newOld[i] <= u.x;
      if (skipped && delivered) {
        return false;
      }
      delivered |= !skipped;
    }
    return true;
  }

  /**
   * Contract change 5 as node {@code n} knows it: no request declaring only the pending version has
   * reached it yet.
   */
  private boolean stillDualAt(int n) {
    return singleSeenAt[n] > now;
  }

  /** Whether no publisher left dual mode (the global state, earlier than any node knows it). */
  private boolean allDual() {
    for (Pub p : pubs) {
      if (p.mode == SINGLE_NEW) {
        return false;
      }
    }
    return true;
  }

  private void decide(MU u, boolean expired) {
    boolean channelsRelayed = u.relaySubscribed == (1 << u.ch.length) - 1 || !c.checkChannels();
    boolean dual = stillDualAt(u.newN);
    Handoff.Token token =
        u.hadHandoff ? new Handoff.Token(epochs[u.oldN], u.hs > 0 ? u.hs : -1, u.hf) : null;
    Resume r =
        Decisions.handoff(epochs[u.oldN], u.x, token, u.held, expired, channelsRelayed, dual);
    if (r == Resume.RESET_GAP
        && Decisions.handoff(epochs[u.oldN], u.x, token, u.held, expired, true, true)
            == Resume.COVERED) {
      f.resetChannelCheck++;
    }
    if (r == Resume.COVERED && u.hadHandoff && !active[u.newN]) {
      // Rule 4 (rdup, 2026-12-02 03:00): a handoff reaching a new owner that has not activated.
      f.resetBeforeNewOwnersActivation++;
      r = Resume.RESET_GAP;
    }
    if (r == Resume.COVERED && !skippedBeforeDelivered(u)) {
      // The node's rule 5 addition: a skipped event after a delivered one would be repeated by a
      // later resume from a new-node ID.
      f.resetSkippedAfterDelivered++;
      r = Resume.RESET_GAP;
    }
    if (r == Resume.WAIT) {
      u.state = WAITING;
      if (!u.waitScheduled) {
        u.waitScheduled = true;
        f.waited++;
        at(
            now + c.handoffWaitMs() * 1000,
            () -> {
              if (u.state == WAITING) {
                decide(u, true);
              }
            });
      }
      return;
    }
    if (u.waitScheduled) {
      f.maxWaitMs = Math.max(f.maxWaitMs, (now - u.connectAt) / 1000.0);
    }
    if (r == Resume.COVERED) {
      f.covered++;
      if (u.waitScheduled) {
        f.coveredAfterWait++;
        f.maxCoveredWaitMs = Math.max(f.maxCoveredWaitMs, (now - u.connectAt) / 1000.0);
      }
      for (int i = 0; i < u.newCount; i++) {
        int old = u.newOld[i];
        if (!(old > 0 && old <= u.x)) {
          receive(u, u.newKeys[i]);
        }
      }
    } else {
      if (r == Resume.RESET_GAP) {
        f.resetGap++;
      } else {
        f.resetEpoch++;
      }
      if (u.connectedWhileDual) {
        f.resetsWhileDual++;
      }
      if (u.returner) {
        f.resetsOfReturning++;
      } else if (u.churned) {
        f.resetsOfChurned++;
      } else {
        f.resetsOfConnected++;
      }
      u.reset = true;
      if (TRACE && !u.returner && traced++ < 5) {
        trace(u, r);
      }
      for (int i = 0; i < u.newCount; i++) {
        receive(u, u.newKeys[i]);
      }
    }
    u.state = NEW;
    if (u.preCount > 0) {
      preEvents -= u.preCount;
      preUsers--;
      u.preCount = 0;
    }
    if (!u.returner && !u.churned) {
      f.connectedHandedOffMs = Math.max(f.connectedHandedOffMs, now / 1000.0);
    }
    f.lastHandoffMs = Math.max(f.lastHandoffMs, now / 1000.0);
    maybeStop();
  }

  private static final boolean TRACE = Boolean.getBoolean("rsim.trace");
  private int traced;

  private void trace(MU u, Resume r) {
    StringBuilder b = new StringBuilder();
    b.append(
        String.format(
            "TRACE user %d %s at %.3f ms: x=%d S=%d F=%d transport=%d churned=%b old:",
            u.user, r, now / 1000.0, u.x, u.hs, u.hf, u.transport, u.churned));
    for (int i = 0; i < u.oldSeq; i++) {
      b.append(' ')
          .append(i + 1)
          .append('=')
          .append(u.oldKeys[i])
          .append("/p")
          .append(msgPublisher[(int) u.oldKeys[i]]);
    }
    b.append(" | new:");
    for (int i = 0; i < u.newCount; i++) {
      b.append(' ').append(u.newKeys[i]).append('@').append(u.newOld[i]);
    }
    System.out.println(b);
  }

  private void receive(MU u, long key) {
    u.got = add(u.got, u.gotCount++, key);
  }

  // ---------------------------------------------------------------- the end

  private boolean stopScheduled;

  /**
   * Once every publisher left dual mode and every client handed off, publishing stops 2 s later.
   */
  private void maybeStop() {
    if (stopScheduled) {
      return;
    }
    for (Pub p : pubs) {
      if (p.mode != SINGLE_NEW) {
        at(now + 100_000, this::maybeStop);
        return;
      }
    }
    for (MU u : mu) {
      if (u.state != NEW) {
        at(now + 100_000, this::maybeStop);
        return;
      }
    }
    stopScheduled = true;
    long single = 0;
    for (Pub p : pubs) {
      single = Math.max(single, p.singleAt);
    }
    f.publishersSingleMs = single / 1000.0;
    long stop = now + 2_000_000;
    f.stopMs = stop / 1000.0;
    at(stop, () -> publishing = false);
  }

  private void tally() {
    for (MU u : mu) {
      if (u.state != NEW) {
        throw new IllegalStateException("user " + u.user + " ended in state " + u.state);
      }
      long[] want = Arrays.copyOf(u.expect, u.expectCount);
      long[] got = Arrays.copyOf(u.got, u.gotCount);
      if (!u.reset) {
        long[] last = new long[pubs.length];
        Arrays.fill(last, -1);
        for (long k : got) {
          int p = (int) msgPublisher[(int) k];
          if (k < last[p]) {
            f.outOfOrder++;
            if (TRACE && traced++ < 8) {
              trace(u, null);
              StringBuilder b = new StringBuilder("TRACE got:");
              for (long g : got) {
                b.append(' ').append(g).append("/p").append(msgPublisher[(int) g]);
              }
              System.out.println(b);
            }
          }
          last[p] = Math.max(last[p], k);
        }
      }
      Arrays.sort(want);
      Arrays.sort(got);
      int i = 0;
      int j = 0;
      long missing = 0;
      long dup = 0;
      while (i < want.length) {
        if (j < got.length && got[j] == want[i]) {
          j++;
          while (j < got.length && got[j] == want[i]) {
            dup++;
            j++;
          }
          i++;
        } else if (j < got.length && got[j] < want[i]) {
          j++;
        } else {
          missing++;
          i++;
        }
      }
      if (u.reset) {
        f.coveredByReset += missing;
      } else {
        f.lost += missing;
        f.duplicated += dup;
      }
    }
    // Peak reconnects per second (1 s sliding window) at the busiest new owner.
    reconnects.sort((a, b) -> Long.compare(a[0], b[0]));
    int[] inWindow = new int[nodeCount];
    int[] peak = new int[nodeCount];
    int head = 0;
    for (long[] r : reconnects) {
      while (reconnects.get(head)[0] <= r[0] - 1_000_000) {
        inWindow[(int) reconnects.get(head)[1]]--;
        head++;
      }
      int n = (int) r[1];
      inWindow[n]++;
      peak[n] = Math.max(peak[n], inWindow[n]);
    }
    int best = 0;
    for (int n = 0; n < nodeCount; n++) {
      if (peak[n] > peak[best]) {
        best = n;
      }
    }
    f.peakReconnectsPerSecond = peak[best];
    f.peakReconnectNode = move.nodeIds().get(best);
  }
}
