package dev.halley.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A recorder-style browser client of one transport, so every scenario can run on all four: {@link
 * #connect} returns once the client is connected (hello received, or the poll position known),
 * {@link #awaitEvent()} returns the next {@code message} or {@code reset} in order.
 */
public abstract class TransportClient implements AutoCloseable {
  public static final Duration TIMEOUT = Duration.ofSeconds(20);

  protected final int port;
  private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
  protected volatile JsonNode hello;
  protected volatile String lastEventId;
  protected volatile int pings;

  /** More query parameters for every request ({@code a=1&b=2}), or empty. */
  protected volatile String extraQuery = "";

  private final java.util.Map<JsonNode, Long> receivedAt =
      java.util.Collections.synchronizedMap(new java.util.IdentityHashMap<>());

  protected TransportClient(int port) {
    this.port = port;
  }

  /**
   * Connects as the token's user, resuming after {@code lastEventId} (null: from now).
   *
   * @throws AssertionError if the node refuses
   */
  public abstract void connect(String token, String lastEventId);

  /** The transport's name as the node uses it. */
  public abstract String transport();

  /**
   * Adds query parameters ({@code "conflationIntervalMs=500"}) to every request this client makes;
   * call before {@link #connect}.
   */
  public TransportClient query(String extra) {
    this.extraQuery = extra;
    return this;
  }

  /** {@code extraQuery} as a suffix to append to a query string: empty, or {@code &...}. */
  protected final String extraQuerySuffix() {
    String q = extraQuery;
    return q.isEmpty() ? "" : "&" + q;
  }

  /** When this client read {@code event} (one returned by {@link #awaitEvent()}), nanoTime. */
  public long receivedAtNanos(JsonNode event) {
    Long at = receivedAt.get(event);
    if (at == null) {
      throw new IllegalArgumentException("not an event of this client: " + event);
    }
    return at;
  }

  /** The {@code hello} event (WebSocket and SSE), else null. */
  public JsonNode hello() {
    return hello;
  }

  /** The last event ID seen (of a message or reset, or a poll batch's position). */
  public String lastEventId() {
    return lastEventId;
  }

  public int pings() {
    return pings;
  }

  /**
   * Whether the connection has ended (closed by the node, failed, or for poll its loop stopped):
   * after it, {@link #nextEvent} returns only what was already received.
   */
  public abstract boolean isEnded();

  /** The next message or reset event, waiting up to 20 s. */
  public JsonNode awaitEvent() {
    JsonNode e = nextEvent(TIMEOUT);
    if (e == null) {
      throw new AssertionError(transport() + ": no event within " + TIMEOUT);
    }
    return e;
  }

  /** The next event, which must be of {@code type} ({@code message}, {@code moved}, ...). */
  public JsonNode awaitEvent(String type) {
    JsonNode e = awaitEvent();
    if (!e.path("type").asText().equals(type)) {
      throw new AssertionError(transport() + ": expected " + type + ", got " + e);
    }
    return e;
  }

  /** The next message event, failing on anything else. */
  public JsonNode awaitMessage() {
    return awaitEvent("message");
  }

  /** The next message event's {@code data}, failing on anything else. */
  public JsonNode awaitData() {
    return awaitMessage().get("data");
  }

  /**
   * The next event, or null when none comes within {@code wait} (for reading up to the end of what
   * a test published).
   */
  public JsonNode nextEvent(Duration wait) {
    try {
      Object e = events.poll(wait.toNanos(), TimeUnit.NANOSECONDS);
      if (e instanceof Throwable t) {
        throw new AssertionError(transport() + ": client failed", t);
      }
      return (JsonNode) e;
    } catch (InterruptedException ex) {
      Thread.currentThread().interrupt();
      throw new AssertionError(ex);
    }
  }

  /** Hands an event from the node to the recorder (hello and ping are kept apart). */
  protected void received(JsonNode event) {
    String type = event.path("type").asText();
    switch (type) {
      case "hello" -> hello = event;
      case "ping" -> pings++;
      default -> {
        if (event.hasNonNull("id")) {
          lastEventId = event.get("id").asText();
        }
        receivedAt.put(event, System.nanoTime());
        events.add(event);
      }
    }
  }

  protected void failed(Throwable t) {
    events.add(t);
  }

  @Override
  public abstract void close();

  /** The four transports. */
  public enum Transport {
    WS,
    SSE,
    LONGPOLL,
    POLL;

    public TransportClient client(int port) {
      return switch (this) {
        case WS -> new WsTestClient(port);
        case SSE -> new SseTestClient(port);
        case LONGPOLL -> new PollTestClient(port, true);
        case POLL -> new PollTestClient(port, false);
      };
    }

    /** The path of this transport's endpoint. */
    public String path() {
      return switch (this) {
        case WS -> "/v1/ws";
        case SSE -> "/v1/sse";
        case LONGPOLL -> "/v1/longpoll";
        case POLL -> "/v1/poll";
      };
    }

    /** Connects with raw HTTP and returns the refusal (or 101/200 if accepted). */
    public RawHttp.Response attempt(int port, String query, java.util.Map<String, String> headers)
        throws java.io.IOException {
      java.util.Map<String, String> h = new java.util.LinkedHashMap<>(headers);
      if (this == WS) {
        h.putAll(RawHttp.upgradeHeaders(headers.get("Origin")));
      }
      if (this == LONGPOLL) {
        query = query + (query.isEmpty() ? "" : "&") + "timeoutMs=0";
      }
      return RawHttp.request(port, "GET", path() + (query.isEmpty() ? "" : "?" + query), h);
    }
  }
}
