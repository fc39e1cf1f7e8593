package dev.halley.node.harden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSObject;
import com.nimbusds.jose.Payload;
import com.nimbusds.jose.crypto.MACSigner;
import dev.halley.node.HalleyNode;
import dev.halley.node.TestNodes;
import dev.halley.testing.RawHttp;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * The fuzz suite (issue 11): generated inputs against a real node over real sockets, on the
 * publish, subscription, presence and admin APIs, the browser connect parameters and tokens, raw
 * request heads, and client WebSocket frames. Every reply is 2xx or a JSON 4xx error, never a 5xx,
 * and a rejected publish delivers nothing (the fuzz user's sequence counts exactly the accepted
 * ones).
 *
 * <p>CI runs {@code jqwik.tries.default} (250) tries per property; the long pass is {@code ./mvnw
 * -B -ntp -pl node -am test -Dtest=FuzzTest -Dsurefire.failIfNoSpecifiedTests=false
 * -Djqwik.tries.default=25000} (5 properties, 125,000 inputs).
 */
class FuzzTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static HalleyNode node;
  private static String fuzzUser;
  private static final AtomicLong accepted = new AtomicLong();
  private static final java.util.Set<String> fuzzUserKeys =
      java.util.concurrent.ConcurrentHashMap.newKeySet();
  private static final AtomicLong inputs = new AtomicLong();
  private static final Map<Integer, AtomicLong> statuses =
      new java.util.concurrent.ConcurrentHashMap<>();

  @BeforeContainer
  static void start() {
    node =
        HalleyNode.start(
            TestNodes.config()
                .bufferMaxEvents(100_000)
                .connectionQueueMaxEvents(100_002)
                .longPollTimeoutMs(100)
                .idempotencyWindowMs(24 * 3_600_000L) // a key is never forgotten during a run
                .build());
    fuzzUser = TestNodes.userOwnedBy("a", "fuzz", 0);
  }

  @AfterContainer
  static void stop() throws Exception {
    try {
      // Nothing delivered from a rejected request: the user's last seq counts accepted ones only.
      Reply r =
          http(
              node.publicPort(),
              "GET",
              "/v1/poll?token=" + enc(TestNodes.token(fuzzUser, null)),
              Map.of(),
              null);
      assertEquals(200, r.status, r.body);
      String last = JSON.readTree(r.body).get("lastEventId").asText();
      assertEquals(
          accepted.get(),
          Long.parseLong(last.substring(last.indexOf(':') + 1)),
          "accepted publishes vs the fuzz user's seq");
      System.out.println(
          "fuzz: "
              + inputs.get()
              + " inputs, statuses "
              + statuses
              + ", accepted publishes "
              + accepted.get());
    } finally {
      node.close();
    }
  }

  // ---- the raw exchange ----

  record Reply(int status, Map<String, String> headers, String body) {}

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  /** One request on a fresh socket; null status (-1) when the node closed without answering. */
  static Reply http(
      int port, String method, String target, Map<String, String> headers, byte[] body)
      throws IOException {
    ByteArrayOutputStream req = new ByteArrayOutputStream();
    StringBuilder head =
        new StringBuilder(method)
            .append(' ')
            .append(target)
            .append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    headers.forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
    if (body != null) {
      head.append("Content-Length: ").append(body.length).append("\r\n");
    }
    req.writeBytes(head.append("\r\n").toString().getBytes(StandardCharsets.UTF_8));
    if (body != null) {
      req.writeBytes(body);
    }
    return raw(port, req.toByteArray());
  }

  static Reply raw(int port, byte[] request) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      s.setSoTimeout(15_000);
      OutputStream out = s.getOutputStream();
      out.write(request);
      out.flush();
      InputStream in = s.getInputStream();
      String line = RawHttp.readLine(in);
      if (line == null) {
        return new Reply(-1, Map.of(), "");
      }
      int status = Integer.parseInt(line.substring(9, 12));
      Map<String, String> h = RawHttp.readHeaders(in);
      String len = h.get("content-length");
      boolean stream = String.valueOf(h.get("content-type")).startsWith("text/event-stream");
      byte[] b =
          len != null
              ? in.readNBytes(Integer.parseInt(len))
              : status == 101 || stream ? new byte[0] : in.readAllBytes();
      return new Reply(status, h, new String(b, StandardCharsets.UTF_8));
    } catch (SocketTimeoutException e) {
      throw new AssertionError("no answer within 15 s", e);
    }
  }

  /** 2xx/3xx, or a 4xx with the protocol's JSON error body; never a 5xx. */
  static void assertHonest(Reply r, String what) {
    inputs.incrementAndGet();
    statuses.computeIfAbsent(r.status, k -> new AtomicLong()).incrementAndGet();
    assertTrue(r.status < 500, what + " -> " + r);
    if (r.status >= 400) {
      assertTrue(r.status < 500, what + " -> " + r);
      assertTrue(
          String.valueOf(r.headers.get("content-type")).startsWith("application/json"),
          what + " -> " + r);
      JsonNode b;
      try {
        b = JSON.readTree(r.body);
      } catch (IOException e) {
        throw new AssertionError(what + " -> not JSON: " + r, e);
      }
      assertTrue(b.path("error").isTextual() && b.path("message").isTextual(), what + " -> " + r);
    }
  }

  // ---- generators ----

  /** Text that stresses parsers: JSON syntax, escapes, non-ASCII, controls, long runs. */
  static Arbitrary<String> nasty() {
    return Arbitraries.oneOf(
        Arbitraries.strings().ofMaxLength(40),
        Arbitraries.strings().withChars("{}[]\",:\\ 0123456789eE.-+tfnul").ofMaxLength(60),
        Arbitraries.of(
            "",
            "null",
            "1e400",
            "-0",
            "0.1000000000000000055511151231257827",
            "\"\\ud800\"",
            "\"\\u0000\"",
            "[[[[[[[[[[]]]]]]]]]]",
            "{\"a\":1,\"a\":2}",
            "\"é€𝄞\"",
            "9".repeat(1200),
            "[" + "1,".repeat(2000) + "1]"));
  }

  static Arbitrary<String> userIds() {
    return Arbitraries.oneOf(
        Arbitraries.just(fuzzUserOrDefault()),
        Arbitraries.strings().ofMaxLength(300),
        Arbitraries.of("", "a/b", "é", "x".repeat(257)));
  }

  private static String fuzzUserOrDefault() {
    return fuzzUser == null ? TestNodes.userOwnedBy("a", "fuzz", 0) : fuzzUser;
  }

  @Provide
  Arbitrary<byte[]> publishBodies() {
    Arbitrary<String> data =
        Arbitraries.oneOf(nasty(), Arbitraries.of("1", "{\"k\":[1,2,3]}", "\"text\""));
    Arbitrary<String> users =
        userIds()
            .list()
            .ofMaxSize(3)
            .map(
                l -> {
                  StringBuilder b = new StringBuilder("[");
                  for (int i = 0; i < l.size(); i++) {
                    b.append(i == 0 ? "" : ",").append(JSON.valueToTree(l.get(i)).toString());
                  }
                  return b.append(']').toString();
                });
    Arbitrary<String> message =
        Combinators.combine(
                users,
                data,
                Arbitraries.of(
                    "",
                    ",\"ttlMs\":5",
                    ",\"ttlMs\":-1",
                    ",\"id\":\"k\"",
                    ",\"channel\":\"room\"",
                    ",\"x\":1",
                    ",\"ttlMs\":1e3"))
            .as((u, d, extra) -> "{\"users\":" + u + ",\"data\":" + d + extra + "}");
    Arbitrary<String> valid =
        message
            .list()
            .ofMinSize(0)
            .ofMaxSize(3)
            .map(ms -> "{\"messages\":[" + String.join(",", ms) + "]}");
    Arbitrary<byte[]> text =
        Arbitraries.oneOf(valid, nasty()).map(s -> s.getBytes(StandardCharsets.UTF_8));
    // Mutations of the bytes: truncation, a bad UTF-8 byte, random bytes.
    return Arbitraries.oneOf(
        text,
        Combinators.combine(text, Arbitraries.integers().between(0, 200))
            .as((b, n) -> java.util.Arrays.copyOf(b, Math.min(b.length, n))),
        Combinators.combine(
                text,
                Arbitraries.of((byte) 0xC0, (byte) 0xED, (byte) 0xFF, (byte) 0x80, (byte) 0x00))
            .as(
                (b, x) -> {
                  byte[] c = java.util.Arrays.copyOf(b, b.length + 1);
                  c[c.length - 1] = c.length > 1 ? c[c.length - 2] : x;
                  c[Math.max(0, c.length / 2)] = x;
                  return c;
                }),
        Arbitraries.bytes().array(byte[].class).ofMaxSize(100));
  }

  @Property
  void publishRepliesAreHonestAndRejectedOnesDeliverNothing(
      @ForAll("publishBodies") byte[] body, @ForAll boolean withKey) throws Exception {
    Map<String, String> h =
        withKey
            ? Map.of(
                "Authorization", "Bearer " + TestNodes.API_KEY, "Content-Type", "application/json")
            : Map.of();
    Reply r = http(node.internalPort(), "POST", "/v1/publish", h, body);
    assertHonest(r, "publish " + new String(body, StandardCharsets.UTF_8));
    if (r.status == 200) {
      for (JsonNode result : JSON.readTree(r.body).get("results")) {
        for (String list : List.of("delivered", "buffered")) {
          for (JsonNode u : result.path(list)) {
            // A repeated idempotency key restates the user's first outcome without delivering
            // again, so a key counts once for the fuzz user.
            if (u.asText().equals(fuzzUser)
                && (!result.hasNonNull("id") || fuzzUserKeys.add(result.get("id").asText()))) {
              accepted.incrementAndGet();
            }
          }
        }
      }
    } else {
      assertTrue(r.status >= 400 && r.status < 500, r.toString());
    }
  }

  @Provide
  Arbitrary<String[]> apiRequests() {
    Arbitrary<String> method =
        Arbitraries.of("GET", "PUT", "DELETE", "POST", "PATCH", "OPTIONS", "HEAD");
    Arbitrary<String> segment =
        Arbitraries.oneOf(
            Arbitraries.strings().withChars("abcXYZ09-_.~%2FfFzZ/+é€").ofMaxLength(30),
            Arbitraries.of(
                "%",
                "%F",
                "%FF",
                "%C0%80",
                "%ED%A0%80",
                "%00",
                "..",
                "",
                "a%2Fb",
                "room",
                fuzzUserOrDefault()));
    Arbitrary<String> path =
        Combinators.combine(
                Arbitraries.of(
                    "/v1/users/",
                    "/v1/admin/map",
                    "/v1/publish",
                    "/healthz",
                    "/readyz",
                    "/metrics",
                    "/v1/",
                    "/"),
                segment,
                Arbitraries.of("/channels/", "/presence", "/channels/room", "", "/x/y"),
                segment)
            .as(
                (p, u, mid, c) ->
                    p.startsWith("/v1/users/")
                        ? p + u + mid + c
                        : p + (u.isEmpty() ? "" : "?" + u));
    Arbitrary<String> body =
        Arbitraries.oneOf(
            Arbitraries.just(""),
            nasty(),
            Arbitraries.of("{\"version\": 1, \"nodes\": []}", "{\"version\": 99}"));
    return Combinators.combine(method, path, body, Arbitraries.of(true, true, false))
        .as((m, p, b, key) -> new String[] {m, p, b, String.valueOf(key)});
  }

  @Property
  void subscriptionPresenceAndAdminRepliesAreHonest(@ForAll("apiRequests") String[] req)
      throws Exception {
    Map<String, String> h =
        Boolean.parseBoolean(req[3])
            ? Map.of("Authorization", "Bearer " + TestNodes.API_KEY)
            : Map.of();
    String path = req[1].replace(" ", "%20");
    if (req[0].equals("POST") && path.startsWith("/v1/admin/map")) {
      // a valid-looking map must not be applied: the fuzz keeps node "a" and the map as they are
      req[2] = req[2].contains("\"nodes\"") ? "{\"version\": 1}" : req[2];
    }
    Reply r =
        http(
            node.internalPort(),
            req[0],
            path,
            h,
            req[2].isEmpty() ? null : req[2].getBytes(StandardCharsets.UTF_8));
    if (req[0].equals("HEAD")) {
      inputs.incrementAndGet(); // a HEAD reply has the status and headers of the GET, no body
      assertTrue(r.status < 500, String.join(" ", req) + " -> " + r);
      return;
    }
    assertHonest(r, String.join(" ", req));
  }

  @Provide
  Arbitrary<String> tokens() {
    String valid = TestNodes.token(fuzzUserOrDefault(), List.of("room"));
    long exp = Instant.now().plusSeconds(3600).getEpochSecond();
    Arbitrary<String> claims =
        Arbitraries.of(
            "{\"sub\":\"u\",\"exp\":" + exp + "}",
            "{\"sub\":1,\"exp\":" + exp + "}",
            "{\"sub\":\"u\"}",
            "{\"sub\":\"u\",\"exp\":\"x\"}",
            "{\"sub\":\"u\",\"exp\":" + exp + ",\"nbf\":" + (exp + 100) + "}",
            "{\"sub\":\"u\",\"exp\":" + exp + ",\"channels\":\"room\"}",
            "{\"sub\":\"u\",\"exp\":" + exp + ",\"channels\":[1]}",
            "{\"sub\":[\"u\"],\"exp\":" + exp + "}",
            "{\"sub\":\"\",\"exp\":" + exp + "}",
            "[]",
            "{",
            "{\"sub\":\"u\",\"exp\":1e400}");
    Arbitrary<String> signed = claims.map(FuzzTest::sign);
    Arbitrary<String> flipped =
        Arbitraries.integers()
            .between(0, valid.length() - 1)
            .map(
                i ->
                    valid.substring(0, i)
                        + (valid.charAt(i) == 'A' ? 'B' : 'A')
                        + valid.substring(i + 1));
    Arbitrary<String> none = Arbitraries.just("eyJhbGciOiJub25lIn0." + valid.split("\\.")[1] + ".");
    return Arbitraries.oneOf(
        Arbitraries.just(valid),
        signed,
        flipped,
        none,
        nasty(),
        Arbitraries.strings().ofMaxLength(2000));
  }

  private static String sign(String payload) {
    try {
      JWSObject jws = new JWSObject(new JWSHeader(JWSAlgorithm.HS256), new Payload(payload));
      jws.sign(new MACSigner(TestNodes.SECRET.getBytes(StandardCharsets.UTF_8)));
      return jws.serialize();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Property
  void connectParametersAndTokensGetHonestReplies(
      @ForAll("tokens") String token,
      @ForAll("connectQueries") String query,
      @ForAll("transports") String path,
      @ForAll boolean header)
      throws Exception {
    Map<String, String> h = new java.util.LinkedHashMap<>();
    String target = path + "?" + query;
    if (header) {
      h.put("Authorization", "Bearer " + token.replaceAll("[\\r\\n]", ""));
    } else {
      target += "&token=" + enc(token);
    }
    if (path.equals("/v1/ws")) {
      h.putAll(RawHttp.upgradeHeaders(null));
    }
    Reply r = http(node.publicPort(), "GET", target, h, null);
    assertHonest(r, target + " " + h);
    boolean transport = !path.startsWith("/js/") && !path.equals("/v1/map");
    if (transport && r.status < 400) {
      // Only a token signed with the node's secret may connect: every forgery is refused.
      assertTrue(isOurSignature(token), "forged token accepted: " + token);
    }
  }

  private static boolean isOurSignature(String token) {
    try {
      return com.nimbusds.jose.JWSObject.parse(token)
          .verify(
              new com.nimbusds.jose.crypto.MACVerifier(
                  TestNodes.SECRET.getBytes(StandardCharsets.UTF_8)));
    } catch (Exception e) {
      return false;
    }
  }

  @Provide
  Arbitrary<String> connectQueries() {
    Arbitrary<String> last =
        Arbitraries.oneOf(
            Arbitraries.just(""),
            nasty().map(FuzzTest::enc),
            Arbitraries.of(
                "0123456789abcdef:1",
                "0123456789abcdef:-1",
                "0123456789abcdef:99999999999999999999",
                "zz:1",
                ":"));
    Arbitrary<String> timeout = Arbitraries.of("0", "-1", "abc", "1e3", "99999999999999999999", "");
    return Combinators.combine(
            last, timeout, Arbitraries.of("", "&lastEventId=1&lastEventId=2", "&token=x", "&%zz=1"))
        .as((l, t, extra) -> "timeoutMs=" + t + (l.isEmpty() ? "" : "&lastEventId=" + l) + extra);
  }

  @Provide
  Arbitrary<String> transports() {
    return Arbitraries.of(
        "/v1/poll", "/v1/longpoll", "/v1/sse", "/v1/ws", "/v1/map", "/js/index.js", "/js/x.js");
  }

  @Provide
  Arbitrary<byte[]> rawHeads() {
    Arbitrary<String> line =
        Arbitraries.oneOf(
            Arbitraries.strings().ofMaxLength(80),
            Combinators.combine(
                    Arbitraries.of("GET", "POST", "G ET", "", "PUT"),
                    Arbitraries.strings().withChars("/%zZ09?&=#\u0001 é").ofMaxLength(40),
                    Arbitraries.of("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9", ""))
                .as((m, t, v) -> m + " /" + t + " " + v));
    Arbitrary<String> headers =
        Arbitraries.of(
            "Host: x\r\n",
            "Host: x\r\nHost: y\r\n",
            "Host: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n",
            "Host: x\r\nContent-Length: -1\r\n",
            "Host: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n",
            "Host: x\r\nTransfer-Encoding: gzip\r\n",
            "",
            "Host: x\r\nBad Header\r\n",
            "Host: x\r\n: empty\r\n",
            "Host: x\r\nX: " + "v".repeat(40_000) + "\r\n");
    return Combinators.combine(line, headers, Arbitraries.of("", "abc", "0\r\n\r\n"))
        .as((l, h, b) -> (l + "\r\n" + h + "\r\n" + b).getBytes(StandardCharsets.UTF_8));
  }

  @Property
  void rawRequestHeadsGetJsonErrorsOrAreServed(
      @ForAll("rawHeads") byte[] request, @ForAll boolean internal) throws Exception {
    Reply r = raw(internal ? node.internalPort() : node.publicPort(), request);
    if (r.status == -1) {
      inputs.incrementAndGet(); // closed without a reply: only for a head that never ends (HTTP/0.9
      // style)
      return;
    }
    assertHonest(r, new String(request, StandardCharsets.UTF_8));
  }

  @Provide
  Arbitrary<byte[]> clientFrames() {
    Arbitrary<Integer> opcode = Arbitraries.of(0, 1, 2, 3, 8, 9, 10, 11, 15);
    Arbitrary<byte[]> payload = Arbitraries.bytes().array(byte[].class).ofMaxSize(300);
    return Combinators.combine(
            opcode,
            Arbitraries.of(true, false),
            Arbitraries.of(true, true, false),
            payload,
            Arbitraries.of(-1L, 0L, 70_000L, 5_000_000_000L))
        .as((op, fin, masked, p, declared) -> frame(op, fin, masked, p, declared));
  }

  static byte[] frame(int opcode, boolean fin, boolean masked, byte[] payload, long declared) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    b.write((fin ? 0x80 : 0) | opcode);
    long len = declared >= 0 ? declared : payload.length;
    int mask = masked ? 0x80 : 0;
    if (len < 126) {
      b.write(mask | (int) len);
    } else if (len < 65536) {
      b.write(mask | 126);
      b.write((int) (len >> 8));
      b.write((int) len & 0xff);
    } else {
      b.write(mask | 127);
      for (int i = 7; i >= 0; i--) {
        b.write((int) (len >>> (8 * i)) & 0xff);
      }
    }
    if (masked) {
      b.writeBytes(new byte[] {0, 0, 0, 0});
    }
    b.writeBytes(payload);
    return b.toByteArray();
  }

  @Property
  void clientWebSocketFramesNeverHurtTheNode(@ForAll("clientFrames") byte[] frame)
      throws Exception {
    inputs.incrementAndGet();
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", node.publicPort()), 10_000);
      s.setSoTimeout(15_000);
      String head =
          "GET /v1/ws?token="
              + enc(TestNodes.token(TestNodes.userOwnedBy("a", "wsfuzz", 0), null))
              + " HTTP/1.1\r\nHost: x\r\n";
      StringBuilder req = new StringBuilder(head);
      RawHttp.upgradeHeaders(null)
          .forEach((k, v) -> req.append(k).append(": ").append(v).append("\r\n"));
      s.getOutputStream().write(req.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
      InputStream in = s.getInputStream();
      assertEquals(101, RawHttp.readStatus(in));
      RawHttp.readHeaders(in);
      try {
        s.getOutputStream().write(frame);
        s.getOutputStream()
            .write(frame(1, true, true, "{}".getBytes(StandardCharsets.US_ASCII), -1));
      } catch (IOException closed) {
        // the node closed on a bad frame
      }
    }
    // The node still serves: a fresh request is answered.
    Reply r = http(node.publicPort(), "GET", "/v1/map", Map.of(), null);
    assertEquals(200, r.status, r.toString());
  }
}
