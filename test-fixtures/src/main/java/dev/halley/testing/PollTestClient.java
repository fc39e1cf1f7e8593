package dev.halley.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

/**
 * The long-poll ({@code hold}) and poll test client: a loop thread that requests batches with the
 * last position and records their events. Connecting without a resume point first asks {@code
 * /v1/poll} for the current position (as js-client does), so nothing published after {@link
 * #connect} returns is missed.
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
          Thread.sleep(20);
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

  private JsonNode request(String path, String last) {
    String q = "token=" + URLEncoder.encode(token, StandardCharsets.UTF_8);
    if (last != null) {
      q += "&lastEventId=" + URLEncoder.encode(last, StandardCharsets.UTF_8);
    }
    q += extraQuerySuffix();
    HttpRequest req =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path + "?" + q))
            .timeout(TIMEOUT.plusSeconds(30))
            .build();
    try {
      HttpResponse<String> r = HTTP.send(req, HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        throw new AssertionError(transport() + ": status " + r.statusCode() + " " + r.body());
      }
      return TestJson.parse(r.body());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
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
