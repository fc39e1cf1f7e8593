package dev.halley.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.it.fleet.Fleet;
import dev.halley.it.fleet.Nginx;
import dev.halley.it.fleet.NodeContainer;
import dev.halley.it.fleet.Scenario;
import dev.halley.it.fleet.StreamClient;
import dev.halley.it.fleet.Traffic;
import dev.halley.router.Publisher;
import dev.halley.router.TokenMinter;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Test;

/**
 * Scenario 5 of issue 13: a node container behind Debian's nginx running deploy/nginx/ as shipped
 * (TLS termination). WebSocket, SSE and long-poll clients through it receive everything, with
 * latency of the same order as clients connected directly; and a proxy that buffers (the shipped
 * file with buffering turned on and the node's {@code X-Accel-Buffering: no} ignored, as a proxy
 * that does not know the header behaves) is detected the way js-client detects it: the SSE response
 * starts, but its {@code hello} does not arrive.
 */
class BehindNginxIT {
  private static final Path DEPLOY = Path.of(System.getProperty("halley.deployDir", "../deploy"));

  @Test
  void everyTransportStreamsThroughTheShippedNginxConfigAndABufferingProxyIsDetected()
      throws Exception {
    Path dir =
        Files.createTempDirectory(
            "halley-nginx-",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
    Nginx.makeCertificate(dir);
    SSLContext ssl = Nginx.trusting(dir);
    try (Fleet fleet = Fleet.start("a");
        Publisher publisher = fleet.publisher()) {
      NodeContainer a = fleet.node("a");
      Path shipped = Files.createDirectory(dir.resolve("shipped"));
      Path buffering = Files.createDirectory(dir.resolve("buffering"));
      for (Path d : List.of(shipped, buffering)) {
        Files.copy(dir.resolve("cert.pem"), d.resolve("cert.pem"));
        Files.copy(dir.resolve("key.pem"), d.resolve("key.pem"));
      }
      try (Nginx proxy = Nginx.start(DEPLOY, shipped, freePort(), a.publicPort, conf -> conf);
          Nginx buffered =
              Nginx.start(
                  DEPLOY,
                  buffering,
                  freePort(),
                  a.publicPort,
                  conf ->
                      conf.replace("proxy_buffering off;", "proxy_buffering on;")
                          + "proxy_ignore_headers X-Accel-Buffering;\n")) {
        URI viaNginx = URI.create("https://127.0.0.1:" + proxy.port);
        List<StreamClient> direct = new ArrayList<>();
        List<StreamClient> proxied = new ArrayList<>();
        for (StreamClient.Transport t : StreamClient.Transport.values()) {
          for (int i = 0; i < 3; i++) {
            String p = t.name().toLowerCase() + "-" + i;
            direct.add(fleet.client("direct-" + p, t));
            proxied.add(fleet.client("nginx-" + p, t, viaNginx, ssl));
          }
        }
        List<StreamClient> all = new ArrayList<>(direct);
        all.addAll(proxied);
        Scenario.awaitConnected(all);
        try (Traffic traffic = new Traffic(publisher, Scenario.users(all), 100).start()) {
          traffic.awaitRounds(100);
          traffic.stop();
          Traffic.Tally d = Scenario.settle(traffic, direct);
          Traffic.Tally n = Scenario.settle(traffic, proxied);
          for (StreamClient.Transport t : StreamClient.Transport.values()) {
            long dp50 = pct(direct, t, 50);
            long dp99 = pct(direct, t, 99);
            long np50 = pct(proxied, t, 50);
            long np99 = pct(proxied, t, 99);
            Scenario.record(
                "nginx",
                t
                    + " latency p50/p99 direct "
                    + Scenario.ms(dp50)
                    + "/"
                    + Scenario.ms(dp99)
                    + " ms, through nginx (TLS) "
                    + Scenario.ms(np50)
                    + "/"
                    + Scenario.ms(np99)
                    + " ms");
            // Same order: nginx adds a hop, not a buffer. A buffering hop holds small SSE events
            // until its 4-8 KiB buffer fills: seconds at this rate.
            assertTrue(
                np99 < dp99 + TimeUnit.SECONDS.toNanos(1),
                t
                    + " through nginx p99 "
                    + Scenario.ms(np99)
                    + " ms vs direct "
                    + Scenario.ms(dp99));
          }
          Scenario.record("nginx", "direct " + d + " | through nginx " + n);
          assertEquals(d.published, d.received, d.toString());
          assertEquals(n.published, n.received, "everything streamed through nginx: " + n);
          assertEquals(0, n.resets + n.duplicates + n.failed + n.acceptedOutOfOrder, n.toString());
        } finally {
          Scenario.closeAll(all);
        }

        String token = TokenMinter.hs256(NodeContainer.SECRET).mint("probe", Duration.ofMinutes(5));
        assertTrue(
            sseHelloWithin(viaNginx, ssl, token, Duration.ofMillis(3 * Fleet.HEARTBEAT_MS)),
            "the shipped config streams SSE at once");
        assertFalse(
            sseHelloWithin(
                URI.create("https://127.0.0.1:" + buffered.port),
                ssl,
                token,
                Duration.ofMillis(3 * Fleet.HEARTBEAT_MS)),
            "a buffering proxy is detected: the hello does not arrive in time");
      }
    } finally {
      try (var files = Files.walk(dir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  /**
   * What js-client checks: the SSE stream's {@code hello} arrives within {@code within} of the
   * request. Behind a buffering proxy it does not (nginx then holds even the response headers until
   * its buffer fills).
   */
  private static boolean sseHelloWithin(URI base, SSLContext ssl, String token, Duration within)
      throws Exception {
    HttpClient http = HttpClient.newBuilder().sslContext(ssl).build();
    AtomicReference<InputStream> stream = new AtomicReference<>();
    CompletableFuture<Boolean> hello =
        http.sendAsync(
                HttpRequest.newBuilder(URI.create(base + "/v1/sse?token=" + token)).build(),
                HttpResponse.BodyHandlers.ofInputStream())
            .thenApplyAsync(
                r -> {
                  stream.set(r.body());
                  if (r.statusCode() != 200) {
                    return false;
                  }
                  try (BufferedReader in =
                      new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = in.readLine()) != null) {
                      if (line.equals("event: hello")) {
                        return true;
                      }
                    }
                  } catch (java.io.IOException e) {
                    // closed below
                  }
                  return false;
                });
    try {
      return hello.get(within.toMillis(), TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      return false;
    } finally {
      hello.cancel(true);
      InputStream in = stream.get();
      if (in != null) {
        in.close();
      }
    }
  }

  private static long pct(List<StreamClient> clients, StreamClient.Transport t, double p) {
    List<Long> l = new ArrayList<>();
    clients.stream()
        .filter(c -> c.transport == t)
        .forEach(c -> l.addAll(c.latenciesNanos(0, Long.MAX_VALUE)));
    return Traffic.percentile(l, p);
  }

  private static int freePort() throws java.io.IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }
}
