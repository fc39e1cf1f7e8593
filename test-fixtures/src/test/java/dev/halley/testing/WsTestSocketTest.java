package dev.halley.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link WsTestSocket} against a real socket that answers the upgrade as the test needs. */
class WsTestSocketTest {
  private static final String GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

  /**
   * A node that upgrades and at once sends one event and closes (a `moved` right after a covered
   * handoff): the socket did open, so open returns and the listener gets the event and the close.
   * Java-WebSocket's connectBlocking is false when the close was read before it returned; this was
   * reported as "no upgrade within 20 s" (ActivationRaceTest in the verify loop, run 30).
   */
  @Test
  void aSocketClosedByTheServerRightAfterTheUpgradeStillOpensAndReportsItsEventAndClose()
      throws Exception {
    try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Thread answering =
          new Thread(
              () -> {
                for (int i = 0; i < 20; i++) {
                  try (Socket s = server.accept()) {
                    upgradeSendAndClose(s);
                  } catch (IOException e) {
                    return; // the test failed or ended
                  }
                }
              },
              "upgrade-and-close");
      answering.setDaemon(true);
      answering.start();
      URI uri = URI.create("ws://127.0.0.1:" + server.getLocalPort() + "/v1/ws");
      for (int i = 0; i < 20; i++) {
        List<String> texts = new CopyOnWriteArrayList<>();
        int[] code = {0};
        CountDownLatch closed = new CountDownLatch(1);
        try (WsTestSocket ignored =
            WsTestSocket.open(
                uri,
                null,
                Duration.ofSeconds(20),
                new WsTestSocket.Listener() {
                  @Override
                  public void onText(String text) {
                    texts.add(text);
                  }

                  @Override
                  public void onClose(int c, String reason) {
                    code[0] = c;
                    closed.countDown();
                  }
                })) {
          assertTrue(closed.await(20, TimeUnit.SECONDS), "connection " + i + " closed");
          assertEquals(List.of("{\"type\":\"moved\"}"), texts, "connection " + i);
          assertEquals(4000, code[0], "connection " + i);
        }
      }
    }
  }

  /** Answers the upgrade, then a text event and a close frame in the same write. */
  private static void upgradeSendAndClose(Socket s) throws IOException {
    InputStream in = s.getInputStream();
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        return;
      }
      head.write(b);
    }
    String key = null;
    for (String line : head.toString(StandardCharsets.ISO_8859_1).split("\r\n")) {
      if (line.toLowerCase(java.util.Locale.ROOT).startsWith("sec-websocket-key:")) {
        key = line.substring(line.indexOf(':') + 1).trim();
      }
    }
    String accept;
    try {
      accept =
          Base64.getEncoder()
              .encodeToString(
                  MessageDigest.getInstance("SHA-1")
                      .digest((key + GUID).getBytes(StandardCharsets.ISO_8859_1)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    byte[] event = "{\"type\":\"moved\"}".getBytes(StandardCharsets.UTF_8);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: "
                + accept
                + "\r\n\r\n")
            .getBytes(StandardCharsets.ISO_8859_1));
    out.write(0x81); // FIN, text
    out.write(event.length);
    out.writeBytes(event);
    out.writeBytes(new byte[] {(byte) 0x88, 2, (byte) 0x0f, (byte) 0xa0}); // close 4000
    OutputStream o = s.getOutputStream();
    o.write(out.toByteArray());
    o.flush();
    // Read the client's close answer (or its end) before closing, so it sees the close frame.
    s.setSoTimeout(20_000);
    while (in.read() >= 0) {
      // discard until the client closes
    }
  }
}
