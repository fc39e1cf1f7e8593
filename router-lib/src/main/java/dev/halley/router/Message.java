package dev.halley.router;

import dev.halley.router.internal.Ids;
import java.time.Duration;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * One message to publish: its recipients (some users, or one channel), its data, and options.
 *
 * <pre>{@code
 * publisher.publish(
 *     Message.toUsers("alice", "bob")
 *         .data(Map.of("text", "hi"))
 *         .idempotencyKey("order-42-shipped")   // default: a generated unique key
 *         .ttl(Duration.ofMinutes(5)));         // default: the node's buffer policy
 * publisher.publish(Message.toChannel("room:1").data("hello room"));
 * }</pre>
 *
 * <p>Immutable and thread-safe: every {@code with}-style method returns a copy. Recipients are
 * checked when the message is built (user IDs non-empty, at most 256 UTF-8 bytes; channels 1-128
 * characters of {@code [A-Za-z0-9_.:@/-]}), so a bad one throws {@link IllegalArgumentException}
 * here rather than failing on the wire.
 */
public final class Message {
  private final List<String> users;
  private final String channel;
  private final Object data;
  private final String idempotencyKey;
  private final Duration ttl;
  private final String conflationKey;

  private Message(
      List<String> users,
      String channel,
      Object data,
      String idempotencyKey,
      Duration ttl,
      String conflationKey) {
    this.users = users;
    this.channel = channel;
    this.data = data;
    this.idempotencyKey = idempotencyKey;
    this.ttl = ttl;
    this.conflationKey = conflationKey;
  }

  /** A message to these users (duplicates are dropped, order kept); data defaults to JSON null. */
  public static Message toUsers(String... users) {
    return toUsers(List.of(users));
  }

  /** A message to these users (duplicates are dropped, order kept); data defaults to JSON null. */
  public static Message toUsers(Collection<String> users) {
    Objects.requireNonNull(users, "users");
    Set<String> unique = new LinkedHashSet<>();
    for (String user : users) {
      unique.add(Ids.checkUser(user));
    }
    if (unique.isEmpty()) {
      throw new IllegalArgumentException("a message needs at least one user");
    }
    return new Message(List.copyOf(unique), null, null, null, null, null);
  }

  /** A message to every subscriber of {@code channel}, on every node. */
  public static Message toChannel(String channel) {
    return new Message(null, Ids.checkChannel(channel), null, null, null, null);
  }

  /**
   * The payload: any value Jackson can serialize (a {@code JsonNode}, a map, a record, a string),
   * serialized once when published.
   */
  public Message data(Object data) {
    return new Message(users, channel, data, idempotencyKey, ttl, conflationKey);
  }

  /**
   * The idempotency key sent as the message {@code id} (default: a generated key, unique per
   * publish: a random per-publisher prefix and a counter). A repeat inside the node's idempotency
   * window is not delivered again to the same recipient, so retries are safe; reuse a key only for
   * the same message (for example to retry a result's UNKNOWN users with {@code
   * idempotencyKey(result.id())}). Nodes remember a key per recipient, so every part of a message
   * carries it unchanged. 1-256 characters.
   */
  public Message idempotencyKey(String key) {
    Objects.requireNonNull(key, "key");
    if (key.isEmpty() || key.length() > 256) {
      throw new IllegalArgumentException("idempotency key must be 1-256 characters: " + key);
    }
    return new Message(users, channel, data, key, ttl, conflationKey);
  }

  /**
   * How long the message may wait in a disconnected user's buffer (milliseconds on the wire;
   * default: none sent, the node's policy applies). {@link Duration#ZERO} means live connections
   * only, never buffered.
   */
  public Message ttl(Duration ttl) {
    Objects.requireNonNull(ttl, "ttl");
    if (ttl.isNegative()) {
      throw new IllegalArgumentException("ttl must be >= 0: " + ttl);
    }
    return new Message(users, channel, data, idempotencyKey, ttl, conflationKey);
  }

  /**
   * A conflation key (1..128 characters, e.g. a market symbol): a newer message with the same key
   * replaces this one on a connection that has not written it yet, so a slow client gets the latest
   * value (docs/protocol.md, "Conflation"). Default: none.
   */
  public Message conflationKey(String key) {
    Objects.requireNonNull(key, "key");
    if (key.isEmpty() || key.length() > 128) {
      throw new IllegalArgumentException("conflation key must be 1-128 characters: " + key);
    }
    return new Message(users, channel, data, idempotencyKey, ttl, key);
  }

  /** The conflation key, or null. */
  public String conflationKey() {
    return conflationKey;
  }

  /** The users, or an empty list for a channel message. */
  public List<String> users() {
    return users == null ? List.of() : users;
  }

  /** The channel, or null for a message to users. */
  public String channel() {
    return channel;
  }

  public Object data() {
    return data;
  }

  /** The caller's key, or null when the publisher generates one. */
  public String idempotencyKey() {
    return idempotencyKey;
  }

  /** The TTL, or null when none is set. */
  public Duration ttl() {
    return ttl;
  }

  @Override
  public String toString() {
    return "Message{"
        + (channel != null ? "channel=" + channel : "users=" + users)
        + (idempotencyKey != null ? ", key=" + idempotencyKey : "")
        + (ttl != null ? ", ttl=" + ttl : "")
        + (conflationKey != null ? ", conflationKey=" + conflationKey : "")
        + "}";
  }
}
