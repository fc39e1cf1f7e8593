package dev.halley.node.reshard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.testing.PollTestClient;
import dev.halley.testing.RawHttp;
import dev.halley.testing.SseReader;
import dev.halley.testing.WsTestSocket;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A browser client of one transport that follows the resharding protocol (docs/protocol.md,
 * "Handoff resume") as another client implementation would: it resumes with the last event ID it
 * received and, after a {@code moved} with {@code handoff}, reconnects to {@code url} with that ID
 * and the handoff verbatim ({@code handoff} off: an old client, which reconnects with its ID only).
 * It records every message's {@code key}, every {@code reset} and every {@code moved}.
 *
 * <p>On test-fixtures' clients: WebSocket on {@link WsTestSocket}, SSE read with {@link SseReader}
 * from a JDK HTTP response, long-polls with {@link PollTestClient#get}.
 *
 * <p>Threading: one reader thread per client (WebSocket: a connecting thread, then Java-WebSocket's
 * reading thread); the recorded lists are thread-safe.
 */
final class FollowingClient implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

  enum Transport {
    WS,
    SSE,
    LONGPOLL
  }

  final Transport transport;
  private final String token;
  private final boolean handoff;
  final List<String> keys = new CopyOnWriteArrayList<>();
  final List<JsonNode> resets = new CopyOnWriteArrayList<>();
  final List<JsonNode> moves = new CopyOnWriteArrayList<>();
  final List<Integer> ports = new CopyOnWriteArrayList<>();
  final List<Throwable> errors = new CopyOnWriteArrayList<>();
  private final AtomicBoolean closed = new AtomicBoolean();
  private volatile String lastEventId;
  private volatile String pendingHandoff;
  private volatile int port;
  private volatile WsTestSocket ws;
  private volatile InputStream sse;
  private volatile CompletableFuture<Void> connected = new CompletableFuture<>();
  private Thread reader;
  // Set by holdAfterMoved: a moved client waits for proceed() before it goes to the new node.
  private volatile java.util.concurrent.CountDownLatch hold;

  FollowingClient(Transport transport, int port, String token, boolean handoff) {
    this.transport = transport;
    this.port = port;
    this.token = token;
    this.handoff = handoff;
  }

  /** Connects and waits until the node answered (hello, or a first poll). */
  FollowingClient start() {
    if (transport == Transport.LONGPOLL) {
      reader = new Thread(this::pollLoop, "following-longpoll");
      reader.setDaemon(true);
      reader.start();
    } else {
      connect();
    }
    connected.orTimeout(20, java.util.concurrent.TimeUnit.SECONDS).join();
    return this;
  }

  /**
   * After the next {@code moved} the client stays away (as if offline) until {@link #proceed}: it
   * then connects to the new node with its last event ID and the handoff.
   */
  FollowingClient holdAfterMoved() {
    hold = new java.util.concurrent.CountDownLatch(1);
    return this;
  }

  /** Lets a client held by {@link #holdAfterMoved} go on to the node its {@code moved} named. */
  void proceed() {
    java.util.concurrent.CountDownLatch h = hold;
    if (h != null) {
      h.countDown();
    }
  }

  private void awaitHold() throws InterruptedException {
    java.util.concurrent.CountDownLatch h = hold;
    if (h != null) {
      h.await();
    }
  }

  private String query() {
    StringBuilder q = new StringBuilder("token=").append(enc(token));
    if (lastEventId != null) {
      q.append("&lastEventId=").append(enc(lastEventId));
    }
    if (pendingHandoff != null) {
      q.append("&handoff=").append(enc(pendingHandoff));
    }
    return q.toString();
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  private void connect() {
    if (closed.get()) {
      return;
    }
    boolean again = !ports.isEmpty();
    if (transport == Transport.WS) {
      Thread t =
          new Thread(
              () -> {
                if (again && !held()) {
                  return;
                }
                ports.add(port);
                openWs(URI.create("ws://127.0.0.1:" + port + "/v1/ws?" + query()));
              },
              "following-ws");
      t.setDaemon(true);
      t.start();
    } else {
      reader =
          new Thread(
              () -> {
                if (again && !held()) {
                  return;
                }
                ports.add(port);
                sseLoop();
              },
              "following-sse");
      reader.setDaemon(true);
      reader.start();
    }
  }

  /** Handles one event; returns true if it was a moved (the connection then ends). */
  final List<String> raw = new CopyOnWriteArrayList<>();

  private boolean event(JsonNode e) {
    raw.add(port + " " + e);
    switch (e.path("type").asText()) {
      case "hello" -> {
        pendingHandoff = null;
        if (lastEventId == null || !e.path("epoch").asText().equals(epochOf(lastEventId))) {
          // A handoff resume continues with the new node's IDs; so does a fresh start.
          lastEventId = e.path("lastEventId").asText();
        }
        connected.complete(null);
      }
      case "message" -> {
        keys.add(e.path("key").asText());
        lastEventId = e.path("id").asText();
      }
      case "reset" -> {
        resets.add(e);
        lastEventId = e.path("id").asText();
      }
      case "moved" -> {
        moves.add(e);
        if (handoff && e.hasNonNull("handoff")) {
          pendingHandoff = e.get("handoff").asText();
        }
        port = URI.create(e.path("url").asText()).getPort();
        return true;
      }
      default -> {}
    }
    return false;
  }

  private static String epochOf(String id) {
    int c = id.indexOf(':');
    return c < 0 ? "" : id.substring(0, c);
  }

  /** Waits for {@link #proceed} if held; false if interrupted (closed). */
  private boolean held() {
    try {
      awaitHold();
      return !closed.get();
    } catch (InterruptedException e) {
      return false;
    }
  }

  private void openWs(URI uri) {
    try {
      WsTestSocket w = WsTestSocket.open(uri, null, Duration.ofSeconds(20), new Listener());
      ws = w;
      if (closed.get()) {
        w.abort();
      }
    } catch (Exception e) {
      errors.add(e);
      connected.completeExceptionally(e);
    }
  }

  private final class Listener implements WsTestSocket.Listener {
    @Override
    public void onText(String text) {
      try {
        event(JSON.readTree(text));
      } catch (Exception e) {
        errors.add(e);
      }
    }

    @Override
    public void onClose(int code, String reason) {
      raw.add(port + " close " + code + " " + reason);
      if (code == 4009 && !closed.get()) {
        connect();
      }
    }

    @Override
    public void onError(Exception e) {
      if (!closed.get()) {
        errors.add(e);
      }
    }
  }

  private void sseLoop() {
    try {
      HttpRequest r =
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/sse?" + query()))
              .GET()
              .build();
      HttpResponse<InputStream> resp = HTTP.send(r, HttpResponse.BodyHandlers.ofInputStream());
      if (resp.statusCode() != 200) {
        errors.add(new AssertionError("SSE status " + resp.statusCode()));
        connected.completeExceptionally(errors.get(errors.size() - 1));
        return;
      }
      sse = resp.body();
      boolean[] moved = {false};
      try (InputStream in = new BufferedInputStream(resp.body(), 64 * 1024)) {
        SseReader.read(
            in,
            (id, type, data) -> {
              try {
                moved[0] |= event(JSON.readTree(data));
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
            });
      }
      if (moved[0] && !closed.get()) {
        connect();
      }
    } catch (Exception e) {
      if (!closed.get()) {
        errors.add(e);
      }
    }
  }

  private void pollLoop() {
    try {
      ports.add(port);
      JsonNode first = poll("/v1/poll");
      lastEventId = first.path("lastEventId").asText();
      connected.complete(null);
      while (!closed.get()) {
        JsonNode batch = poll("/v1/longpoll");
        if (batch == null) {
          continue;
        }
        boolean moved = false;
        pendingHandoff = null;
        for (JsonNode e : batch.path("events")) {
          moved |= event(e);
        }
        if (batch.hasNonNull("lastEventId") && !moved) {
          lastEventId = batch.get("lastEventId").asText();
        } else if (moved && batch.hasNonNull("lastEventId")) {
          lastEventId = batch.get("lastEventId").asText();
        }
        if (moved) {
          awaitHold();
          ports.add(port);
        }
      }
    } catch (Exception e) {
      if (!closed.get()) {
        errors.add(e);
      }
    }
  }

  private JsonNode poll(String path) throws Exception {
    RawHttp.Response resp =
        PollTestClient.get(
            HTTP,
            URI.create("http://127.0.0.1:" + port + path + "?" + query() + "&timeoutMs=2000"),
            Duration.ofSeconds(20));
    if (resp.status() != 200) {
      throw new AssertionError(path + " status " + resp.status() + ": " + resp.body());
    }
    return JSON.readTree(resp.body());
  }

  /** The port of the node the client is on (or going to). */
  int port() {
    return port;
  }

  @Override
  public void close() {
    closed.set(true);
    proceed(); // a held client's thread ends
    WsTestSocket w = ws;
    if (w != null) {
      w.abort();
    }
    InputStream s = sse;
    if (s != null) {
      try {
        s.close();
      } catch (Exception ignored) {
        // closing
      }
    }
    if (reader != null) {
      reader.interrupt();
    }
  }
}
