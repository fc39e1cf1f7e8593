package dev.halley.node.presence;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.config.OperationsConfig;
import dev.halley.node.wire.Json;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells the app tier when a user comes online (first connection) or goes offline (last connection
 * closed), by POSTing batches of presence events to a webhook URL.
 *
 * <pre>{@code
 * PresenceWebhook webhook = new PresenceWebhook(
 *     PresenceWebhook.Options.of(OperationsConfig.builder()
 *         .presenceWebhookUrl("http://app:8000/halley/presence")
 *         .presenceWebhookSecret("shared-secret-for-the-app").build()),
 *     "node-a", Clock.systemUTC());
 * webhook.online("alice");   // never blocks; false when the queue is full (counted as dropped)
 * webhook.close();
 * }</pre>
 *
 * <p>Body: {@code {"node": "a", "events": [{"type": "online"|"offline", "user": "alice", "at":
 * <epoch ms>}]}}, events in the order they happened on this node; header {@code Authorization:
 * Bearer <secret>} when a secret is set. Any 2xx is success; 429, 5xx and network errors are
 * retried with exponential backoff; other statuses fail the batch at once.
 *
 * <p>Threading: {@link #online}/{@link #offline} are non-blocking and safe from IO threads; one
 * daemon thread ({@code halley-presence-webhook}) sends, so batches arrive one at a time and in
 * order. Delivery is best effort: when the queue is full new events are dropped, and a batch that
 * still fails after {@code maxAttempts} is dropped; both are counted and logged.
 */
public final class PresenceWebhook implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(PresenceWebhook.class);

  private final Options options;
  private final String nodeId;
  private final Clock clock;
  private final BlockingQueue<ObjectNode> queue;
  private final HttpClient client;
  private final Thread sender;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicLong sent = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final AtomicLong dropped = new AtomicLong();
  private final AtomicLong retries = new AtomicLong();
  private final AtomicLong batches = new AtomicLong();

  public PresenceWebhook(Options options, String nodeId, Clock clock) {
    this.options = Objects.requireNonNull(options, "options");
    this.nodeId = Objects.requireNonNull(nodeId, "nodeId");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.queue = new ArrayBlockingQueue<>(options.queueMaxEvents);
    this.client =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofMillis(options.timeoutMs))
            .build();
    this.sender = new Thread(this::run, "halley-presence-webhook");
    sender.setDaemon(true);
    sender.start();
  }

  /** Queues an {@code online} event; false (and counted as dropped) when the queue is full. */
  public boolean online(String user) {
    return offer("online", user);
  }

  /** Queues an {@code offline} event; false (and counted as dropped) when the queue is full. */
  public boolean offline(String user) {
    return offer("offline", user);
  }

  /** Queues a {@code channel_join} event (a member of {@code channel} came online or joined). */
  public boolean channelJoin(String user, String channel) {
    return offer("channel_join", user, channel);
  }

  /** Queues a {@code channel_leave} event (a member went offline or left {@code channel}). */
  public boolean channelLeave(String user, String channel) {
    return offer("channel_leave", user, channel);
  }

  /** Events acknowledged with a 2xx. */
  public long sent() {
    return sent.get();
  }

  /** Events given up on after retries or a non-retryable status. */
  public long failed() {
    return failed.get();
  }

  /** Events refused because the queue was full or the webhook closed. */
  public long dropped() {
    return dropped.get();
  }

  /** Attempts after the first one, over all batches. */
  public long retries() {
    return retries.get();
  }

  /** Batches finished (sent or failed). */
  public long batches() {
    return batches.get();
  }

  /** Events waiting to be sent. */
  public int queued() {
    return queue.size();
  }

  /** Stops the sender; events still queued are counted as dropped. Idempotent. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    sender.interrupt();
    try {
      sender.join(options.timeoutMs);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    dropped.addAndGet(queue.size());
    queue.clear();
  }

  @Override
  public String toString() {
    return "PresenceWebhook{url=" + options.url + ", queued=" + queue.size() + "}";
  }

  private boolean offer(String type, String user) {
    return offer(type, user, null);
  }

  private boolean offer(String type, String user, String channel) {
    if (closed.get()) {
      dropped.incrementAndGet();
      return false;
    }
    ObjectNode e = Json.MAPPER.createObjectNode();
    e.put("type", type);
    e.put("user", user);
    if (channel != null) {
      e.put("channel", channel);
    }
    e.put("at", clock.millis());
    if (!queue.offer(e)) {
      if (dropped.incrementAndGet() == 1 || dropped.get() % 1000 == 0) {
        log.warn(
            "event=presence_webhook_dropped dropped={} message=\"queue full ({} events)\"",
            dropped.get(),
            options.queueMaxEvents);
      }
      return false;
    }
    return true;
  }

  private void run() {
    List<ObjectNode> batch = new ArrayList<>();
    while (!closed.get()) {
      try {
        ObjectNode first = queue.poll(1, TimeUnit.SECONDS);
        if (first == null) {
          continue;
        }
        batch.clear();
        batch.add(first);
        queue.drainTo(batch, options.batchMaxEvents - 1);
        deliver(batch);
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        failed.addAndGet(batch.size());
        log.warn("event=presence_webhook_error message=\"unexpected failure; batch dropped\"", e);
      }
    }
  }

  private void deliver(List<ObjectNode> batch) throws InterruptedException {
    ObjectNode body = Json.MAPPER.createObjectNode();
    body.put("node", nodeId);
    ArrayNode events = body.putArray("events");
    batch.forEach(events::add);
    byte[] bytes = Json.bytes(body);
    String lastError = null;
    for (int attempt = 1; attempt <= options.maxAttempts; attempt++) {
      if (attempt > 1) {
        retries.incrementAndGet();
        Thread.sleep(backoffMs(attempt - 1));
      }
      HttpRequest.Builder request =
          HttpRequest.newBuilder(options.url)
              .timeout(Duration.ofMillis(options.timeoutMs))
              .header("Content-Type", "application/json")
              .header("X-Halley-Node", nodeId)
              .POST(HttpRequest.BodyPublishers.ofByteArray(bytes));
      if (options.secret != null) {
        request.header("Authorization", "Bearer " + options.secret);
      }
      try {
        int status =
            client.send(request.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        if (status / 100 == 2) {
          sent.addAndGet(batch.size());
          batches.incrementAndGet();
          return;
        }
        lastError = "status " + status;
        if (status != 429 && status < 500) {
          break;
        }
      } catch (IOException e) {
        lastError = e.getClass().getSimpleName() + ": " + e.getMessage();
      }
    }
    failed.addAndGet(batch.size());
    batches.incrementAndGet();
    log.warn(
        "event=presence_webhook_failed events={} url={} error=\"{}\"",
        batch.size(),
        options.url,
        lastError);
  }

  /** Backoff before retry {@code n} (1-based): initial * 2^(n-1), capped, milliseconds. */
  long backoffMs(int n) {
    long d = options.initialBackoffMs << Math.min(n - 1, 30);
    return Math.min(options.maxBackoffMs, d < 0 ? Long.MAX_VALUE : d);
  }

  /**
   * Settings of the webhook, named as their options {@code presenceWebhook*}; their defaults and
   * checks are declared once, in {@link OperationsConfig} (validated there).
   */
  public record Options(
      URI url,
      String secret,
      int batchMaxEvents,
      int queueMaxEvents,
      int maxAttempts,
      long initialBackoffMs,
      long maxBackoffMs,
      long timeoutMs) {

    /** The webhook of a validated config, or null when {@code presenceWebhookUrl} is not set. */
    public static Options of(OperationsConfig c) {
      if (!c.presenceWebhookEnabled()) {
        return null;
      }
      return new Options(
          URI.create(c.presenceWebhookUrl()),
          c.presenceWebhookSecret(),
          c.presenceWebhookBatchMaxEvents(),
          c.presenceWebhookQueueMaxEvents(),
          c.presenceWebhookMaxAttempts(),
          c.presenceWebhookInitialBackoffMs(),
          c.presenceWebhookMaxBackoffMs(),
          c.presenceWebhookTimeoutMs());
    }

    @Override
    public String toString() {
      return "PresenceWebhook.Options{url="
          + url
          + ", batchMaxEvents="
          + batchMaxEvents
          + ", queueMaxEvents="
          + queueMaxEvents
          + ", maxAttempts="
          + maxAttempts
          + ", initialBackoffMs="
          + initialBackoffMs
          + ", maxBackoffMs="
          + maxBackoffMs
          + ", timeoutMs="
          + timeoutMs
          + "}";
    }
  }
}
