package dev.halley.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The SSE test client: a raw socket and a reader thread that parses {@code id:}/{@code
 * event:}/{@code data:} lines, checks that each {@code id:} line matches the event's JSON id, and
 * sends {@code Last-Event-ID} as a header (the way EventSource resumes).
 */
public final class SseTestClient extends TransportClient {
  private volatile Socket socket;
  public volatile Map<String, String> headers;
  public volatile String retry;

  /** Counted down when the node ends the response (end of stream). */
  public final CountDownLatch ended = new CountDownLatch(1);

  public SseTestClient(int port) {
    super(port);
  }

  @Override
  public String transport() {
    return "sse";
  }

  @Override
  public void connect(String token, String lastEventId) {
    Map<String, String> h = new java.util.LinkedHashMap<>();
    h.put("Accept", "text/event-stream");
    if (lastEventId != null) {
      h.put("Last-Event-ID", lastEventId);
    }
    CountDownLatch helloSeen = new CountDownLatch(1);
    try {
      socket =
          RawHttp.open(
              port, "GET", "/v1/sse?token=" + URLEncoder.encode(token, StandardCharsets.UTF_8), h);
      socket.setSoTimeout(0);
      InputStream in = socket.getInputStream();
      int status = RawHttp.readStatus(in);
      headers = RawHttp.readHeaders(in);
      if (status != 200) {
        throw new AssertionError("sse: status " + status);
      }
      Thread reader =
          new Thread(
              () -> {
                try {
                  read(in, helloSeen);
                  ended.countDown();
                } catch (IOException e) {
                  // closed
                }
              },
              "sse-test-reader");
      reader.setDaemon(true);
      reader.start();
      if (!helloSeen.await(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new AssertionError("sse: no hello");
      }
    } catch (IOException | InterruptedException e) {
      throw new AssertionError("sse: connect failed", e);
    }
  }

  private void read(InputStream in, CountDownLatch helloSeen) throws IOException {
    String id = null;
    String event = null;
    StringBuilder data = new StringBuilder();
    String line;
    while ((line = RawHttp.readLine(in)) != null) {
      if (line.isEmpty()) {
        if (data.length() > 0) {
          JsonNode json = TestJson.parse(data.toString());
          if (!json.path("type").asText().equals(event)) {
            failed(new AssertionError("event: " + event + " but type " + json.path("type")));
          }
          if (id != null && !id.equals(json.path("id").asText())) {
            failed(new AssertionError("id: " + id + " but JSON id " + json.path("id")));
          }
          received(json);
          if (hello != null) {
            helloSeen.countDown();
          }
        }
        id = null;
        event = null;
        data.setLength(0);
      } else if (line.equals(": ping")) {
        pings++;
      } else if (line.startsWith("retry: ")) {
        retry = line.substring(7);
      } else if (line.startsWith("id: ")) {
        id = line.substring(4);
      } else if (line.startsWith("event: ")) {
        event = line.substring(7);
      } else if (line.startsWith("data: ")) {
        data.append(line.substring(6));
      } else {
        failed(new AssertionError("unexpected SSE line: " + line));
      }
    }
  }

  @Override
  public void close() {
    try {
      Socket s = socket;
      if (s != null) {
        s.close();
      }
    } catch (IOException ignored) {
      // closing
    }
  }
}
