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
 * r.outcome("alice").status();          // DELIVERED, BUFFERED or FAILED
 * r.failed().forEach((user, o) -> log.warn("{} not reached: {}", user, o.reason()));
 * }</pre>
 *
 * <p>A result is immutable. A publish future never completes exceptionally because a node failed:
 * that node's recipients are {@link Status#FAILED} with a reason, and the others keep their own
 * outcome.
 *
 * <p>Failure reasons: the node's error code when it answered one (e.g. {@code api_key_invalid},
 * {@code message_too_large}, {@code too_many_recipients}), or {@code timeout} (no answer within the
 * request timeout, after retries), {@code unreachable} (connection refused or broken, after
 * retries), {@code server_error} (5xx after retries), {@code misdirected} (no node admits owning
 * the user even after a map refresh), {@code backlog_full} (the node's send queue was full: see
 * {@link Publisher.Builder#maxQueuedMessages}), {@code no_node} (the map has no node), {@code
 * closed} (the publisher was closed first), {@code bad_reply} (the node's reply was unreadable).
 */
public final class PublishResult {

  /** What happened to one recipient. */
  public enum Status {
    /** Handed to at least one live connection of the user. */
    DELIVERED,
    /** The user had no live connection: the message waits in the user's buffer for a resume. */
    BUFFERED,
    /** Not stored anywhere; {@link Outcome#reason()} says why. */
    FAILED
  }

  /**
   * One user's outcome.
   *
   * @param status what happened
   * @param node the ID of the node that answered for the user (the last one tried when failed; null
   *     if none was)
   * @param reason null unless {@code FAILED}: a code from the list in {@link PublishResult}
   */
  public record Outcome(Status status, String node, String reason) {
    public Outcome {
      Objects.requireNonNull(status, "status");
    }

    public boolean failed() {
      return status == Status.FAILED;
    }
  }

  /**
   * One node's part of a channel publish.
   *
   * @param node the node ID
   * @param users how many subscribed users of the channel the node holds (0 when failed)
   * @param connections how many connections the message was written to (0 when failed)
   * @param failure null on success, else a reason code from the list in {@link PublishResult}
   */
  public record NodeResult(String node, int users, int connections, String failure) {
    public boolean failed() {
      return failure != null;
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

  /** True when no user and no node failed. */
  public boolean succeeded() {
    return outcomes.values().stream().noneMatch(Outcome::failed)
        && nodes.stream().noneMatch(NodeResult::failed);
  }

  @Override
  public String toString() {
    return "PublishResult{id="
        + id
        + (channel != null ? ", channel=" + channel + ", nodes=" + nodes : ", outcomes=" + outcomes)
        + "}";
  }
}
