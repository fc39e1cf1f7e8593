package dev.halley.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** HTTP/1.1 over a raw socket, for requests the JDK client will not make (or to hold sockets). */
public final class RawHttp {
  private RawHttp() {}

  /** A response: status, lower-cased headers, body text. */
  public record Response(int status, Map<String, String> headers, String body) {
    public String error() {
      return json().path("error").asText();
    }

    public JsonNode json() {
      return TestJson.parse(body);
    }
  }

  /**
   * What {@link #exchangeToClose} saw: the response, the time from the first write until the node
   * closed, and whether it closed (EOF or a reset) after the response.
   */
  public record Answer(Response response, long ms, boolean closed) {
    public int status() {
      return response.status();
    }
  }

  /** A socket connected to 127.0.0.1:{@code port} whose reads time out after {@code timeout}. */
  public static Socket connect(int port, Duration timeout) throws IOException {
    Socket s = new Socket();
    try {
      s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      s.setSoTimeout((int) timeout.toMillis());
    } catch (IOException e) {
      s.close();
      throw e;
    }
    return s;
  }

  /**
   * Writes {@code raw} (ISO-8859-1: a request as it goes on the wire, head and body) on a new
   * socket and reads one response ({@link #read}); reads time out after 20 s.
   */
  public static Response exchange(int port, String raw) throws IOException {
    try (Socket s = connect(port, Duration.ofSeconds(20))) {
      s.getOutputStream().write(raw.getBytes(StandardCharsets.ISO_8859_1));
      return read(s.getInputStream());
    }
  }

  /**
   * Writes {@code parts} on a new socket (ISO-8859-1, each its own write), reads one response
   * ({@link #readExact}: the answer to a HEAD if the first part starts with one) and then whether
   * the node closed the connection; every read times out after {@code timeout}.
   */
  public static Answer exchangeToClose(int port, Duration timeout, String... parts)
      throws IOException {
    try (Socket s = connect(port, timeout)) {
      OutputStream out = s.getOutputStream();
      long t0 = System.nanoTime();
      for (String p : parts) {
        out.write(p.getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
      }
      InputStream in = s.getInputStream();
      Response r = readExact(in, parts.length > 0 && parts[0].startsWith("HEAD "));
      boolean closed = closedAfter(in);
      return new Answer(r, (System.nanoTime() - t0) / 1_000_000, closed);
    }
  }

  /**
   * Whether the peer closes the connection now that its response is read: EOF, or a reset (a close
   * with bytes of ours still unread, after the answer). Blocks until then or the read timeout.
   */
  public static boolean closedAfter(InputStream in) throws IOException {
    try {
      return in.read() == -1;
    } catch (SocketException reset) {
      return true;
    }
  }

  /** Opens a socket and writes a request; the caller reads the response. */
  public static Socket open(int port, String method, String target, Map<String, String> headers)
      throws IOException {
    Socket s = connect(port, Duration.ofSeconds(20));
    StringBuilder req = new StringBuilder();
    req.append(method).append(' ').append(target).append(" HTTP/1.1\r\n");
    req.append("Host: 127.0.0.1:").append(port).append("\r\n");
    headers.forEach((k, v) -> req.append(k).append(": ").append(v).append("\r\n"));
    req.append("\r\n");
    OutputStream out = s.getOutputStream();
    out.write(req.toString().getBytes(StandardCharsets.UTF_8));
    out.flush();
    return s;
  }

  /** A WebSocket upgrade request's headers (with an Origin if not null). */
  public static Map<String, String> upgradeHeaders(String origin) {
    Map<String, String> h = new LinkedHashMap<>();
    h.put("Upgrade", "websocket");
    h.put("Connection", "Upgrade");
    h.put("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    h.put("Sec-WebSocket-Version", "13");
    if (origin != null) {
      h.put("Origin", origin);
    }
    return h;
  }

  /** Sends one request and reads a response with a Content-Length (or up to EOF). */
  public static Response request(int port, String method, String target, Map<String, String> h)
      throws IOException {
    try (Socket s = open(port, method, target, h)) {
      return read(s.getInputStream());
    }
  }

  /**
   * Reads one response: the body by its Content-Length; without one, none for 101, 204 and 304, up
   * to EOF otherwise.
   */
  public static Response read(InputStream in) throws IOException {
    int status = readStatus(in);
    Map<String, String> headers = readHeaders(in);
    String len = headers.get("content-length");
    byte[] body;
    if (len != null) {
      body = in.readNBytes(Integer.parseInt(len));
    } else if (status == 101 || status == 204 || status == 304) {
      body = new byte[0];
    } else {
      body = in.readAllBytes();
    }
    return new Response(status, headers, new String(body, StandardCharsets.UTF_8));
  }

  /**
   * Reads one response whose body is exactly its Content-Length: none without that header, and none
   * when {@code head} (the answer to a HEAD has a GET's headers without its body). Nothing past it
   * is read, so what follows (EOF, or more bytes) is left to the caller.
   */
  public static Response readExact(InputStream in, boolean head) throws IOException {
    int status = readStatus(in);
    Map<String, String> headers = readHeaders(in);
    int length = head ? 0 : Integer.parseInt(headers.getOrDefault("content-length", "0"));
    return new Response(status, headers, new String(in.readNBytes(length), StandardCharsets.UTF_8));
  }

  public static int readStatus(InputStream in) throws IOException {
    String line = readLine(in);
    if (line == null || !line.startsWith("HTTP/1.1 ")) {
      throw new IOException("bad status line: " + line);
    }
    return Integer.parseInt(line.substring(9, 12));
  }

  public static Map<String, String> readHeaders(InputStream in) throws IOException {
    Map<String, String> headers = new LinkedHashMap<>();
    String line;
    while ((line = readLine(in)) != null && !line.isEmpty()) {
      int colon = line.indexOf(':');
      headers.put(
          line.substring(0, colon).trim().toLowerCase(Locale.ROOT),
          line.substring(colon + 1).trim());
    }
    return headers;
  }

  /** One CRLF- or LF-terminated line, or null at EOF. */
  public static String readLine(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) != -1) {
      if (c == '\n') {
        byte[] bytes = b.toByteArray();
        int n =
            bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        return new String(bytes, 0, n, StandardCharsets.UTF_8);
      }
      b.write(c);
    }
    return b.size() == 0 ? null : b.toString(StandardCharsets.UTF_8);
  }
}
