package dev.halley.node.publish;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.HandOff;
import dev.halley.node.stream.UserStream;
import dev.halley.node.wire.Json;
import dev.halley.node.wire.Message;
import dev.halley.node.wire.PublishStatus;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * Delivers validated publish requests: each message is serialized once into a shared {@link
 * Message} and appended to each recipient's {@link UserStream} (which queues the same reference on
 * every live connection). Never blocks; runs on a publish thread ({@code publishThreads}), and
 * hands each IO thread one flush task per request ({@link HandOff}).
 */
public final class FanOut {
  /** One validated message of a publish request. */
  record Item(
      String id,
      List<String> users,
      String channel,
      byte[] data,
      Long ttlMs,
      String conflationKey,
      java.util.Map<String, Object> relay,
      boolean relayIncomplete) {
    Item(String id, List<String> users, String channel, byte[] data, Long ttlMs) {
      this(id, users, channel, data, ttlMs, null, null, false);
    }

    Item(
        String id,
        List<String> users,
        String channel,
        byte[] data,
        Long ttlMs,
        String conflationKey) {
      this(id, users, channel, data, ttlMs, conflationKey, null, false);
    }
  }

  private final NodeContext node;
  private final Idempotency idempotency;

  public FanOut(NodeContext node) {
    this.node = node;
    this.idempotency =
        new Idempotency(
            node.config.idempotencyWindowMs(),
            node.config.idempotencyMaxKeys(),
            node.config.idempotencyMaxBytes(),
            node.clock);
    node.ops.metrics().idempotency(this::idempotencyBytes, this::idempotencyKeys);
  }

  /** The idempotency window (tests reserve keys in it to stand for a request in flight). */
  Idempotency idempotency() {
    return idempotency;
  }

  /** Estimated bytes of the idempotency window now (for the metrics gauge). */
  public long idempotencyBytes() {
    return idempotency.bytes();
  }

  /** Idempotency keys remembered now (for the metrics gauge). */
  public int idempotencyKeys() {
    return idempotency.keys();
  }

  /**
   * Publishes every item in order; returns the reply body. Once a recipient is {@code pending}
   * (another request with the same key is still publishing to it), this request stops: that
   * message's pending recipients and every later message are answered {@code pending} without being
   * looked at, so a retry never overtakes the attempt it repeats.
   */
  ObjectNode publish(List<Item> items) {
    return reply(items).toTree();
  }

  /** {@link #publish(List)}, as the reply that is written to the publisher. */
  PublishReply reply(List<Item> items) {
    // The map lock's read side: a user found owned is delivered to before a map switch (which
    // then moves it) or found misdirected after it, never buffered on a stream the map change has
    // already passed over.
    java.util.concurrent.locks.Lock lock = node.mapReadLock();
    lock.lock();
    try {
      dev.halley.cluster.ClusterMap pendingMap = node.core.pending();
      PublishReply reply =
          new PublishReply(
              node.nodeId, node.map().version(), pendingMap == null ? -1 : pendingMap.version());
      boolean stopped = false;
      // A plain channel message reaches the pre-streams relayed that channel only once this node
      // has activated (issue 14). Before, the user's old owner still serves it (it activates after
      // this node) and got the same message: what it stored it delivers itself, and reports for a
      // relay when it holds the pending map. A plain copy here would be one the client already has
      // whenever the old owner stored it without a position (it did not hold the pending map yet,
      // or its answer was lost), and the handoff could not skip it.
      boolean plainToRelayed = pendingMap == null;
      HandOff batch = HandOff.begin(); // one flush task per IO thread for the whole request
      try {
        for (Item item : items) {
          PublishReply.Result result =
              stopped
                  ? new PublishReply.Tree(pending(item))
                  : publishOne(item, pendingMap, plainToRelayed);
          stopped = stopped || PublishStatus.PENDING.equals(result.status());
          reply.add(result);
          node.streams.budget().enforce(); // no stream lock held here
        }
      } finally {
        batch.end();
      }
      return reply;
    } finally {
      lock.unlock();
    }
  }

  private static ObjectNode pending(Item item) {
    ObjectNode result = Json.MAPPER.createObjectNode();
    if (item.id() != null) {
      result.put("id", item.id());
    }
    result.put("status", PublishStatus.PENDING);
    if (item.channel() != null) {
      result.put("channel", item.channel());
    } else {
      ArrayNode pending = result.putArray("pending");
      new LinkedHashSet<>(item.users()).forEach(pending::add);
    }
    return result;
  }

  private PublishReply.Result publishOne(
      Item item, dev.halley.cluster.ClusterMap pendingMap, boolean plainToRelayed) {
    long now = node.clock.millis();
    long expires = item.ttlMs() == null ? Long.MAX_VALUE : saturatedAdd(now, item.ttlMs());
    return item.channel() != null
        ? new PublishReply.Tree(publishToChannel(item, now, expires, pendingMap, plainToRelayed))
        : publishToUsers(item, now, expires, pendingMap);
  }

  /** Whether a user message to {@code user} is taken here (issue 14: also into its pre-stream). */
  private boolean owns(String user) {
    return node.owns(user) || node.gains(user);
  }

  /** Whether a relay for {@code user} applies here: this node is its new owner (or gains it). */
  private boolean relayedHere(String user, dev.halley.cluster.ClusterMap pendingMap) {
    return node.gains(user) || (node.owns(user) && !movingAway(user, pendingMap));
  }

  /** Whether this node owns {@code user} now and the pending map moves it to another node. */
  private boolean movingAway(String user, dev.halley.cluster.ClusterMap pendingMap) {
    return pendingMap != null
        && !pendingMap.owner(user).id().equals(node.nodeId)
        && node.owns(user);
  }

  private ObjectNode publishToChannel(
      Item item,
      long now,
      long expires,
      dev.halley.cluster.ClusterMap pendingMap,
      boolean plainToRelayed) {
    ObjectNode result = Json.MAPPER.createObjectNode();
    if (item.id() != null) {
      result.put("id", item.id());
    }
    result.put("channel", item.channel());
    long[] known = item.id() == null ? null : idempotency.reserveChannel(item.id(), item.channel());
    if (known != null && known.length == 0) {
      result.put("status", PublishStatus.PENDING);
      return result;
    }
    int users = 0;
    long connections = 0;
    if (known != null) {
      users = (int) known[0];
      connections = known[1];
      if (item.relay() != null) {
        // A repeat with a relay: each old owner's reply gave the publisher the positions of its own
        // moving users, so one channel message reaches this node once per old owner, each time
        // with a relay naming other users (issue 14). A listed user whose stream holds the key has
        // that event annotated; the others get the event now; a stream holds each key and each
        // relayed old position at most once.
        relayAgain(item, now, expires, pendingMap);
      }
      // Restate the first outcome's positions: a publisher whose first answer was lost relays them.
      Idempotency.ChannelPositions kept = idempotency.channelPositions(item.id(), item.channel());
      if (kept != null) {
        ObjectNode positions = result.putObject("positions");
        for (int i = 0; i < kept.users().length; i++) {
          positions.put(kept.users()[i], node.codec.id(kept.seqs()[i]));
        }
      }
    } else {
      Message m = message(item, item.channel(), now, expires);
      ObjectNode positions = Json.MAPPER.createObjectNode();
      java.util.function.Supplier<long[]> fan =
          () -> fanOut(item, m, now, pendingMap, plainToRelayed, positions);
      long[] counts =
          node.latest.applies(item.channel())
              ? node.latest.publish(item.channel(), m, fan)
              : fan.get();
      if (!positions.isEmpty()) {
        result.set("positions", positions);
      }
      users = (int) counts[0];
      connections = counts[1];
      if (item.id() != null) {
        idempotency.completeChannel(
            item.id(), item.channel(), users, connections, channelPositions(positions));
      }
    }
    result.put("status", known != null ? PublishStatus.DUPLICATE : PublishStatus.ACCEPTED);
    result.put("users", users);
    result.put("connections", connections);
    return result;
  }

  private PublishReply.Result publishToUsers(
      Item item, long now, long expires, dev.halley.cluster.ClusterMap pendingMap) {
    // A one-user message (the unicast shape) has no repeats to remove.
    List<String> users =
        item.users().size() == 1 ? item.users() : List.copyOf(new LinkedHashSet<>(item.users()));
    ObjectNode positions = null; // created for the first position to report
    long[] seqOut = null; // created for the first user whose position is reported
    int[] codes;
    long[] digests = item.id() == null ? null : idempotency.digests(users);
    if (item.id() != null) {
      boolean[] owned = new boolean[users.size()];
      for (int i = 0; i < owned.length; i++) {
        owned[i] = owns(users.get(i));
      }
      codes = idempotency.reserveUsers(item.id(), digests, owned);
    } else {
      codes = new int[users.size()];
      for (int i = 0; i < codes.length; i++) {
        codes[i] = owns(users.get(i)) ? Idempotency.NEW : Idempotency.MISDIRECTED;
      }
    }
    Message m = null;
    long[] seqs = null;
    // Without a key the codes are NEW or MISDIRECTED, read once each before the outcome of the
    // same user is written: the one array holds both (one array less per message).
    int[] outcomes = item.id() == null ? codes : new int[codes.length];
    boolean fresh = false;
    boolean remembered = false;
    for (int i = 0; i < codes.length; i++) {
      remembered |= codes[i] >= Idempotency.BUFFERED;
      if (codes[i] == Idempotency.NEW) {
        if (m == null) {
          m = message(item, null, now, expires);
        }
        String u = users.get(i);
        boolean report = movingAway(u, pendingMap);
        Object old = null;
        if (!report && item.relay() != null) {
          // The new owner (before or after its activation): the old owner's position of this
          // message, or none (plain).
          old = item.relay().get(u);
        }
        if (report && seqOut == null) {
          seqOut = new long[1];
        }
        int n = deliver(u, m, now, old, report, report ? seqOut : null);
        if (report && seqOut[0] >= 0) {
          if (positions == null) {
            positions = Json.MAPPER.createObjectNode();
          }
          positions.put(u, node.codec.id(seqOut[0]));
          if (digests != null) {
            if (seqs == null) {
              seqs = new long[codes.length];
              java.util.Arrays.fill(seqs, Idempotency.NO_POSITION);
            }
            seqs[i] = seqOut[0]; // kept with the outcome: a repeat restates it
          }
        }
        outcomes[i] =
            n > 0 ? Idempotency.delivered(n) : n == 0 ? Idempotency.BUFFERED : Idempotency.DROPPED;
        fresh = true;
      } else {
        outcomes[i] = codes[i];
        if (codes[i] >= Idempotency.BUFFERED && item.relay() != null) {
          annotate(users.get(i), item, now, pendingMap);
        }
      }
    }
    if (item.id() != null && fresh) {
      idempotency.completeUsers(item.id(), digests, codes, outcomes, seqs);
    }
    if (remembered) {
      // A repeat: restate the positions of the first outcome (issue 14), so that a publisher whose
      // first answer was lost still relays the old owner's position instead of an unknown one.
      long[] kept = idempotency.positions(item.id(), digests);
      for (int i = 0; kept != null && i < codes.length; i++) {
        if (codes[i] >= Idempotency.BUFFERED && kept[i] >= 0) {
          if (positions == null) {
            positions = Json.MAPPER.createObjectNode();
          }
          positions.put(users.get(i), node.codec.id(kept[i]));
        }
      }
    }
    return new PublishReply.Users(item.id(), users, outcomes, positions, remembered, fresh);
  }

  /**
   * Appends a channel message to every subscribed stream, and (issue 14) to the pre-streams of the
   * users its {@code relay} lists; the seq given to each moving user's stream goes into {@code
   * positions}. Returns {users, connections}.
   */
  private long[] fanOut(
      Item item,
      Message m,
      long now,
      dev.halley.cluster.ClusterMap pendingMap,
      boolean plainToRelayed,
      ObjectNode positions) {
    long users = 0;
    long connections = 0;
    long[] seqOut = new long[1];
    java.util.Map<String, Object> relay = item.relay();
    if (relay != null) {
      for (java.util.Map.Entry<String, Object> e : relay.entrySet()) {
        if (!relayedHere(e.getKey(), pendingMap)) {
          continue; // the old owner, or neither: an ordinary subscriber below, if at all
        }
        int n = deliver(e.getKey(), m, now, e.getValue(), false, seqOut);
        if (n >= 0 || seqOut[0] >= 0) {
          users++;
          connections += Math.max(0, n);
        }
      }
    }
    for (UserStream s : node.streams.subscribers(item.channel())) {
      if (relay != null && relay.containsKey(s.user()) && relayedHere(s.user(), pendingMap)) {
        continue; // appended with its position above
      }
      if (item.relayIncomplete() && node.movedIn(s.user())) {
        // An old owner stored this message without reporting a position (it did not hold the
        // pending map yet): a user the relay does not list may have it from there already, and a
        // copy here would reach the client again after its handoff (issue 14).
        continue;
      }
      // A finishing stream (moved away by the activation) reports what it stores too.
      boolean report = movingAway(s.user(), pendingMap) || s.finishing() != null;
      // A pre-stream before this node's activation: its API subscriptions take no plain copy.
      boolean pre = !plainToRelayed && !report && node.gains(s.user());
      int n = s.publish(m, now, null, report, plainToRelayed, pre, seqOut);
      if (n >= 0) {
        users++;
        connections += n;
        if (report && seqOut[0] >= 0) {
          positions.put(s.user(), node.codec.id(seqOut[0]));
        }
      }
    }
    return new long[] {users, connections};
  }

  /**
   * {@code item} as a message on {@code channel} (null: a user message), accepted at {@code now},
   * kept until {@code expires}.
   */
  private static Message message(Item item, String channel, long now, long expires) {
    return new Message(
        tail(item.data(), channel, item.id()),
        channel,
        now,
        expires,
        item.conflationKey(),
        item.id());
  }

  /**
   * The relay of a channel message this node has accepted before (same key): a listed user whose
   * stream holds the key has that event annotated ({@link UserStream#annotate}); the others get it
   * appended if they do not hold that old position yet ({@link UserStream#publish} skips a position
   * it holds); an entry of {@code null} (the old owner's outcome unknown) for a stream without the
   * key marks it as not covered, without a second copy.
   */
  private void relayAgain(
      Item item, long now, long expires, dev.halley.cluster.ClusterMap pendingMap) {
    Message m = message(item, item.channel(), now, expires);
    for (java.util.Map.Entry<String, Object> e : item.relay().entrySet()) {
      if (!relayedHere(e.getKey(), pendingMap)) {
        continue;
      }
      UserStream held = node.streams.get(e.getKey());
      if (held != null && held.annotate(item.id(), e.getValue(), now) != UserStream.KEY_ABSENT) {
        continue; // the stream holds this key: annotated, or it knew the position already
      }
      if (e.getValue() instanceof dev.halley.node.wire.EventCodec.EventId) {
        deliver(e.getKey(), m, now, e.getValue(), false, null);
      } else {
        node.streams.getOrCreate(e.getKey()).unknownOldPosition();
      }
    }
  }

  /**
   * A repeat of {@code item}'s key carries a relay for {@code user}: where this node is the user's
   * new owner, the event its stream already holds for that key learns the old owner's position
   * (issue 14: a stream holds each key once; no second copy).
   */
  private void annotate(
      String user, Item item, long now, dev.halley.cluster.ClusterMap pendingMap) {
    Object old = item.relay().get(user);
    if (old == null || !relayedHere(user, pendingMap)) {
      return;
    }
    UserStream s = node.streams.get(user);
    if (s != null) {
      s.annotate(item.id(), old, now);
    }
  }

  /** The seqs of a channel result's {@code positions} (user to {@code epoch:seq}), or null. */
  private static Idempotency.ChannelPositions channelPositions(ObjectNode positions) {
    if (positions.isEmpty()) {
      return null;
    }
    String[] users = new String[positions.size()];
    long[] seqs = new long[users.length];
    int i = 0;
    for (java.util.Iterator<java.util.Map.Entry<String, JsonNode>> it = positions.fields();
        it.hasNext();
        i++) {
      java.util.Map.Entry<String, JsonNode> e = it.next();
      String id = e.getValue().asText();
      users[i] = e.getKey();
      seqs[i] = Long.parseLong(id.substring(id.lastIndexOf(':') + 1));
    }
    return new Idempotency.ChannelPositions(users, seqs);
  }

  /** Connections written to; 0 if buffered; -1 if live-only and the user has no stream. */
  private int deliver(String user, Message m, long now) {
    return deliver(user, m, now, null, false, null);
  }

  /**
   * {@link #deliver(String, Message, long)} with the old owner's position {@code old} (a relay to a
   * pre-stream; a live-only message still gets an entry, created if needed, for contiguity) and
   * {@code report} (this node is the old owner: the seq goes to {@code seqOut}).
   */
  private int deliver(String user, Message m, long now, Object old, boolean report, long[] seqOut) {
    while (true) {
      UserStream s =
          m.liveOnly() && old == null ? node.streams.get(user) : node.streams.getOrCreate(user);
      if (s == null) {
        if (seqOut != null) {
          seqOut[0] = -1;
        }
        return -1;
      }
      int n = s.publish(m, now, old, report, false, seqOut);
      if (n >= 0) {
        return n == 0 && m.liveOnly() ? -1 : n;
      }
      if (s.finishing() != null) {
        return -1; // cannot happen for an owned user; never loops
      }
    }
  }

  /**
   * The shared bytes after {@code "data":}: the data, the message's {@code key} (its idempotency
   * key, if any; issue 14), the channel field, the closing brace.
   */
  private static byte[] tail(byte[] data, String channel, String key) {
    if (channel == null && key == null) {
      byte[] t = java.util.Arrays.copyOf(data, data.length + 1); // a user message: data + "}"
      t[data.length] = '}';
      return t;
    }
    String keyPart = key == null ? "" : ",\"key\":" + Json.MAPPER.valueToTree(key).toString();
    byte[] suffix =
        (keyPart + (channel == null ? "}" : ",\"channel\":\"" + channel + "\"}"))
            .getBytes(StandardCharsets.UTF_8);
    byte[] t = new byte[data.length + suffix.length];
    System.arraycopy(data, 0, t, 0, data.length);
    System.arraycopy(suffix, 0, t, data.length, suffix.length);
    return t;
  }

  private static long saturatedAdd(long a, long b) {
    long r = a + b;
    return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
  }
}
