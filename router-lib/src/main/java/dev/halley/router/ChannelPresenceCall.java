package dev.halley.router;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.internal.NodeClient;
import dev.halley.router.internal.Wire;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Asks every node of the map for a channel's online members ({@code GET
 * /v1/channels/{channel}/presence}) at once through the one request path ({@link NodeClient}, its
 * retries bounded by the deadline), and merges the answers; a node that does not answer by the
 * deadline is named in {@code missing}, never waited for past it.
 */
final class ChannelPresenceCall {
  private static final String KIND = "channel_presence";

  private ChannelPresenceCall() {}

  /** One node's outcome: its body, or why there is none. */
  private record Answer(String node, JsonNode body, String failure) {}

  static CompletableFuture<ChannelPresence> run(
      NodeClient client, ClusterMap map, String channel, Duration deadline, int limit) {
    long deadlineNanos = System.nanoTime() + deadline.toNanos();
    List<CompletableFuture<Answer>> calls = new ArrayList<>();
    for (NodeInfo node : map.nodes()) {
      URI uri =
          Wire.resolve(
              node.internalUrl(),
              "/v1/channels/" + Wire.segment(channel) + "/presence?limit=" + limit);
      calls.add(
          client
              .send(
                  new NodeClient.Call(node.id(), KIND, 1, () -> uri, "GET", null, 1, deadlineNanos))
              .handle((r, error) -> answer(node.id(), r, error))
              .completeOnTimeout(
                  new Answer(node.id(), null, NodeClient.TIMEOUT),
                  deadline.toMillis() + 50,
                  TimeUnit.MILLISECONDS));
    }
    return CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new))
        .thenApply(
            v -> {
              List<Answer> answers = new ArrayList<>();
              calls.forEach(c -> answers.add(c.join()));
              return merge(channel, answers);
            });
  }

  private static Answer answer(String node, NodeClient.Result r, Throwable error) {
    if (error != null) {
      return new Answer(node, null, NodeClient.UNREACHABLE);
    }
    if (!r.answered()) {
      return new Answer(node, null, r.failure());
    }
    if (r.status() != 200 || r.body() == null) {
      return new Answer(node, null, Wire.errorCode(r.body(), r.status()));
    }
    return new Answer(node, r.body(), null);
  }

  private static ChannelPresence merge(String channel, List<Answer> answers) {
    int users = 0;
    long connections = 0;
    boolean truncated = false;
    List<ChannelPresence.Member> members = new ArrayList<>();
    List<String> answered = new ArrayList<>();
    Map<String, String> missing = new LinkedHashMap<>();
    for (Answer a : answers) {
      if (a.body() == null) {
        missing.put(a.node(), a.failure());
        continue;
      }
      answered.add(a.node());
      users += a.body().path("users").asInt(0);
      connections += a.body().path("connections").asLong(0);
      truncated |= a.body().path("truncated").asBoolean(false);
      for (JsonNode m : a.body().path("members")) {
        members.add(
            new ChannelPresence.Member(
                m.path("user").asText(), a.node(), m.path("connections").asInt(0)));
      }
    }
    members.sort(
        Comparator.comparing(ChannelPresence.Member::user)
            .thenComparing(ChannelPresence.Member::node));
    return new ChannelPresence(
        channel,
        users,
        connections,
        List.copyOf(members),
        truncated,
        List.copyOf(answered),
        Map.copyOf(missing));
  }
}
