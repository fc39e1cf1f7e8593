package dev.halley.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.it.fleet.Await;
import dev.halley.it.fleet.Fleet;
import dev.halley.it.fleet.KeyedTraffic;
import dev.halley.it.fleet.NodeContainer;
import dev.halley.it.fleet.Reshard;
import dev.halley.it.fleet.Scenario;
import dev.halley.it.fleet.StreamClient;
import dev.halley.router.Publisher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * Issue 14's proof on a container fleet: live resharding 3 → 4 and back 4 → 3 under about 5,000
 * messages per second to users and channels, published through one router-lib {@link Publisher}
 * (dual mode from the nodes' pending map), following docs/operations.md's runbook step by step
 * through the admin API ({@link Reshard}, the steps of {@code ./halley reshard}), so that a client
 * can go offline between dual mode and activation. Clients on WebSocket, SSE and long-poll; every
 * message has a key (its idempotency key), so a message received twice is found even when two nodes
 * delivered it.
 *
 * <p>Per transport and group, exact counts of published / received / duplicated / reset: clients
 * that stay connected lose nothing, see nothing twice and get no {@code reset}, whether the map
 * moves their user (one {@code moved} per reshard, resumed on the new owner by the handoff) or not
 * (one connection for the whole test). A client offline during the cut-over for less than its
 * buffer covers comes back with no reset; one that missed more than its buffer holds (a burst of
 * {@code bufferMaxEvents} + 100 messages while it was away) gets exactly one honest {@code reset}
 * per reshard, and every message it did not receive was published before that reset.
 */
class ReshardIT {
  private static final int BUFFER_MAX_EVENTS = 2000;
  private static final int MOVERS = 4; // connected movers per transport
  private static final int STAYERS = 4; // connected stayers per transport
  private static final int CHANNELS = 6;

  /**
   * A channel every observed user is subscribed to by the API (router-lib's {@code subscribe})
   * before the first pending map: its owner then holds the subscription, which nobody repeats to
   * the new owner, so it reaches there only as the carried state of the moved clients' handoffs
   * (protocol.md, "Carried state"), 3 → 4 and back.
   */
  private static final String API_CHANNEL = "reshard-api";

  private static final int PER_CHANNEL = 4; // messages per channel per round
  private static final long PERIOD_MS = 100;

  /**
   * The old owners keep a moved user's stream this long, and publishers stay in dual mode as long
   * (docs/operations.md: dualGrace at least handoffRetentionMs). The reshard's last steps wait for
   * both: offline users' streams are finishing until retention ends.
   */
  private static final Duration RETENTION = Duration.ofSeconds(20);

  /**
   * Users without a client that make up the rate: with the observed users' and the channels'
   * messages, 5,180 messages/s offered (a message to n users counts n).
   */
  private static final int LOAD_USERS = Integer.getInteger("halley.reshard.loadUsers", 460);

  private static final int LOAD_GROUP = 10; // load users per message

  /** What router-lib reported: retries, failed and unknown recipients, lost relays (by node). */
  private static final Map<String, java.util.concurrent.atomic.LongAdder> EVENTS =
      new java.util.concurrent.ConcurrentHashMap<>();

  private static final dev.halley.router.PublisherListener PUBLISHER_EVENTS =
      new dev.halley.router.PublisherListener() {
        private void count(String what, long n) {
          EVENTS.computeIfAbsent(what, k -> new java.util.concurrent.atomic.LongAdder()).add(n);
        }

        @Override
        public void requestFailed(
            String node, String kind, int messages, String reason, Duration latency) {
          count("requestFailed " + node + " " + reason, 1);
        }

        @Override
        public void retryScheduled(String node, int attempt, Duration delay) {
          count("retry " + node, 1);
        }

        @Override
        public void recipientsFailed(String node, String reason, int count) {
          count("recipientsFailed " + node + " " + reason, count);
        }

        @Override
        public void recipientsUnknown(String node, String reason, int count) {
          count("recipientsUnknown " + node + " " + reason, count);
        }

        @Override
        public void relaysLost(String node, String reason, int count) {
          count("relaysLost " + node + " " + reason, count);
        }
      };

  @Test
  void reshardsThreeToFourAndBackUnderLoadWithoutLossDuplicatesOrResets() {
    String yaml =
        Fleet.defaultNodeYaml()
            + "bufferMaxEvents: "
            + BUFFER_MAX_EVENTS
            + "\n"
            + "connectionQueueMaxEvents: "
            + (2 * BUFFER_MAX_EVENTS + 2)
            + "\n"
            + "handoffRetentionMs: "
            + RETENTION.toMillis()
            + "\n";
    try (Fleet fleet = Fleet.start(yaml, Map.of(), "a", "b", "c");
        Publisher publisher =
            fleet.publisher(
                b ->
                    b.maxBlock(Duration.ofSeconds(10))
                        .dualGrace(RETENTION)
                        .listener(PUBLISHER_EVENTS))) {
      ClusterMap v1 = fleet.map();
      ClusterMap v2 = fleet.mapOf(2, "a", "b", "c", "d");
      ClusterMap v3 = fleet.mapOf(3, "a", "b", "c");
      Predicate<String> moves = u -> v2.owner(u).id().equals("d");

      List<String> channels = new ArrayList<>();
      for (int i = 0; i < CHANNELS; i++) {
        channels.add("reshard-room-" + i);
      }
      Map<String, List<String>> channelOf = new LinkedHashMap<>();
      Map<String, List<StreamClient>> groups = new LinkedHashMap<>();
      for (String g : List.of("movers", "stayers", "offlineShort", "offlineLong")) {
        groups.put(g, new ArrayList<>());
      }
      List<StreamClient> all = new ArrayList<>();
      for (StreamClient.Transport t : StreamClient.Transport.values()) {
        Map<String, Integer> wanted =
            Map.of("movers", MOVERS, "stayers", STAYERS, "offlineShort", 1, "offlineLong", 1);
        Map<String, Integer> have = new LinkedHashMap<>();
        for (int i = 0; have.values().stream().mapToInt(x -> x).sum() < 10; i++) {
          String u = "rs-" + t.name().toLowerCase() + "-" + i;
          String group;
          if (!moves.test(u)) {
            group = "stayers";
          } else if (have.getOrDefault("movers", 0) < MOVERS) {
            group = "movers";
          } else if (have.getOrDefault("offlineShort", 0) < 1) {
            group = "offlineShort";
          } else {
            group = "offlineLong";
          }
          if (have.getOrDefault(group, 0) >= wanted.get(group)) {
            continue;
          }
          have.merge(group, 1, Integer::sum);
          String channel = channels.get(all.size() % CHANNELS);
          channelOf.put(u, List.of(channel, API_CHANNEL));
          StreamClient c = fleet.client(u, t, List.of(channel));
          groups.get(group).add(c);
          all.add(c);
        }
      }
      List<String> load = new ArrayList<>();
      for (int i = 0; i < LOAD_USERS; i++) {
        load.add("rs-load-" + i);
      }
      List<StreamClient> connected = new ArrayList<>(groups.get("movers"));
      connected.addAll(groups.get("stayers"));
      List<StreamClient> offline = new ArrayList<>(groups.get("offlineShort"));
      offline.addAll(groups.get("offlineLong"));
      List<StreamClient> moving = new ArrayList<>(groups.get("movers"));
      moving.addAll(offline);

      Scenario.awaitConnected(all);
      for (StreamClient c : all) {
        assertTrue(
            publisher.subscribe(c.user, API_CHANNEL).join().contains(API_CHANNEL),
            "API subscription of " + c.user);
      }
      List<String> published = new ArrayList<>(channels);
      published.add(API_CHANNEL);
      try (KeyedTraffic traffic =
          new KeyedTraffic(
                  publisher,
                  Scenario.users(all),
                  published,
                  PER_CHANNEL,
                  load,
                  LOAD_GROUP,
                  PERIOD_MS)
              .start()) {
        traffic.awaitRounds(10);
        System.out.printf(
            "reshard: %d clients connected, traffic %.0f msg/s in %.0f publishes/s (target %.0f)%n",
            all.size(), traffic.achievedRate(), traffic.publishRate(), traffic.targetRate());

        // Scale out: d starts on the active map (which does not list it: it owns nobody yet).
        NodeContainer d = fleet.startNode("d", v1);
        List<NodeContainer> nodes = fleet.nodes();
        List<String> steps = new ArrayList<>();
        steps.addAll(reshard(fleet, traffic, nodes, v1, v2, groups, moving, 1));
        Map<String, KeyedTraffic.Tally> afterOut = tallies(traffic, groups, channelOf);
        Map<String, Double> carriedToD = awaitCarried(List.of(d), moving.size());
        traffic.awaitRounds(10);

        // Scale in: the same users move back from d to their old owners.
        steps.addAll(reshard(fleet, traffic, nodes, v2, v3, groups, moving, 2));
        traffic.awaitRounds(10);
        Await.until(
            () ->
                d.metric("halley_connections{transport=\"websocket\"}")
                        + d.metric("halley_connections{transport=\"sse\"}")
                        + d.metric("halley_connections{transport=\"longpoll\"}")
                    == 0,
            () ->
                "d has no connections left: d metrics ws/sse/longpoll "
                    + d.metric("halley_connections{transport=\"websocket\"}")
                    + "/"
                    + d.metric("halley_connections{transport=\"sse\"}")
                    + "/"
                    + d.metric("halley_connections{transport=\"longpoll\"}")
                    + ", d state "
                    + d.admin("GET", "/v1/admin/map/state", null).body()
                    + ", clients last on d: "
                    + all.stream().filter(c -> "d".equals(c.node())).toList(),
            Duration.ofSeconds(30));
        traffic.stop();
        Map<String, Double> carriedBack = awaitCarried(nodes.subList(0, 3), moving.size());
        long exit = d.sigterm();

        // Deliveries trail the last publishes: wait until every group is settled (or fail below).
        try {
          Await.until(
              () ->
                  tallies(traffic, groups, channelOf).values().stream()
                      .allMatch(ReshardIT::settled),
              () ->
                  "every message received or reset-covered: " + tallies(traffic, groups, channelOf),
              Duration.ofSeconds(60));
        } catch (AssertionError e) {
          // the assertions below say what is missing
        }
        Map<String, KeyedTraffic.Tally> totals = tallies(traffic, groups, channelOf);
        StringBuilder record = new StringBuilder();
        record
            .append(String.format("rate %.0f msg/s", traffic.achievedRate()))
            .append(String.format(" in %.0f publishes/s", traffic.publishRate()))
            .append(String.format(" (target %.0f msg/s)", traffic.targetRate()))
            .append(", rounds skipped ")
            .append(traffic.skippedRounds())
            .append(", carried to d ")
            .append(carriedToD)
            .append(", carried back ")
            .append(carriedBack)
            .append(", messages ")
            .append(traffic.messages())
            .append(" in ")
            .append(traffic.published())
            .append(" publishes")
            .append(", load outcomes ")
            .append(traffic.loadStatuses())
            .append(", router-lib events ")
            .append(new java.util.TreeMap<>(EVENTS))
            .append(" | steps ")
            .append(steps);
        totals.forEach((k, v) -> record.append(" | ").append(k).append(' ').append(v));
        record.append(" | after 3->4: ");
        afterOut.forEach(
            (k, v) -> record.append(k).append(" resets ").append(v.resets).append("; "));
        Scenario.record("reshard", record.toString());

        assertEquals(143, exit, "d stopped cleanly after its users left");
        for (Map<String, Double> m : List.of(carriedToD, carriedBack)) {
          // Every moving client's user had the API subscription: each resume brought and applied
          // it.
          assertTrue(m.get("applied") >= moving.size(), "carried states applied: " + m);
          assertEquals(0.0, m.get("not_applied") + m.get("stale") + m.get("invalid"), m.toString());
        }
        Map<String, Long> load0 = traffic.loadStatuses();
        assertEquals(
            load0.getOrDefault("DELIVERED", 0L) + load0.getOrDefault("BUFFERED", 0L),
            load0.values().stream().mapToLong(x -> x).sum(),
            "every load message stored: " + load0);
        for (Map.Entry<String, KeyedTraffic.Tally> e : totals.entrySet()) {
          KeyedTraffic.Tally t = e.getValue();
          String what = e.getKey() + ": " + t;
          assertTrue(t.published > 0, what);
          assertEquals(0, t.failed + t.noOutcome, "every publish accepted: " + what);
          assertEquals(0, t.lost(), "nothing lost: " + what);
          assertEquals(0, t.duplicates, "nothing twice: " + what);
          assertEquals(0, t.outOfOrder, "in order: " + what);
          assertEquals(0, t.unexpected + t.withoutKey, "every message keyed and owed: " + what);
          if (e.getKey().startsWith("offlineLong")) {
            assertEquals(Map.of("gap", 2 * t.clients), t.resetReasons, "one reset each: " + what);
            assertTrue(t.resetCovered > 0, what);
            assertEquals(
                1 * t.clients,
                afterOut.get(e.getKey()).resets,
                "exactly one reset in the scale-out: " + afterOut.get(e.getKey()));
          } else {
            assertEquals(0, t.resets, "no reset: " + what);
            assertEquals(t.published, t.received, "everything received: " + what);
          }
          if (e.getKey().startsWith("stayers")) {
            assertEquals(0, t.moved, what);
            assertEquals(t.clients, t.connections, "no interruption: " + what);
          } else {
            assertEquals(2 * t.clients, t.moved, "moved once each way: " + what);
          }
        }
      } finally {
        Scenario.closeAll(all);
        dumpLogs(all);
      }
    }
  }

  /**
   * One reshard {@code from} → {@code to} under the traffic, with the offline clients: the long
   * ones go away before it and miss more than their buffer holds, the short ones go away once the
   * publishers are in dual mode; both come back after the activation.
   */
  private static List<String> reshard(
      Fleet fleet,
      KeyedTraffic traffic,
      List<NodeContainer> nodes,
      ClusterMap from,
      ClusterMap to,
      Map<String, List<StreamClient>> groups,
      List<StreamClient> moving,
      int expectMoved) {
    Reshard r = new Reshard(nodes, from, to);
    r.check();
    for (StreamClient c : groups.get("offlineLong")) {
      c.pause();
      traffic.burst(c.user, BUFFER_MAX_EVENTS + 100);
    }
    r.installPending();
    r.awaitPublishersDual();
    for (StreamClient c : groups.get("offlineShort")) {
      c.pause();
    }
    traffic.awaitRounds(5); // messages the short-offline clients miss in the old owner's buffer
    r.activate();
    // The operator's ConfigMap update: nodes' and publisher's map files follow the activated map.
    for (NodeContainer n : nodes) {
      fleet.writeMap(n, to);
    }
    fleet.writePublisherMap(to);
    traffic.awaitRounds(5);
    for (StreamClient c : groups.get("offlineShort")) {
      c.resume();
    }
    for (StreamClient c : groups.get("offlineLong")) {
      c.resume();
    }
    Await.until(
        () -> moving.stream().allMatch(c -> c.moved() >= expectMoved),
        () -> "every moving client followed moved: " + moving,
        Duration.ofSeconds(60));
    r.awaitFinishingDrained();
    r.awaitPublishersOnNew();
    return r.log();
  }

  /** Each client's record in target/reshard-clients.log, for a failed run. */
  private static void dumpLogs(List<StreamClient> clients) {
    try {
      java.nio.file.Path dir = java.nio.file.Path.of("target");
      StringBuilder b = new StringBuilder();
      for (StreamClient c : clients) {
        b.append(c).append(" handoffs ").append(c.handoffs()).append('\n');
        c.trace().forEach(t -> b.append("  ").append(t).append('\n'));
      }
      java.nio.file.Files.writeString(dir.resolve("reshard-clients.log"), b.toString());
    } catch (java.io.IOException | RuntimeException e) {
      System.out.println("reshard: logs not written: " + e);
    }
  }

  private static boolean settled(KeyedTraffic.Tally t) {
    return t.accountedFor() && (t.resets > 0 || t.received == t.published);
  }

  /**
   * {@link #carried} once {@code nodes} applied at least {@code n} carried states (or after 30 s:
   * the assertions say what is missing).
   */
  private static Map<String, Double> awaitCarried(List<NodeContainer> nodes, int n) {
    try {
      Await.until(
          () -> carried(nodes).get("applied") >= n,
          () -> n + " carried states applied: " + carried(nodes),
          Duration.ofSeconds(30));
    } catch (AssertionError e) {
      // the assertions after the traffic say what is missing
    }
    return carried(nodes);
  }

  /** {@code halley_handoff_carried_total} by result, summed over {@code nodes}. */
  private static Map<String, Double> carried(List<NodeContainer> nodes) {
    Map<String, Double> out = new java.util.TreeMap<>();
    for (String r : List.of("sent", "applied", "not_applied", "stale", "invalid")) {
      double sum = 0;
      for (NodeContainer n : nodes) {
        sum += n.metric("halley_handoff_carried_total{result=\"" + r + "\"}");
      }
      out.put(r, sum);
    }
    return out;
  }

  /** Tallies per group and transport ("movers/WEBSOCKET", ...). */
  private static Map<String, KeyedTraffic.Tally> tallies(
      KeyedTraffic traffic,
      Map<String, List<StreamClient>> groups,
      Map<String, List<String>> channelOf) {
    Map<String, KeyedTraffic.Tally> out = new LinkedHashMap<>();
    groups.forEach(
        (g, clients) -> {
          for (StreamClient.Transport t : StreamClient.Transport.values()) {
            List<StreamClient> of = clients.stream().filter(c -> c.transport == t).toList();
            out.put(g + "/" + t, traffic.tally(of, channelOf));
          }
        });
    return out;
  }
}
