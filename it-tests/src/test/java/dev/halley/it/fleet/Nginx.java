package dev.halley.it.fleet;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Debian's nginx running deploy/nginx/halley.conf as shipped, with only the deployment-specific
 * values replaced (listen address, upstream, certificate paths, include path), each of which must
 * occur exactly once so that a change to the shipped file cannot slip past. TLS with a certificate
 * for 127.0.0.1 made by openssl.
 */
public final class Nginx implements AutoCloseable {
  private final Path dir;
  private final Process process;
  public final int port;

  private Nginx(Path dir, Process process, int port) {
    this.dir = dir;
    this.process = process;
    this.port = port;
  }

  /** A self-signed certificate and key for 127.0.0.1 in {@code dir} (cert.pem, key.pem). */
  public static void makeCertificate(Path dir) {
    run(
        dir,
        List.of(
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            dir.resolve("key.pem").toString(),
            "-out",
            dir.resolve("cert.pem").toString(),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1"));
  }

  /** An SSL context that trusts exactly the certificate in {@code dir}. */
  public static SSLContext trusting(Path dir) {
    try {
      KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
      ks.load(null, null);
      ks.setCertificateEntry(
          "nginx",
          CertificateFactory.getInstance("X.509")
              .generateCertificate(
                  new ByteArrayInputStream(Files.readAllBytes(dir.resolve("cert.pem")))));
      TrustManagerFactory tmf =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(ks);
      SSLContext ssl = SSLContext.getInstance("TLS");
      ssl.init(null, tmf.getTrustManagers(), null);
      return ssl;
    } catch (Exception e) {
      throw new AssertionError("trust store", e);
    }
  }

  /**
   * Starts nginx in {@code dir} in front of the node at 127.0.0.1:{@code upstreamPort}, listening
   * with TLS on 127.0.0.1:{@code port}. {@code proxyEdit} may change the shipped proxy settings (to
   * make a buffering proxy); it gets and returns the file's text.
   */
  public static Nginx start(
      Path deployDir,
      Path dir,
      int port,
      int upstreamPort,
      java.util.function.UnaryOperator<String> proxyEdit) {
    try {
      Files.createDirectories(dir.resolve("tmp"));
      String proxy = Files.readString(deployDir.resolve("nginx/halley-proxy.conf"));
      Files.writeString(dir.resolve("halley-proxy.conf"), proxyEdit.apply(proxy));
      String conf = Files.readString(deployDir.resolve("nginx/halley.conf"));
      conf = once(conf, "server 10.0.0.1:8080;", "server 127.0.0.1:" + upstreamPort + ";");
      conf = once(conf, "listen 443 ssl;", "listen 127.0.0.1:" + port + " ssl;");
      conf =
          once(
              conf,
              "/etc/ssl/halley/node-1.push.example.com.crt",
              dir.resolve("cert.pem").toString());
      conf =
          once(
              conf,
              "/etc/ssl/halley/node-1.push.example.com.key",
              dir.resolve("key.pem").toString());
      conf =
          once(
              conf,
              "/etc/nginx/conf.d/halley-proxy.conf",
              dir.resolve("halley-proxy.conf").toString());
      Files.writeString(dir.resolve("halley.conf"), conf);
      Path t = dir.resolve("tmp");
      Files.writeString(
          dir.resolve("nginx.conf"),
          "worker_processes 1;\n"
              + "daemon off;\n"
              + "pid "
              + dir.resolve("nginx.pid")
              + ";\n"
              + "error_log "
              + dir.resolve("error.log")
              + " warn;\n"
              + "events { worker_connections 1024; }\n"
              + "http {\n"
              + "  access_log off;\n"
              + "  client_body_temp_path "
              + t.resolve("body")
              + ";\n"
              + "  proxy_temp_path "
              + t.resolve("proxy")
              + ";\n"
              + "  fastcgi_temp_path "
              + t.resolve("fastcgi")
              + ";\n"
              + "  uwsgi_temp_path "
              + t.resolve("uwsgi")
              + ";\n"
              + "  scgi_temp_path "
              + t.resolve("scgi")
              + ";\n"
              + "  include "
              + dir.resolve("halley.conf")
              + ";\n"
              + "}\n");
      String nginx = System.getProperty("halley.nginx", "nginx");
      run(
          dir,
          List.of(nginx, "-t", "-p", dir.toString(), "-c", dir.resolve("nginx.conf").toString()));
      Process p =
          new ProcessBuilder(
                  nginx, "-p", dir.toString(), "-c", dir.resolve("nginx.conf").toString())
              .redirectErrorStream(true)
              .redirectOutput(dir.resolve("nginx.out").toFile())
              .start();
      Nginx n = new Nginx(dir, p, port);
      Await.until(
          () -> {
            try (java.net.Socket s = new java.net.Socket("127.0.0.1", port)) {
              return true;
            } catch (IOException e) {
              if (!p.isAlive()) {
                throw new AssertionError("nginx exited: " + n.log());
              }
              return false;
            }
          },
          "nginx listening on " + port,
          Duration.ofSeconds(30));
      return n;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String once(String text, String from, String to) {
    int i = text.indexOf(from);
    if (i < 0 || text.indexOf(from, i + 1) >= 0) {
      throw new AssertionError(
          "deploy/nginx/halley.conf must contain \"" + from + "\" exactly once");
    }
    return text.replace(from, to);
  }

  private static void run(Path dir, List<String> command) {
    try {
      Process p =
          new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new AssertionError(String.join(" ", command) + " failed:\n" + out);
      }
    } catch (IOException e) {
      throw new AssertionError(String.join(" ", command) + " could not run", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }

  public String log() {
    try {
      return Files.readString(dir.resolve("nginx.out"))
          + (Files.exists(dir.resolve("error.log"))
              ? Files.readString(dir.resolve("error.log"))
              : "");
    } catch (IOException e) {
      return "(no log)";
    }
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
