package dev.halley.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A browser stand-in for tests: one real SSE connection to a node's public listener, recording
 * every event in order. Recorder-style: {@link #awaitEvent(String)} takes the next event and checks
 * its type.
 */
final class EventStream implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  private final BlockingQueue<JsonNode> events = new LinkedBlockingQueue<>();
  private final HttpResponse<Stream<String>> response;
  private final Thread reader;
  private JsonNode hello;

  private EventStream(HttpResponse<Stream<String>> response) {
    this.response = response;
    this.reader =
        new Thread(
            () -> {
              try (Stream<String> lines = response.body()) {
                lines
                    .filter(l -> l.startsWith("data:"))
                    .forEach(
                        l -> {
                          try {
                            events.add(JSON.readTree(l.substring(5).trim()));
                          } catch (IOException e) {
                            throw new IllegalStateException("event is not JSON: " + l, e);
                          }
                        });
              } catch (RuntimeException ignored) {
                // closed
              }
            },
            "sse-reader");
    reader.setDaemon(true);
    reader.start();
  }

  /** Opens {@code GET /v1/sse?token=...}; returns the HTTP status and body if it is not 200. */
  static HttpResponse<String> tryOpen(URI publicUrl, String token) throws Exception {
    HttpRequest request =
        HttpRequest.newBuilder(sseUri(publicUrl, token)).timeout(Duration.ofSeconds(10)).build();
    return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
  }

  /** Opens an SSE connection and waits for its {@code hello}. */
  static EventStream open(URI publicUrl, String token) throws Exception {
    return open(publicUrl, token, null);
  }

  /** Opens an SSE connection resuming at {@code lastEventId} and waits for its {@code hello}. */
  static EventStream open(URI publicUrl, String token, String lastEventId) throws Exception {
    URI uri = sseUri(publicUrl, token);
    if (lastEventId != null) {
      uri =
          URI.create(
              uri + "&lastEventId=" + URLEncoder.encode(lastEventId, StandardCharsets.UTF_8));
    }
    HttpRequest request = HttpRequest.newBuilder(uri).build();
    HttpResponse<Stream<String>> response =
        HTTP.sendAsync(request, HttpResponse.BodyHandlers.ofLines()).get(20, TimeUnit.SECONDS);
    assertEquals(200, response.statusCode(), "SSE connect status");
    EventStream stream = new EventStream(response);
    stream.hello = stream.awaitEvent("hello");
    return stream;
  }

  private static URI sseUri(URI publicUrl, String token) {
    return URI.create(
        publicUrl + "/v1/sse?token=" + URLEncoder.encode(token, StandardCharsets.UTF_8));
  }

  /** The next event (heartbeats skipped), which must be of {@code type}. */
  JsonNode awaitEvent(String type) throws InterruptedException {
    while (true) {
      JsonNode event = events.poll(20, TimeUnit.SECONDS);
      assertNotNull(event, "no event within 20 s, expected " + type);
      if ("ping".equals(event.path("type").asText())) {
        continue;
      }
      assertEquals(type, event.path("type").asText(), "event " + event);
      return event;
    }
  }

  /** The {@code hello} event the connection started with. */
  JsonNode hello() {
    return hello;
  }

  /** The next event other than a heartbeat, or null when none comes within {@code wait}. */
  JsonNode nextEvent(Duration wait) throws InterruptedException {
    long deadline = System.nanoTime() + wait.toNanos();
    while (true) {
      JsonNode event = events.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
      if (event == null || !"ping".equals(event.path("type").asText())) {
        return event;
      }
    }
  }

  /** The next message event's data. */
  JsonNode awaitMessage() throws InterruptedException {
    return awaitEvent("message").get("data");
  }

  @Override
  public void close() {
    response.body().close();
    reader.interrupt();
  }
}
