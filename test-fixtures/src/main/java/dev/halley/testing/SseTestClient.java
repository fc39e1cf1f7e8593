package dev.halley.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The SSE test client: a raw socket and a reader thread that parses {@code id:}/{@code
 * event:}/{@code data:} lines ({@link SseReader}), checks that each {@code id:} line matches the
 * event's JSON id, and sends {@code Last-Event-ID} as a header (the way EventSource resumes).
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

  /**
   * Connects to the node at {@code publicUrl} (a loopback URL such as a router-lib {@code
   * ConnectInfo} names) as the token's user and returns once its {@code hello} arrived.
   */
  public static SseTestClient open(URI publicUrl, String token) {
    return open(publicUrl, token, null);
  }

  /** The same, resuming after {@code lastEventId} (null: from now). */
  public static SseTestClient open(URI publicUrl, String token, String lastEventId) {
    SseTestClient c = new SseTestClient(loopbackPort(publicUrl));
    c.connect(token, lastEventId);
    return c;
  }

  /**
   * Tries to connect and returns the node's answer: its refusal with its body, or 200 with the
   * headers only (the stream is closed at once).
   */
  public static RawHttp.Response attempt(URI publicUrl, String token) throws IOException {
    int port = loopbackPort(publicUrl);
    String target = "/v1/sse?token=" + URLEncoder.encode(token, StandardCharsets.UTF_8);
    try (Socket s = RawHttp.open(port, "GET", target, Map.of("Accept", "text/event-stream"))) {
      InputStream in = s.getInputStream();
      int status = RawHttp.readStatus(in);
      Map<String, String> headers = RawHttp.readHeaders(in);
      if (status == 200) {
        return new RawHttp.Response(status, headers, "");
      }
      String len = headers.get("content-length");
      byte[] body = len != null ? in.readNBytes(Integer.parseInt(len)) : in.readAllBytes();
      return new RawHttp.Response(status, headers, new String(body, StandardCharsets.UTF_8));
    }
  }

  private static int loopbackPort(URI url) {
    String host = url.getHost();
    if (!("127.0.0.1".equals(host) || "localhost".equals(host))) {
      throw new IllegalArgumentException("the test clients speak to 127.0.0.1 only: " + url);
    }
    return url.getPort();
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
              port,
              "GET",
              "/v1/sse?token="
                  + URLEncoder.encode(token, StandardCharsets.UTF_8)
                  + extraQuerySuffix(),
              h);
      socket.setSoTimeout(0);
      // Buffered: the reader takes a line a byte at a time, one system call each without it (a
      // 1 MB event took longer than TIMEOUT on a loaded machine).
      InputStream in = new java.io.BufferedInputStream(socket.getInputStream(), 64 * 1024);
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
                } catch (IOException e) {
                  // closed (or reset) by either side
                } finally {
                  ended.countDown();
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
    SseReader.read(
        in,
        new SseReader.Handler() {
          @Override
          public void onEvent(String id, String event, String data) {
            JsonNode json = TestJson.parse(data);
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

          @Override
          public void onComment(String line) {
            if (line.equals(": ping")) {
              pings++;
            } else {
              onOther(line);
            }
          }

          @Override
          public void onRetry(String value) {
            retry = value;
          }

          @Override
          public void onOther(String line) {
            failed(new AssertionError("unexpected SSE line: " + line));
          }
        });
  }

  @Override
  public boolean isEnded() {
    return ended.getCount() == 0;
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
