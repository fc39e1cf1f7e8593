package dev.halley.router;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What happened to one published message: per user for a message to users, per node for a channel.
 *
 * <pre>{@code
 * PublishResult r = publisher.publish(List.of("alice", "bob"), data).join();
 * r.outcome("alice").status();          // DELIVERED, BUFFERED, FAILED or UNKNOWN
 * r.failed().forEach((user, o) -> log.warn("{} not reached: {}", user, o.reason()));
 * if (!r.unknown().isEmpty()) {         // no node said what happened: retry with the same key
 *   publisher.publish(Message.toUsers(r.unknown().keySet()).data(data).idempotencyKey(r.id()));
 * }
 * }</pre>
 *
 * <p>A result is immutable. A publish future never completes exceptionally because a node failed:
 * that node's recipients are {@link Status#FAILED} or {@link Status#UNKNOWN} with a reason, and the
 * others keep their own outcome. Every DELIVERED, BUFFERED and FAILED is what a node stated, or
 * what must be true because the request never reached one; nothing is inferred.
 *
 * <p>FAILED reasons (the message is not stored): the node's error code when it refused the request
 * (e.g. {@code api_key_invalid}, {@code message_too_large}, {@code too_many_recipients}, or the
 * code of a 503), {@code not_connected} (a TTL-zero message and the user had no live connection),
 * {@code unreachable} (no connection could be opened, after retries), {@code timeout} (never sent:
 * it waited in the queue, or was still connecting, when its time ran out), {@code misdirected} (no
 * node admits owning the user even after a map refresh), {@code backlog_full} (the node's send
 * queue was full: see {@link Publisher.Builder#maxQueuedMessages}), {@code no_node} (the map has no
 * node), {@code closed} (the publisher was closed before it was sent).
 *
 * <p>UNKNOWN reasons (the message was sent and may or may not be stored): {@code timeout} (no
 * answer within the request timeout, after retries), {@code connection_lost} (the connection broke
 * after the request was sent), {@code server_error} (a 5xx other than 503), {@code pending} (the
 * node was still processing an earlier attempt when the attempts ran out), {@code bad_reply} (the
 * reply did not state this recipient's outcome), {@code closed} (the publisher was closed while it
 * was in flight).
 */
public final class PublishResult {

  /** What happened to one recipient. */
  public enum Status {
    /** Handed to at least one live connection of the user. */
    DELIVERED,
    /** The user had no live connection: the message waits in the user's buffer for a resume. */
    BUFFERED,
    /** Not stored anywhere; {@link Outcome#reason()} says why. */
    FAILED,
    /**
     * Sent, but no node stated what happened (a timeout, a lost connection, ...): the message may
     * be stored and delivered, or not. Retrying with the same idempotency key ({@link
     * PublishResult#id()}) within the node's idempotency window delivers it at most once.
     */
    UNKNOWN
  }

  /**
   * One user's outcome.
   *
   * @param status what happened
   * @param node the ID of the node that answered for the user (the last one tried when failed; null
   *     if none was)
   * @param reason null unless {@code FAILED} or {@code UNKNOWN}: a code from the lists in {@link
   *     PublishResult}
   */
  public record Outcome(Status status, String node, String reason) {
    public Outcome {
      Objects.requireNonNull(status, "status");
    }

    public boolean failed() {
      return status == Status.FAILED;
    }

    public boolean unknown() {
      return status == Status.UNKNOWN;
    }
  }

  /**
   * One node's part of a channel publish.
   *
   * @param node the node ID
   * @param status {@code DELIVERED} when the node took the message (it reached {@code connections}
   *     connections of {@code users} subscribed users, possibly none), else {@code FAILED} or
   *     {@code UNKNOWN}
   * @param users how many subscribed users of the channel the node holds (0 unless DELIVERED)
   * @param connections how many connections the message was written to (0 unless DELIVERED)
   * @param reason null when DELIVERED, else a reason code from the lists in {@link PublishResult}
   */
  public record NodeResult(String node, Status status, int users, int connections, String reason) {
    public NodeResult {
      Objects.requireNonNull(status, "status");
    }

    public boolean failed() {
      return status == Status.FAILED;
    }

    public boolean unknown() {
      return status == Status.UNKNOWN;
    }
  }

  private final String id;
  private final String channel;
  private final Map<String, Outcome> outcomes;
  private final List<NodeResult> nodes;

  /** Builds a result; the library does this, applications only read results. */
  public PublishResult(
      String id, String channel, Map<String, Outcome> outcomes, List<NodeResult> nodes) {
    this.id = Objects.requireNonNull(id, "id");
    this.channel = channel;
    this.outcomes = Map.copyOf(outcomes);
    this.nodes = List.copyOf(nodes);
  }

  /** The idempotency key the message was sent with (the caller's, or the generated one). */
  public String id() {
    return id;
  }

  /** The channel of a channel message, else null. */
  public String channel() {
    return channel;
  }

  /** Every user's outcome (empty for a channel message). */
  public Map<String, Outcome> outcomes() {
    return outcomes;
  }

  /** One user's outcome, or null if the user was not a recipient. */
  public Outcome outcome(String user) {
    return outcomes.get(user);
  }

  /** Per node results of a channel message (empty for a message to users). */
  public List<NodeResult> nodes() {
    return nodes;
  }

  /** The users whose outcome is {@code FAILED}, in no particular order. */
  public Map<String, Outcome> failed() {
    Map<String, Outcome> failed = new LinkedHashMap<>();
    outcomes.forEach(
        (user, outcome) -> {
          if (outcome.failed()) {
            failed.put(user, outcome);
          }
        });
    return failed;
  }

  /** The users whose outcome is {@code UNKNOWN}, in no particular order. */
  public Map<String, Outcome> unknown() {
    Map<String, Outcome> unknown = new LinkedHashMap<>();
    outcomes.forEach(
        (user, outcome) -> {
          if (outcome.unknown()) {
            unknown.put(user, outcome);
          }
        });
    return unknown;
  }

  /** True when every user and node is DELIVERED or BUFFERED (none FAILED or UNKNOWN). */
  public boolean succeeded() {
    return outcomes.values().stream().noneMatch(o -> o.failed() || o.unknown())
        && nodes.stream().noneMatch(n -> n.failed() || n.unknown());
  }

  @Override
  public String toString() {
    return "PublishResult{id="
        + id
        + (channel != null ? ", channel=" + channel + ", nodes=" + nodes : ", outcomes=" + outcomes)
        + "}";
  }
}
