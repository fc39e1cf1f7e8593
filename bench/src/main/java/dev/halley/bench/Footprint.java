package dev.halley.bench;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What one connection, stream, buffered event and pending request costs a node, measured from the
 * outside (heap after a full GC via jcmd, open fds via /proc) on a real node process: N of a kind
 * are opened, the difference divided by N. The numbers in docs/operations.md ("Memory and
 * file-descriptor budget") come from this.
 *
 * <pre>
 * ./mvnw -q -B -ntp -pl bench -am package -DskipTests
 * java -cp node/target/halley-node.jar:bench/target/classes dev.halley.bench.Footprint [N]
 * </pre>
 */
public final class Footprint {
  private static final Pattern PORTS = Pattern.compile("public port (\\d+), internal port (\\d+)");

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 2_000;
    Path dir = Files.createTempDirectory("halley-footprint");
    Path config = dir.resolve("node.yaml");
    Files.writeString(
        config,
        String.join(
            "\n",
            "nodeId: f",
            "map: {\"version\": 1, \"nodes\": [{\"id\": \"f\", \"publicUrl\":"
                + " \"http://127.0.0.1:1\", \"internalUrl\": \"http://127.0.0.1:2\"}]}",
            "publicHost: 127.0.0.1",
            "publicPort: 0",
            "internalHost: 127.0.0.1",
            "internalPort: 0",
            "apiKeys: [" + Soak.API_KEY + "]",
            "tokenHmacSecret: " + Soak.SECRET,
            "longPollTimeoutMs: 600000",
            "heartbeatMs: 600000",
            "idleTimeoutMs: 1200000",
            "requestBodyTimeoutMs: 600000",
            "newConnectionsPerSecondPerAddress: 1000000",
            "newConnectionBurstPerAddress: 1000000",
            "maxConnectionsPerUser: 1000000",
            ""));
    Path log = dir.resolve("node.log");
    Process node =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g",
                "-jar",
                "node/target/halley-node.jar",
                "--config",
                config.toString())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    try {
      int publicPort = -1;
      int internalPort = -1;
      for (int i = 0; i < 600 && publicPort < 0; i++) {
        Matcher m = PORTS.matcher(Files.readString(log));
        if (m.find()) {
          publicPort = Integer.parseInt(m.group(1));
          internalPort = Integer.parseInt(m.group(2));
        } else {
          Thread.sleep(100);
        }
      }
      final int pub = publicPort;
      final int internal = internalPort;
      long pid = node.pid();
      System.out.println("N = " + n + " of each kind; heap after full GC and fds of pid " + pid);
      measure(pid, n, "idle keep-alive socket (no request)", i -> open(pub, ""));
      measure(
          pid,
          n,
          "pending request head (1 KB sent, unfinished)",
          i -> open(pub, "GET /v1/map HTTP/1.1\r\nX-Pad: " + "p".repeat(1_000)));
      measure(
          pid,
          n,
          "pending publish body (Content-Length 10000, 1 KB sent)",
          i ->
              open(
                  internal,
                  "POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + Soak.API_KEY
                      + "\r\nContent-Length: 10000\r\n\r\n"
                      + "{".repeat(1_000)));
      measure(pid, n, "WebSocket connection (idle, after hello)", i -> ws(pub, "ws-" + i));
      measure(
          pid,
          n,
          "SSE connection (idle, after hello)",
          i ->
              open(
                  pub,
                  "GET /v1/sse?token=" + Soak.token("sse-" + i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
      measure(
          pid,
          n,
          "held long-poll",
          i ->
              open(
                  pub,
                  "GET /v1/longpoll?token="
                      + Soak.token("lp-" + i)
                      + " HTTP/1.1\r\nHost: x\r\n\r\n"));
      HttpClient http = HttpClient.newHttpClient();
      measure(
          pid,
          n,
          "user stream with one API subscription, no connection",
          i -> {
            http.send(
                HttpRequest.newBuilder(
                        URI.create(
                            "http://127.0.0.1:" + internal + "/v1/users/sub-" + i + "/channels/c"))
                    .header("Authorization", "Bearer " + Soak.API_KEY)
                    .PUT(HttpRequest.BodyPublishers.noBody())
                    .build(),
                HttpResponse.BodyHandlers.discarding());
            return null;
          });
      for (boolean withId : new boolean[] {false, true}) {
        measure(
            pid,
            n,
            withId
                ? "buffered event of 100 bytes + its idempotency key"
                : "buffered event of 100 bytes (one user each, no connection)",
            i -> {
              http.send(
                  HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + internal + "/v1/publish"))
                      .header("Authorization", "Bearer " + Soak.API_KEY)
                      .POST(
                          HttpRequest.BodyPublishers.ofString(
                              "{\"messages\": [{\"users\": [\"sub-"
                                  + (i % 100)
                                  + "\"], "
                                  + (withId ? "\"id\": \"key-" + i + "\", " : "")
                                  + "\"data\": \""
                                  + "d".repeat(98)
                                  + "\"}]}"))
                      .build(),
                  HttpResponse.BodyHandlers.discarding());
              return null;
            });
      }
    } finally {
      node.destroyForcibly();
    }
  }

  private interface Opener {
    Object open(int i) throws Exception;
  }

  private static void measure(long pid, int n, String what, Opener opener) throws Exception {
    long[] before = Soak.sample(pid);
    List<Object> held = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      held.add(opener.open(i));
    }
    Thread.sleep(1_000); // let the node finish handling what was sent
    long[] after = Soak.sample(pid);
    System.out.printf(
        "%-58s heap %7.0f bytes each, fds %4.2f each%n",
        what, (after[0] - before[0]) * 1024.0 / n, (after[2] - before[2]) / (double) n);
    for (Object o : held) {
      if (o instanceof Socket s) {
        s.close();
      }
    }
    held.clear();
    Thread.sleep(2_000);
  }

  private static Socket open(int port, String bytes) throws Exception {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
    if (!bytes.isEmpty()) {
      s.getOutputStream().write(bytes.getBytes(StandardCharsets.US_ASCII));
    }
    return s;
  }

  private static Socket ws(int port, String user) throws Exception {
    Socket s =
        open(
            port,
            "GET /v1/ws?token="
                + Soak.token(user)
                + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    InputStream in = s.getInputStream();
    in.readNBytes(12); // "HTTP/1.1 101"
    return s;
  }
}
