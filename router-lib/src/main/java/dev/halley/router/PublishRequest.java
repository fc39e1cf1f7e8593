package dev.halley.router;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.router.PublishResult.NodeResult;
import dev.halley.router.PublishResult.Status;
import dev.halley.router.internal.DualRoute;
import dev.halley.router.internal.DualRoute.OldOutcome;
import dev.halley.router.internal.DualRoute.Second;
import dev.halley.router.internal.NodeClient;
import dev.halley.router.internal.Wire;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One publish request to one node, through the {@link NodeClient} (which retries it after no answer
 * or a 5xx, with the same body, so the same idempotency keys). Reads each recipient's outcome from
 * the node's reply as stated, never guessing one: users the node lists as {@code pending} (an
 * earlier attempt is still running there) are asked again, {@code misdirected} ones are re-routed,
 * anything unstated is UNKNOWN. A 400/413 on a batch of several messages is re-sent one message per
 * request, one after the other, so one bad message fails only itself and order is kept.
 */
final class PublishRequest {
  private static final String KIND = "publish";
  private static final JsonFactory FACTORY = new JsonFactory();

  private final ClusterPublisher publisher;
  private final NodeLane lane;
  private final List<Fragment> batch;
  private final Runnable onDone;
  // When this request was made (it is sent at once; retries of it go later): a reply may describe
  // the node's maps as they were then.
  private final long sentNanos = System.nanoTime();

  PublishRequest(ClusterPublisher publisher, NodeLane lane, List<Fragment> batch, Runnable onDone) {
    this.publisher = publisher;
    this.lane = lane;
    this.batch = batch;
    AtomicBoolean once = new AtomicBoolean();
    this.onDone =
        () -> {
          if (once.compareAndSet(false, true)) {
            onDone.run();
          }
        };
  }

  void start() {
    send(1, null);
  }

  /**
   * Sends the batch starting at attempt {@code attempt}; {@code reachedBy} (why an earlier attempt
   * may have been processed, or null) carries over.
   */
  private void send(int attempt, String reachedBy) {
    long deadline = Long.MAX_VALUE;
    for (Fragment f : batch) {
      deadline = Math.min(deadline, f.deadlineNanos);
    }
    NodeClient.Call call =
        new NodeClient.Call(
            lane.nodeId,
            KIND,
            batch.size(),
            lane::publishUri,
            "POST",
            body(batch),
            attempt,
            deadline);
    publisher
        .client
        .send(call)
        .whenComplete(
            (result, error) -> {
              try {
                if (error != null) {
                  finish(Status.UNKNOWN, Wire.BAD_REPLY);
                } else {
                  onResult(result, result.mayHaveReached() ? result.reachedBy() : reachedBy);
                }
              } catch (RuntimeException e) {
                // Never leave a caller's future hanging on a bug in reply handling.
                finish(Status.UNKNOWN, Wire.BAD_REPLY);
              }
            });
  }

  private void onResult(NodeClient.Result result, String reachedBy) {
    if (!result.answered()) {
      // Sent and perhaps processed: UNKNOWN, for the reason it may have been; else not stored.
      if (reachedBy == null) {
        finish(Status.FAILED, result.failure());
      } else {
        boolean closed = NodeClient.CLOSED.equals(result.failure());
        finish(Status.UNKNOWN, closed ? NodeClient.CLOSED : reachedBy);
      }
      return;
    }
    int status = result.status();
    JsonNode reply = result.body();
    if (status == 200) {
      if (reply == null || !reply.path("results").isArray()) {
        finish(Status.UNKNOWN, Wire.BAD_REPLY);
      } else {
        onResults(result.attempt(), reachedBy, reply);
      }
      return;
    }
    String code = Wire.errorCode(reply, status);
    if (status >= 500) {
      if (reachedBy != null) {
        finish(Status.UNKNOWN, reachedBy);
      } else {
        finish(Status.FAILED, code); // a 503: refused before any work
      }
    } else if (status == 421) {
      // The whole request was refused as not owned: nothing stored, re-route every user.
      int mapVersion = reply == null ? Integer.MAX_VALUE : reply.path("mapVersion").asInt(0);
      List<Reroute> reroutes = new ArrayList<>();
      for (Fragment f : batch) {
        if (f.users != null) {
          f.tracker.hold(); // for the re-route, which releases it
          reroutes.add(new Reroute(f, all(f)));
          f.tracker.release();
        } else {
          settle(f, Status.FAILED, code);
        }
      }
      publisher.reroute(reroutes, lane.nodeId, mapVersion);
      onDone.run();
    } else if ((status == 400 || status == 413) && batch.size() > 1) {
      resendOneByOne(0);
    } else {
      finish(Status.FAILED, code); // refused as a whole before anything was stored
    }
  }

  /**
   * A fragment's users reported misdirected, by index into its user list; the fragment's tracker
   * holds once more for it until the re-route has dispatched.
   */
  record Reroute(Fragment fragment, int[] indices) {}

  /** The reply's {@code pendingMapVersion}, or null. */
  private static Integer publisherPending(JsonNode reply) {
    JsonNode v = reply.get("pendingMapVersion");
    return v != null && v.canConvertToInt() ? v.asInt() : null;
  }

  private void onResults(int attempt, String reachedBy, JsonNode reply) {
    int mapVersion = reply.path("mapVersion").asInt(0);
    JsonNode pendingVersion = reply.get("pendingMapVersion");
    publisher.observe(
        lane.nodeId,
        mapVersion,
        pendingVersion != null && pendingVersion.canConvertToInt() ? pendingVersion.asInt() : null,
        sentNanos);
    JsonNode results = reply.get("results");
    Map<String, JsonNode> byId = new HashMap<>();
    for (JsonNode r : results) {
      byId.putIfAbsent(r.path("id").asText(), r);
    }
    List<Fragment> again = new ArrayList<>();
    List<Reroute> reroutes = new ArrayList<>();
    for (int i = 0; i < batch.size(); i++) {
      Fragment f = batch.get(i);
      JsonNode r = results.get(i);
      if (r == null || !f.wireId.equals(r.path("id").asText())) {
        r = byId.get(f.wireId);
      }
      if (r == null) {
        settle(f, Status.UNKNOWN, Wire.BAD_REPLY);
      } else if (f.users != null) {
        userResult(f, r, again, reroutes);
      } else if ("pending".equals(r.path("status").asText())) {
        again.add(f);
      } else if (r.has("connections")) {
        Map<String, String> positions = positions(r);
        if (f.phases != null) {
          Integer pending = publisherPending(reply);
          f.phases.positions(f, positions, mapVersion, pending);
        } else if (!positions.isEmpty() && !f.silent) {
          publisher.lateChannelRelay(f, positions); // the node knows a pending map we do not
        }
        if (f.silent) {
          release(f, null);
          continue;
        }
        f.tracker.node(
            new NodeResult(
                lane.nodeId,
                Status.DELIVERED,
                r.path("users").asInt(0),
                r.path("connections").asInt(0),
                null));
        release(f, null);
      } else {
        settle(f, Status.UNKNOWN, Wire.BAD_REPLY);
      }
    }
    publisher.reroute(reroutes, lane.nodeId, mapVersion);
    if (again.isEmpty()) {
      onDone.run();
      return;
    }
    // Ask again (same keys) once the earlier attempt has finished on the node; keep the slot.
    int next = attempt + 1;
    long deadline = Long.MAX_VALUE;
    for (Fragment f : again) {
      deadline = Math.min(deadline, f.deadlineNanos);
    }
    Duration delay = publisher.client.retryDelay(next, deadline);
    if (delay == null) {
      for (Fragment f : again) {
        settle(f, Status.UNKNOWN, "pending");
      }
      onDone.run();
      return;
    }
    publisher.listener.retryScheduled(lane.nodeId, next, delay);
    PublishRequest retry = new PublishRequest(publisher, lane, again, onDone);
    publisher.client.schedule(
        () -> retry.send(next, reachedBy), () -> retry.finish(Status.UNKNOWN, "closed"), delay);
  }

  /**
   * Reads the lists of one user fragment's result; every user is in at most one of them. In dual
   * mode (or when the node reports {@code positions}), a moving user's second send to its new owner
   * is decided here from this answer ({@link DualRoute#afterOld}) and takes the user's place in the
   * order keeper before this fragment's users are settled.
   */
  private void userResult(Fragment f, JsonNode r, List<Fragment> again, List<Reroute> reroutes) {
    Map<String, Status> stated = new HashMap<>();
    put(stated, r.get("delivered"), Status.DELIVERED);
    put(stated, r.get("buffered"), Status.BUFFERED);
    put(stated, r.get("dropped"), Status.FAILED);
    Set<String> misdirected = strings(r.get("misdirected"));
    Set<String> pending = strings(r.get("pending"));
    Map<String, String> positions = positions(r);
    List<Integer> settled = new ArrayList<>();
    List<Integer> moved = new ArrayList<>();
    List<Integer> waiting = new ArrayList<>();
    List<ClusterPublisher.SecondSend> seconds = new ArrayList<>();
    List<Integer> late = new ArrayList<>();
    int unstated = 0;
    int refusedRelays = 0;
    for (int i = 0; i < f.users.size(); i++) {
      String user = f.users.get(i);
      Status s = stated.get(user);
      boolean moving = !f.silent && f.route != null && f.route.user(user).moving();
      if (s != null) {
        if (!f.silent) {
          f.tracker.user(user, s, lane.nodeId, s == Status.FAILED ? "not_connected" : null);
        }
        settled.add(i);
        OldOutcome outcome = s == Status.FAILED ? OldOutcome.DROPPED : OldOutcome.ACCEPTED;
        if (moving) {
          second(seconds, i, outcome, positions.get(user));
        } else if (!f.silent && f.route == null && positions.get(user) != null) {
          late.add(i); // the node knows a pending map we do not know yet
        }
      } else if (misdirected.contains(user)) {
        if (f.silent) {
          settled.add(i); // the new owner refused a relay: the old owner's outcome stands
          refusedRelays++;
        } else if (moving) {
          second(seconds, i, OldOutcome.MISDIRECTED, null); // the old owner activated already
          settled.add(i); // its second send is registered on its own
        } else {
          moved.add(i);
        }
      } else if (pending.contains(user)) {
        waiting.add(i);
      } else {
        if (!f.silent) {
          f.tracker.user(user, Status.UNKNOWN, lane.nodeId, Wire.BAD_REPLY);
        }
        settled.add(i);
        unstated++;
        if (moving) {
          second(seconds, i, OldOutcome.UNKNOWN, null);
        }
      }
    }
    if (unstated > 0) {
      publisher.listener.recipients(f, lane.nodeId, Status.UNKNOWN, Wire.BAD_REPLY, unstated);
    }
    if (refusedRelays > 0 && f.users != null) {
      // A new owner without the pending map (installed on an old owner first): not silent.
      publisher.listener.relaysLost(lane.nodeId, Wire.MISDIRECTED, refusedRelays);
    }
    if (!moved.isEmpty()) {
      f.tracker.hold(); // for the re-route, which releases it
      reroutes.add(new Reroute(f, ints(moved)));
    }
    if (!waiting.isEmpty()) {
      again.add(publisher.split(f, ints(waiting), lane.nodeId, f.reroutes, true));
    }
    if (!seconds.isEmpty()) {
      publisher.sendSeconds(f, seconds, f.route);
    }
    if (!late.isEmpty()) {
      publisher.lateSeconds(f, ints(late), positions);
    }
    release(f, ints(settled));
  }

  private static void second(
      List<ClusterPublisher.SecondSend> seconds, int index, OldOutcome outcome, String position) {
    Second second = DualRoute.afterOld(outcome, position);
    if (second.send()) {
      seconds.add(new ClusterPublisher.SecondSend(index, second, DualRoute.reportsOld(outcome)));
    }
  }

  /** A result's {@code positions}: user to the event ID the node gave the message. */
  private static Map<String, String> positions(JsonNode r) {
    JsonNode p = r.get("positions");
    if (p == null || !p.isObject() || p.isEmpty()) {
      return Map.of();
    }
    Map<String, String> positions = new HashMap<>();
    p.fields()
        .forEachRemaining(
            e -> {
              if (e.getValue().isTextual()) {
                positions.put(e.getKey(), e.getValue().asText());
              }
            });
    return positions;
  }

  /** Each message alone, the next once the previous has its outcome. */
  private void resendOneByOne(int index) {
    if (index == batch.size()) {
      onDone.run();
      return;
    }
    new PublishRequest(publisher, lane, List.of(batch.get(index)), () -> resendOneByOne(index + 1))
        .start();
  }

  /** Gives every fragment of the batch {@code status} with {@code reason}; frees the slot. */
  private void finish(Status status, String reason) {
    for (Fragment f : batch) {
      settle(f, status, reason);
    }
    onDone.run();
  }

  private void settle(Fragment f, Status status, String reason) {
    publisher.listener.recipients(f, lane.nodeId, status, reason, f.recipients());
    f.tracker.settleAll(f, status, reason);
    if (f.users != null && f.route != null && !f.silent && !NodeClient.CLOSED.equals(reason)) {
      // The old owner failed or did not answer: the new owner gets it with relay null.
      List<ClusterPublisher.SecondSend> seconds = new ArrayList<>();
      OldOutcome outcome = status == Status.FAILED ? OldOutcome.FAILED : OldOutcome.UNKNOWN;
      for (int i = 0; i < f.users.size(); i++) {
        if (f.route.user(f.users.get(i)).moving()) {
          second(seconds, i, outcome, null);
        }
      }
      if (!seconds.isEmpty()) {
        publisher.sendSeconds(f, seconds, f.route);
      }
    }
    release(f, null);
  }

  /**
   * Settles {@code f}'s recipients at {@code indices} (all when null) in the order keeper, then
   * releases the fragment from its tracker; the caller has moved any unsettled users elsewhere.
   */
  private void release(Fragment f, int[] indices) {
    publisher.settled(f, indices);
    f.tracker.release();
  }

  private static int[] all(Fragment f) {
    int[] all = new int[f.users.size()];
    for (int i = 0; i < all.length; i++) {
      all[i] = i;
    }
    return all;
  }

  private static int[] ints(List<Integer> list) {
    int[] out = new int[list.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = list.get(i);
    }
    return out;
  }

  private static void put(Map<String, Status> into, JsonNode array, Status status) {
    if (array != null && array.isArray()) {
      for (JsonNode n : array) {
        into.putIfAbsent(n.asText(), status);
      }
    }
  }

  private static Set<String> strings(JsonNode array) {
    if (array == null || !array.isArray() || array.isEmpty()) {
      return Set.of();
    }
    Set<String> set = new HashSet<>(array.size() * 2);
    for (JsonNode n : array) {
      set.add(n.asText());
    }
    return set;
  }

  /** {@code {"messages": [...]}} with each fragment's pre-serialized data written raw. */
  static byte[] body(List<Fragment> batch) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(256 + 128 * batch.size());
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      g.writeStartObject();
      g.writeArrayFieldStart("messages");
      for (Fragment f : batch) {
        g.writeStartObject();
        g.writeStringField("id", f.wireId);
        if (f.users != null) {
          g.writeArrayFieldStart("users");
          for (String user : f.users) {
            g.writeString(user);
          }
          g.writeEndArray();
        } else {
          g.writeStringField("channel", f.channel);
        }
        g.writeFieldName("data");
        g.writeRawValue(f.dataJson);
        if (f.ttlMs != null) {
          g.writeNumberField("ttlMs", f.ttlMs);
        }
        if (f.conflationKey != null) {
          g.writeStringField("conflationKey", f.conflationKey);
        }
        Map<String, String> relay = f.relay;
        if (relay != null && !relay.isEmpty()) {
          g.writeObjectFieldStart("relay");
          for (Map.Entry<String, String> e : relay.entrySet()) {
            if (e.getValue() == null) {
              g.writeNullField(e.getKey());
            } else {
              g.writeStringField(e.getKey(), e.getValue());
            }
          }
          g.writeEndObject();
        }
        if (f.relayIncomplete) {
          g.writeBooleanField("relayIncomplete", true);
        }
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // writing to memory does not fail
    }
    return out.toByteArray();
  }
}
