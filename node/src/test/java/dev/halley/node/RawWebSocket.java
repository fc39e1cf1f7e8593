package dev.halley.node;

import dev.halley.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A WebSocket over a raw socket with a small receive buffer that reads nothing after the upgrade
 * until asked: the slow consumer. {@link #readUntilClose()} then reads every frame the node sent.
 */
public final class RawWebSocket implements AutoCloseable {
  private final Socket socket;
  private final InputStream in;

  /** The text frames read and the close code (-1 if none). */
  public record Frames(List<String> texts, int closeCode) {}

  private RawWebSocket(Socket socket, InputStream in) {
    this.socket = socket;
    this.in = in;
  }

  public static RawWebSocket connect(int port, String token) throws IOException {
    return connect(port, token, "");
  }

  /** {@link #connect(int, String)} with more query parameters ({@code "&lastEventId=..."}). */
  public static RawWebSocket connect(int port, String token, String moreQuery) throws IOException {
    Socket s = new Socket();
    s.setReceiveBufferSize(4096);
    s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
    s.setSoTimeout(20_000);
    StringBuilder req = new StringBuilder();
    req.append("GET /v1/ws?token=")
        .append(URLEncoder.encode(token, StandardCharsets.UTF_8))
        .append(moreQuery)
        .append(" HTTP/1.1\r\n");
    req.append("Host: 127.0.0.1:").append(port).append("\r\n");
    RawHttp.upgradeHeaders(null)
        .forEach((k, v) -> req.append(k).append(": ").append(v).append("\r\n"));
    req.append("\r\n");
    OutputStream out = s.getOutputStream();
    out.write(req.toString().getBytes(StandardCharsets.US_ASCII));
    out.flush();
    InputStream in = s.getInputStream();
    int status = RawHttp.readStatus(in);
    RawHttp.readHeaders(in);
    if (status != 101) {
      s.close();
      throw new AssertionError("upgrade refused: " + status);
    }
    return new RawWebSocket(s, in);
  }

  /** One server frame: its first byte (FIN, opcode), whether it was masked, its payload. */
  public record Frame(int first, boolean masked, byte[] payload) {
    public int opcode() {
      return first & 0x0f;
    }

    public boolean fin() {
      return (first & 0x80) != 0;
    }

    public String text() {
      return new String(payload, StandardCharsets.UTF_8);
    }

    /** A close frame's status code, -1 without one. */
    public int closeCode() {
      return payload.length >= 2 ? ((payload[0] & 0xff) << 8) | (payload[1] & 0xff) : -1;
    }
  }

  /** Reads one frame (a server's are unmasked); null at the end of the stream. */
  public static Frame readFrame(InputStream in) throws IOException {
    int b0 = in.read();
    if (b0 < 0) {
      return null;
    }
    int b1 = in.read();
    long len = b1 & 0x7f;
    if (len == 126) {
      len = (in.read() << 8) | in.read();
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; i++) {
        len = (len << 8) | in.read();
      }
    }
    byte[] payload = in.readNBytes((int) len);
    if (payload.length != len) {
      throw new IOException("frame cut short: " + payload.length + " of " + len + " bytes");
    }
    return new Frame(b0, (b1 & 0x80) != 0, payload);
  }

  /** Reads frames until a close frame (or EOF). */
  public Frames readUntilClose() throws IOException {
    List<String> texts = new ArrayList<>();
    while (true) {
      Frame f = readFrame(in);
      if (f == null) {
        return new Frames(texts, -1);
      }
      if (f.opcode() == 1) {
        texts.add(f.text());
      } else if (f.opcode() == 8) {
        return new Frames(texts, f.closeCode());
      }
    }
  }

  /** Reads the next {@code n} text frames (other frames are skipped); fails at a close or EOF. */
  public List<String> readTexts(int n) throws IOException {
    List<String> texts = new ArrayList<>();
    while (texts.size() < n) {
      Frame f = readFrame(in);
      if (f == null || f.opcode() == 8) {
        throw new IOException("closed after " + texts.size() + " text frames");
      }
      if (f.opcode() == 1) {
        texts.add(f.text());
      }
    }
    return texts;
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
