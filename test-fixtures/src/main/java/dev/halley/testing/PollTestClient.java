package dev.halley.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The long-poll ({@code hold}) and poll test client: a loop thread that requests batches with the
 * last position and records their events. Connecting without a resume point first asks {@code
 * /v1/poll} for the current position (as js-client does), so nothing published after {@link
 * #connect} returns is missed. {@link #get} is its one request, also used by it-tests' {@code
 * StreamClient} (any host, TLS).
 */
public final class PollTestClient extends TransportClient {
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private final boolean hold;
  private volatile boolean closed;
  private volatile String token;
  private Thread loop;

  public PollTestClient(int port, boolean hold) {
    super(port);
    this.hold = hold;
  }

  @Override
  public String transport() {
    return hold ? "longpoll" : "poll";
  }

  @Override
  public void connect(String token, String lastEventId) {
    this.token = token;
    if (lastEventId == null) {
      JsonNode batch = request("/v1/poll", null);
      lastEventId = batch.get("lastEventId").asText();
      for (JsonNode e : batch.get("events")) {
        received(e);
      }
    }
    this.lastEventId = lastEventId;
    loop = new Thread(this::run, transport() + "-test-loop");
    loop.setDaemon(true);
    loop.start();
  }

  private void run() {
    while (!closed) {
      try {
        JsonNode batch = request(hold ? "/v1/longpoll" : "/v1/poll", lastEventId);
        if (closed) {
          return;
        }
        for (JsonNode e : batch.get("events")) {
          received(e);
        }
        lastEventId = batch.get("lastEventId").asText();
        if (!hold) {
          Thread.sleep(20); // a short-polling client's interval, not a wait for a condition
        }
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException | AssertionError e) {
        if (!closed) {
          failed(e);
        }
        return;
      }
    }
  }

  /**
   * The query of a poll or long-poll request: {@code token}, then {@code lastEventId} when not
   * null, then {@code extra} (empty, or {@code &name=value...}).
   */
  public static String query(String token, String lastEventId, String extra) {
    String q = "token=" + URLEncoder.encode(token, StandardCharsets.UTF_8);
    if (lastEventId != null) {
      q += "&lastEventId=" + URLEncoder.encode(lastEventId, StandardCharsets.UTF_8);
    }
    return q + extra;
  }

  /**
   * One {@code /v1/poll} request to the node at {@code base} ({@code http://host:port}) with {@code
   * token} and {@code lastEventId} (null: none): its JSON answer, which must be a 200.
   */
  public static JsonNode pollOnce(URI base, String token, String lastEventId) {
    return okJson(
        "poll",
        URI.create(base + "/v1/poll?" + query(token, lastEventId, "")),
        Duration.ofSeconds(30));
  }

  private JsonNode request(String path, String last) {
    String q = query(token, last, extraQuerySuffix());
    return okJson(
        transport(),
        URI.create("http://127.0.0.1:" + port + path + "?" + q),
        TIMEOUT.plusSeconds(30));
  }

  /** A GET of {@code uri} whose answer must be a 200: its JSON; else fails naming {@code what}. */
  private static JsonNode okJson(String what, URI uri, Duration timeout) {
    try {
      RawHttp.Response r = get(HTTP, uri, timeout);
      if (r.status() != 200) {
        throw new AssertionError(what + ": status " + r.status() + " " + r.body());
      }
      return r.json();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /**
   * One poll or long-poll request (or any plain GET) to {@code uri}, on any host, over TLS if
   * {@code http} has the context: the answer's status, headers (each name's first value, lower
   * case) and body, whatever the status. {@code timeout} bounds the wait for the answer (a
   * long-poll is held up to its {@code timeoutMs} first).
   */
  public static RawHttp.Response get(HttpClient http, URI uri, Duration timeout)
      throws java.io.IOException, InterruptedException {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(uri).timeout(timeout).GET().build(),
            HttpResponse.BodyHandlers.ofString());
    Map<String, String> headers = new LinkedHashMap<>();
    r.headers()
        .map()
        .forEach(
            (name, values) -> {
              if (!values.isEmpty()) {
                headers.put(name.toLowerCase(Locale.ROOT), values.get(0));
              }
            });
    return new RawHttp.Response(r.statusCode(), headers, r.body());
  }

  @Override
  public boolean isEnded() {
    Thread t = loop;
    return t != null && !t.isAlive();
  }

  @Override
  public void close() {
    closed = true;
    if (loop != null) {
      loop.interrupt();
    }
  }
}
