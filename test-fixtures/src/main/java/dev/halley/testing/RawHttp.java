package dev.halley.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** HTTP/1.1 over a raw socket, for requests the JDK client will not make (or to hold sockets). */
public final class RawHttp {
  private RawHttp() {}

  /** A response: status, lower-cased headers, body text. */
  public record Response(int status, Map<String, String> headers, String body) {
    public String error() {
      return TestJson.parse(body).path("error").asText();
    }
  }

  /** Opens a socket and writes a request; the caller reads the response. */
  public static Socket open(int port, String method, String target, Map<String, String> headers)
      throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
    s.setSoTimeout(20_000);
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
      InputStream in = s.getInputStream();
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
