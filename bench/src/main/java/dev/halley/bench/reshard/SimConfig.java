package dev.halley.bench.reshard;

import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.List;

/**
 * The assumptions of one resharding simulation ({@link ReshardModel}). Every figure the simulation
 * prints follows from these and the seed; {@link #parse} reads {@code name=value} arguments.
 *
 * <p>Example: {@code SimConfig.defaults().with("users", "50000").with("nodes", "5")}
 *
 * @param users users of the fleet ({@code "user-0"} ..)
 * @param nodes nodes before the scale-out ({@code nodes + 1} after it)
 * @param seed seed of every random choice (the simulation is deterministic)
 * @param onlineFraction share of users with a live connection when the reshard starts
 * @param wsFraction share of online clients on WebSocket, {@code sseFraction} on SSE; the rest on
 *     long-poll (between two requests for one RTT after each delivery)
 * @param sseFraction see wsFraction
 * @param userMessagesPerUserSecond messages addressed to one user per second
 * @param channels channels of the fleet
 * @param channelsPerUser channels each user is subscribed to (members chosen by hash)
 * @param channelMessagesPerSecond messages per channel per second
 * @param payloadBytes data of one message; an event counts data + 48 bytes (as bufferMaxBytes)
 * @param publishers app servers (router-lib Publisher instances)
 * @param requestsPerPublisherSecond publish requests one publisher sends to the fleet per second
 *     (all users, not only moving ones: this is how fast it discovers the pending map)
 * @param appLatencyMs mean one-way latency app server to node (0.3 ms + exponential)
 * @param clientRttMs median round trip browser to node (log-normal, sigma 0.6)
 * @param movedSpreadMs node option: moved sends spread over this (0 = at once)
 * @param handoffWaitMs node option: how long a handoff resume waits for relays
 * @param handoffRetentionMs node option: how long finishing streams are kept
 * @param dualGraceMs router-lib option ({@code dualGrace}, default 60 s): dual mode kept after the
 *     pending version is seen active
 * @param cliPollMs how often {@code halley reshard} polls the nodes' state in step 3
 * @param cliCallMs one admin call of the CLI (install, activate), sequential per node
 * @param churnFraction share of online moving clients that drop during the cut-over and come back
 *     after an exponential offline time of mean {@code churnOfflineMs}
 * @param churnOfflineMs see churnFraction
 * @param returnWindowMs clients offline when the reshard starts come back spread over this window
 *     from the start (to their old owner, as their cached map says)
 * @param finishingKeepsChannels contract change 1: a channel message reaching a finishing stream is
 *     stored with a position (false: the contract as first written)
 * @param relayEarlyPositions contract change 2: positions received before dual mode are relayed
 * @param skipLiveAtOrBelowX contract change 3: live events with old position <= X are skipped
 * @param checkChannels contract change 5: a handoff is covered only if the token's channels are
 *     relay-subscribed on the stream or (with a handoff) every publisher is still dual
 * @param plainCopyAfterActivation rdup's rule (2026-12-02 03:00, replacing (j)): a plain channel
 *     message reaches a relay-subscribed pre-stream only after the new owner's own activation
 *     (false: also before it)
 */
public record SimConfig(
    int users,
    int nodes,
    long seed,
    double onlineFraction,
    double wsFraction,
    double sseFraction,
    double userMessagesPerUserSecond,
    int channels,
    int channelsPerUser,
    double channelMessagesPerSecond,
    int payloadBytes,
    int publishers,
    double requestsPerPublisherSecond,
    double appLatencyMs,
    double clientRttMs,
    long movedSpreadMs,
    long handoffWaitMs,
    long handoffRetentionMs,
    long dualGraceMs,
    long cliPollMs,
    double cliCallMs,
    double churnFraction,
    long churnOfflineMs,
    long returnWindowMs,
    boolean finishingKeepsChannels,
    boolean relayEarlyPositions,
    boolean skipLiveAtOrBelowX,
    boolean checkChannels,
    boolean plainCopyAfterActivation) {

  /** Issue 14's fleet: 100 nodes, 10 million users; see docs/operations.md for the rationale. */
  public static SimConfig defaults() {
    return new SimConfig(
        10_000_000,
        100,
        1,
        0.3,
        0.6,
        0.25,
        0.01,
        100_000,
        2,
        0.05,
        200,
        50,
        1000,
        1.0,
        60,
        2000,
        5000,
        60_000,
        60_000,
        500,
        2,
        0.02,
        3000,
        30_000,
        true,
        true,
        true,
        true,
        true);
  }

  /** This configuration with option {@code name} set to {@code value} (parsed by its type). */
  public SimConfig with(String name, String value) {
    RecordComponent[] components = SimConfig.class.getRecordComponents();
    Object[] values = new Object[components.length];
    Class<?>[] types = new Class<?>[components.length];
    boolean found = false;
    try {
      for (int i = 0; i < components.length; i++) {
        RecordComponent rc = components[i];
        types[i] = rc.getType();
        values[i] = rc.getAccessor().invoke(this);
        if (rc.getName().equals(name)) {
          found = true;
          values[i] = parse(rc.getType(), name, value);
        }
      }
      if (!found) {
        throw new IllegalArgumentException(
            name + " is not an option; options: " + String.join(", ", names()));
      }
      return SimConfig.class.getDeclaredConstructor(types).newInstance(values);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Applies {@code name=value} arguments to {@link #defaults()}. */
  public static SimConfig parse(SimConfig base, String... args) {
    SimConfig c = base;
    for (String a : args) {
      int eq = a.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("expected name=value: " + a);
      }
      c = c.with(a.substring(0, eq), a.substring(eq + 1));
    }
    return c;
  }

  static List<String> names() {
    List<String> names = new ArrayList<>();
    for (RecordComponent rc : SimConfig.class.getRecordComponents()) {
      names.add(rc.getName());
    }
    return names;
  }

  private static Object parse(Class<?> type, String name, String value) {
    try {
      if (type == int.class) {
        return Integer.parseInt(value.replace("_", ""));
      } else if (type == long.class) {
        return Long.parseLong(value.replace("_", ""));
      } else if (type == double.class) {
        return Double.parseDouble(value);
      } else if (type == boolean.class) {
        if (!value.equals("true") && !value.equals("false")) {
          throw new NumberFormatException();
        }
        return Boolean.parseBoolean(value);
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a " + type + ": " + value, e);
    }
    throw new IllegalStateException("unsupported type " + type);
  }
}
