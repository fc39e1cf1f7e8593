package dev.halley.it.fleet;

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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLContext;

/**
 * A browser-like client of one user on one transport, in the test JVM: it connects to its node,
 * follows {@code moved} to the new owner and {@code reconnect} after its delay, reconnects with
 * backoff after errors and after {@value #SILENCE_HEARTBEATS} heartbeats of silence (a hung node),
 * always resuming from its last event ID, and records what it saw: message sequence numbers with
 * their end-to-end latency (the publisher puts {@code System.nanoTime()} in the data; same JVM),
 * resets, moves, reconnect events, and the times it (re)connected. It also records each message's
 * {@code key} (the publish's idempotency key, the same on every node), so duplicates are found
 * across nodes, and follows {@code moved} with {@code handoff} as js-client does: the next connect
 * carries {@code lastEventId} and {@code handoff} verbatim while the position is the one the
 * handoff came with (lossless resharding, docs/protocol.md). {@link #pause()} takes it offline (its
 * connection ends, nothing is read) until {@link #resume()}.
 *
 * <p>On test-fixtures' clients: WebSocket is {@link WsTestSocket} (Java-WebSocket, not the JDK
 * client, which corrupts large replays); SSE is read with {@link SseReader} from a JDK HTTP
 * response; long-poll requests (and the GET that reads a WebSocket 421's body) are {@link
 * PollTestClient#get}. The connection loop (moves, handoffs, silence, backoff) is this class's.
 *
 * <p>Threading: one thread per client runs the connection loop (a WebSocket's messages arrive on
 * Java-WebSocket's reading thread and are queued for it); the recording is synchronized on this
 * object; {@link #close()} from any thread stops the loop.
 */
public final class StreamClient implements AutoCloseable {
  /** A transport a browser can use (poll is long-poll with timeout 0: not a separate case). */
  public enum Transport {
    WEBSOCKET,
    SSE,
    LONGPOLL
  }

  /** Heartbeats without any byte before the client gives the connection up. */
  static final int SILENCE_HEARTBEATS = 3;

  /**
   * The node's {@code handoffWaitMs} (its default, which the fleet's nodes keep): a connect that
   * resumes with a {@code handoff} may be held that long before its first byte ({@code hello}, the
   * SSE response, the long-poll answer) while the new owner waits for relays, so the client allows
   * that much more silence then, as js-client's {@code helloTimeoutMs} (10 s) does. Giving up
   * earlier and reconnecting with the same handoff starts the wait over, and the abandoned attempt
   * still ends (a {@code reset} nobody reads).
   */
  static final long HANDOFF_WAIT_MS = 5_000;

  private static final ObjectMapper JSON = new ObjectMapper();

  public final String user;
  public final Transport transport;
  private final String token;
  private final HttpClient http;
  private final SSLContext ssl;
  private final long heartbeatMs;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final Thread thread;

  // Guarded by this.
  private URI base;
  private String lastEventId;
  private final List<Long> seqs = new ArrayList<>();
  private final List<Long> latenciesNanos = new ArrayList<>();
  private final List<Long> sentNanos = new ArrayList<>();
  private final List<String> resetReasons = new ArrayList<>();
  private final List<Long> resetAtNanos = new ArrayList<>();
  private final List<Long> reconnectDelays = new ArrayList<>();
  private final List<Long> connectedAtNanos = new ArrayList<>();
  private final List<String> helloNodes = new ArrayList<>();
  private final java.util.Set<Long> seqSet = new java.util.HashSet<>();
  private final java.util.Set<String> keySet = new java.util.HashSet<>();

  /** Where each key was first received ("id from node"), for the trace of a repeat. */
  private final java.util.Map<String, String> firstSeen = new java.util.HashMap<>();

  private final List<String> keys = new ArrayList<>();
  private final List<String> handoffs = new ArrayList<>();
  private final List<String> trace = new ArrayList<>(); // connects and control events, bounded
  private final java.util.Map<String, Long> lastOfStream = new java.util.HashMap<>();
  private final List<String> outOfOrderNotes = new ArrayList<>(); // the first 20
  private String handoff;
  private String handoffFor;
  private int keyDuplicates;
  private int withoutKey;
  private boolean paused;
  private boolean parked;
  private int moved;
  private int duplicates;
  private int outOfOrder;
  private int connectErrors;
  private String node;
  private boolean pollReconnected = true;

  private volatile long lastByteNanos = System.nanoTime();
  // Whether the connect in progress carries a handoff and has had no event yet (loop thread).
  private volatile boolean heldForHandoff;
  private volatile Runnable abortCurrent = () -> {};

  public StreamClient(
      String user, Transport transport, URI base, String token, long heartbeatMs, SSLContext ssl) {
    this.user = user;
    this.transport = transport;
    this.base = base;
    this.token = token;
    this.heartbeatMs = heartbeatMs;
    this.ssl = ssl;
    HttpClient.Builder b =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofMillis(heartbeatMs * SILENCE_HEARTBEATS));
    if (ssl != null) {
      b.sslContext(ssl);
    }
    this.http = b.build();
    this.thread = new Thread(this::loop, "client-" + transport + "-" + user);
    thread.setDaemon(true);
  }

  public StreamClient start() {
    thread.start();
    return this;
  }

  // ---- what it saw ----

  public synchronized List<Long> seqs() {
    return List.copyOf(seqs);
  }

  /** The keys of the messages received, in order, repeats included. */
  public synchronized List<String> keys() {
    return List.copyOf(keys);
  }

  /** Messages whose key was received before (from this node or another). */
  public synchronized int keyDuplicates() {
    return keyDuplicates;
  }

  /** Messages that came without a {@code key}. */
  public synchronized int withoutKey() {
    return withoutKey;
  }

  /** The client's connects and control events (hello, moved, reset), the first 200. */
  public synchronized List<String> trace() {
    return List.copyOf(trace);
  }

  private void trace(String what) {
    if (trace.size() < 200) {
      trace.add(System.currentTimeMillis() % 1_000_000 + " " + what);
    }
  }

  /**
   * The first messages that came after a later one of the same stream (a user's or a channel's: the
   * key's prefix), each with the key before it, its ID and node.
   */
  public synchronized List<String> outOfOrderNotes() {
    return List.copyOf(outOfOrderNotes);
  }

  private void noteOrder(String key, String id) {
    int colon = key.lastIndexOf(':');
    if (colon < 0) {
      return;
    }
    String stream = key.substring(0, colon);
    long seq;
    try {
      seq = Long.parseLong(key.substring(colon + 1));
    } catch (NumberFormatException e) {
      return;
    }
    Long before = lastOfStream.put(stream, seq);
    if (before != null && seq < before && outOfOrderNotes.size() < 20) {
      outOfOrderNotes.add(key + " after " + stream + ":" + before + " as " + id + " from " + node);
    }
  }

  /** The {@code handoff} strings of the {@code moved} events received, in order. */
  public synchronized List<String> handoffs() {
    return List.copyOf(handoffs);
  }

  public synchronized String lastEventId() {
    return lastEventId;
  }

  /**
   * Takes the client offline: its connection ends now (a long-poll answer still in flight is
   * dropped unread, as a network cut would lose it) and it does not reconnect until {@link
   * #resume()}. Returns once it is offline.
   */
  public void pause() {
    synchronized (this) {
      paused = true;
    }
    abortCurrent.run();
    thread.interrupt();
    Await.until(this::parked, () -> "offline: " + this, Duration.ofSeconds(30));
  }

  private synchronized boolean parked() {
    return parked;
  }

  /** Brings a paused client back: it reconnects at once, resuming from its last event ID. */
  public synchronized void resume() {
    paused = false;
    notifyAll();
  }

  /** Parks the loop while paused (a client offline); false when closed meanwhile. */
  private synchronized boolean awaitOnline() {
    if (!paused) {
      return true;
    }
    parked = true;
    pollReconnected = true;
    while (paused && !closed.get()) {
      try {
        wait();
      } catch (InterruptedException e) {
        // pause() interrupts to end the connection; only close() ends the wait
      }
    }
    parked = false;
    Thread.interrupted(); // a pause's interrupt must not abort the next connection
    return !closed.get();
  }

  /** End-to-end latencies (publish call to receipt) of the messages sent in [from, to). */
  public synchronized List<Long> latenciesNanos(long fromNanos, long toNanos) {
    List<Long> out = new ArrayList<>();
    for (int i = 0; i < sentNanos.size(); i++) {
      if (sentNanos.get(i) >= fromNanos && sentNanos.get(i) < toNanos) {
        out.add(latenciesNanos.get(i));
      }
    }
    return out;
  }

  public synchronized List<String> resetReasons() {
    return List.copyOf(resetReasons);
  }

  public synchronized List<Long> resetAtNanos() {
    return List.copyOf(resetAtNanos);
  }

  public synchronized List<Long> reconnectDelays() {
    return List.copyOf(reconnectDelays);
  }

  public synchronized List<Long> connectedAtNanos() {
    return List.copyOf(connectedAtNanos);
  }

  public synchronized int moved() {
    return moved;
  }

  public synchronized int duplicates() {
    return duplicates;
  }

  public synchronized int outOfOrder() {
    return outOfOrder;
  }

  public synchronized int connectErrors() {
    return connectErrors;
  }

  /** The node of the last hello (WebSocket, SSE) or answered poll; null before. */
  public synchronized String node() {
    return node;
  }

  public synchronized boolean connected() {
    return !connectedAtNanos.isEmpty();
  }

  // ---- the connection loop ----

  private void loop() {
    long backoffMs = 50;
    while (!closed.get()) {
      if (!awaitOnline()) {
        return;
      }
      Next next;
      try {
        next =
            switch (transport) {
              case WEBSOCKET -> webSocket();
              case SSE -> sse();
              case LONGPOLL -> longPoll();
            };
        backoffMs = 50;
      } catch (Exception e) {
        synchronized (this) {
          if (!paused) {
            connectErrors++;
          }
          pollReconnected = true;
        }
        next = new Next(backoffMs);
        backoffMs = Math.min(1_000, backoffMs * 2);
      }
      if (next.delayMs > 0 && !closed.get() && !isPaused()) {
        try {
          Thread.sleep(next.delayMs); // the client's reconnect delay, part of what it does
        } catch (InterruptedException e) {
          if (closed.get()) {
            return;
          }
        }
      }
    }
  }

  private synchronized boolean isPaused() {
    return paused;
  }

  /** What to do after a connection ended: reconnect after {@code delayMs}. */
  private record Next(long delayMs) {}

  private synchronized URI url(String path, String extra) {
    heldForHandoff = false;
    StringBuilder q = new StringBuilder("?token=").append(enc(token));
    if (lastEventId != null) {
      q.append("&lastEventId=").append(enc(lastEventId));
      if (handoff != null && lastEventId.equals(handoffFor)) {
        q.append("&handoff=").append(enc(handoff));
        heldForHandoff = true;
      }
    }
    String b = base.toString().replaceAll("/+$", "");
    trace("connect " + b + path + " lastEventId=" + lastEventId + " handoff=" + heldForHandoff);
    return URI.create(b + path + q + extra);
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  /** Handles one event; returns the reconnect delay if it ends the connection, else -1. */
  private long onEvent(JsonNode e) {
    lastByteNanos = System.nanoTime();
    heldForHandoff = false;
    String type = e.path("type").asText();
    synchronized (this) {
      if (!type.equals("message") && !type.equals("ping")) {
        trace(e.toString());
      }
      switch (type) {
        case "hello" -> {
          node = e.path("node").asText();
          helloNodes.add(node);
          connectedAtNanos.add(System.nanoTime());
          // The position to resume from if nothing else arrives (docs/protocol.md), as js-client
          // keeps it: after a handoff it is the new owner's.
          if (e.hasNonNull("lastEventId")) {
            lastEventId = e.path("lastEventId").asText();
          }
        }
        case "message" -> {
          long sent = e.path("data").path("sentNanos").asLong();
          latenciesNanos.add(System.nanoTime() - sent);
          sentNanos.add(sent);
          if (e.hasNonNull("key")) {
            String key = e.path("key").asText();
            keys.add(key);
            if (!keySet.add(key)) {
              keyDuplicates++;
              trace(
                  "again "
                      + key
                      + " as "
                      + e.path("id").asText()
                      + " from "
                      + node
                      + ", first as "
                      + firstSeen.get(key));
            } else {
              firstSeen.put(key, e.path("id").asText() + " from " + node);
              noteOrder(key, e.path("id").asText());
            }
          } else {
            withoutKey++;
          }
          // seq numbers one user's own messages (Traffic); channel messages are counted by key
          if (!e.has("channel") && e.path("data").has("seq")) {
            long seq = e.path("data").path("seq").asLong();
            if (!seqSet.add(seq)) {
              duplicates++;
            } else {
              if (!seqs.isEmpty() && seq < seqs.get(seqs.size() - 1)) {
                outOfOrder++;
              }
              seqs.add(seq);
            }
          }
          lastEventId = e.path("id").asText();
        }
        case "reset" -> {
          resetReasons.add(e.path("reason").asText());
          resetAtNanos.add(System.nanoTime());
          lastEventId = e.path("id").asText();
        }
        case "moved" -> {
          moved++;
          base = URI.create(e.path("url").asText());
          // Bound to the position it is about; a moved without one resumes as before.
          handoff = e.hasNonNull("handoff") ? e.path("handoff").asText() : null;
          handoffFor = lastEventId;
          handoffs.add(handoff);
          return 0;
        }
        case "reconnect" -> {
          long d = e.path("delayMs").asLong();
          reconnectDelays.add(d);
          return d;
        }
        default -> {
          // ping and unknown types
        }
      }
    }
    return -1;
  }

  /**
   * 421 {@code not_owner} at connect (a client that was between two requests when its user moved: a
   * long-poll, or a reconnect): go to the owner the body names, as js-client does.
   */
  private Next notOwner(String body) throws IOException {
    JsonNode owner = JSON.readTree(body).path("owner");
    if (!owner.hasNonNull("url")) {
      throw new IOException("421 without owner: " + body);
    }
    synchronized (this) {
      moved++;
      pollReconnected = true;
      base = URI.create(owner.path("url").asText());
    }
    return new Next(0);
  }

  private Next webSocket() throws Exception {
    BlockingQueue<Object> q = new LinkedBlockingQueue<>();
    URI u = url("/v1/ws", "");
    URI ws = URI.create(u.toString().replaceFirst("^http", "ws"));
    WsTestSocket socket;
    try {
      socket =
          WsTestSocket.open(
              ws,
              ssl,
              Duration.ofMillis(heartbeatMs * SILENCE_HEARTBEATS * 2),
              new WsTestSocket.Listener() {
                @Override
                public void onText(String text) {
                  lastByteNanos = System.nanoTime();
                  q.add(text);
                }

                @Override
                public void onClose(int code, String reason) {
                  q.add(code);
                }
              });
    } catch (WsTestSocket.Refused refused) {
      if (refused.status == 421) {
        // The upgrade is checked after ownership: a plain GET of the URL is answered the same
        // 421, with the owner in its body.
        RawHttp.Response r = PollTestClient.get(http, u, Duration.ofMillis(silenceMs()));
        if (r.status() == 421) {
          return notOwner(r.body());
        }
      }
      throw refused;
    }
    return webSocketSession(socket, q);
  }

  private Next webSocketSession(WsTestSocket socket, BlockingQueue<Object> q) throws Exception {
    lastByteNanos = System.nanoTime();
    abortCurrent = socket::abort;
    try {
      long next = -1;
      while (!closed.get()) {
        Object item = q.poll(heartbeatMs, TimeUnit.MILLISECONDS);
        if (item == null) {
          if (silent()) {
            socket.abort();
            return new Next(0);
          }
          continue;
        }
        if (item instanceof Integer) {
          return new Next(next >= 0 ? next : 100);
        }
        long d = onEvent(JSON.readTree((String) item));
        if (d >= 0) {
          next = d;
        }
      }
      socket.abort();
      return new Next(0);
    } finally {
      abortCurrent = () -> {};
    }
  }

  private boolean silent() {
    return System.nanoTime() - lastByteNanos > TimeUnit.MILLISECONDS.toNanos(silenceMs());
  }

  /** The silence allowed now: a few heartbeats, plus the handoff wait before the first event. */
  private long silenceMs() {
    return heartbeatMs * SILENCE_HEARTBEATS + (heldForHandoff ? HANDOFF_WAIT_MS : 0);
  }

  private Next sse() throws Exception {
    URI u = url("/v1/sse", "");
    HttpRequest req =
        HttpRequest.newBuilder(u)
            .timeout(Duration.ofMillis(silenceMs()))
            .header("Accept", "text/event-stream")
            .build();
    HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
    if (r.statusCode() == 421) {
      try (InputStream in = r.body()) {
        return notOwner(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      }
    }
    if (r.statusCode() != 200) {
      r.body().close();
      throw new IOException("sse: " + r.statusCode());
    }
    InputStream body = r.body();
    lastByteNanos = System.nanoTime();
    Thread watchdog = silenceWatchdog(body);
    abortCurrent =
        () -> {
          try {
            body.close();
          } catch (IOException e) {
            // already closed
          }
        };
    long[] next = {-1};
    try (InputStream in = new BufferedInputStream(body, 64 * 1024)) {
      SseReader.read(
          in,
          new SseReader.Handler() {
            @Override
            public void onLine(String line) {
              lastByteNanos = System.nanoTime();
            }

            @Override
            public void onEvent(String id, String event, String data) {
              long d;
              try {
                d = StreamClient.this.onEvent(JSON.readTree(data));
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
              if (d >= 0) {
                next[0] = d;
              }
            }
          });
    } catch (IOException | UncheckedIOException e) {
      if (next[0] < 0) {
        throw e instanceof UncheckedIOException w ? w.getCause() : (IOException) e;
      }
    } finally {
      abortCurrent = () -> {};
      watchdog.interrupt();
    }
    return new Next(next[0] >= 0 ? next[0] : 100);
  }

  /** Closes {@code body} once the connection has been silent too long (a hung node). */
  private Thread silenceWatchdog(InputStream body) {
    Thread t =
        new Thread(
            () -> {
              try {
                while (true) {
                  Thread.sleep(heartbeatMs); // the watchdog's period, not a wait
                  if (silent() || closed.get()) {
                    body.close();
                    return;
                  }
                }
              } catch (InterruptedException | IOException e) {
                // connection ended first
              }
            },
            "watchdog-" + user);
    t.setDaemon(true);
    t.start();
    return t;
  }

  private Next longPoll() throws Exception {
    // The node holds the request up to longPollTimeoutMs; an answer later than that plus the
    // silence allowance means the node is hung.
    URI u = url("/v1/longpoll", "");
    RawHttp.Response r = PollTestClient.get(http, u, Duration.ofMillis(silenceMs() + heartbeatMs));
    if (r.status() == 421) {
      return notOwner(r.body());
    }
    if (r.status() != 200) {
      throw new IOException("longpoll: " + r.status() + " " + r.body());
    }
    if (isPaused()) {
      return new Next(0); // offline: the answer is lost on the way
    }
    JsonNode body = JSON.readTree(r.body());
    synchronized (this) {
      if (pollReconnected) {
        connectedAtNanos.add(System.nanoTime());
        pollReconnected = false;
      }
    }
    long next = -1;
    for (JsonNode e : body.path("events")) {
      long d = onEvent(e);
      if (d >= 0) {
        next = d;
      }
    }
    synchronized (this) {
      if (body.hasNonNull("lastEventId") && next < 0) {
        lastEventId = body.path("lastEventId").asText();
      }
      // A long-poll answer has no hello: the first answer after a move, a drain or an error
      // counts as a new connection.
      if (next >= 0) {
        pollReconnected = true;
      }
    }
    return new Next(Math.max(next, 0));
  }

  @Override
  public void close() {
    closed.set(true);
    abortCurrent.run();
    thread.interrupt();
  }

  @Override
  public synchronized String toString() {
    return transport
        + " "
        + user
        + " on "
        + node
        + " (received "
        + seqs.size()
        + ", resets "
        + resetReasons
        + ", moved "
        + moved
        + ", errors "
        + connectErrors
        + ", hellos "
        + helloNodes
        + ", last "
        + lastEventId
        + ")";
  }
}
