package dev.halley.node.transport;

import io.undertow.connector.PooledByteBuffer;
import io.undertow.server.AbstractServerConnection;
import io.undertow.server.ServerConnection;
import io.undertow.server.protocol.http.HttpServerConnection;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.xnio.IoUtils;
import org.xnio.channels.StreamSourceChannel;

/**
 * Notices at once that the peer of a held request went away. Undertow suspends reads on an HTTP
 * connection while a request is handled (and the request channel of a GET is already at its end),
 * so without this a closed client is found only at the next write: the SSE heartbeat, the long-poll
 * timeout. This resumes reads on the connection's socket from the IO thread (no thread is blocked);
 * end of stream or a read error calls {@code onClose} and closes the connection.
 *
 * <p>Bytes that arrive meanwhile are either dropped ({@code keepData} false: an SSE response is
 * never followed by another request on its connection) or handed back to Undertow as the start of
 * the next request ({@code keepData} true: a pipelined request after a long-poll), which ends the
 * watch for this request.
 */
public final class PeerClose {
  private PeerClose() {}

  /**
   * IO thread of {@code connection}: starts watching (HTTP/1.1 only; others are left as they are).
   */
  public static void watch(
      ServerConnection connection, boolean keepData, ServerConnection.CloseListener onClose) {
    if (!(connection instanceof AbstractServerConnection plain)) {
      return;
    }
    StreamSourceChannel source = plain.getChannel().getSourceChannel();
    source.getReadSetter().set(ch -> onReadable(connection, ch, keepData, onClose));
    source.resumeReads();
  }

  private static void onReadable(
      ServerConnection connection,
      StreamSourceChannel ch,
      boolean keepData,
      ServerConnection.CloseListener onClose) {
    PooledByteBuffer pooled = connection.getByteBufferPool().allocate();
    boolean handedBack = false;
    try {
      ByteBuffer b = pooled.getBuffer();
      while (true) {
        b.clear();
        int n = ch.read(b);
        if (n == 0) {
          return;
        }
        if (n > 0 && keepData && connection instanceof HttpServerConnection http) {
          b.flip();
          ch.suspendReads();
          http.ungetRequestBytes(pooled);
          handedBack = true;
          return;
        }
        if (n < 0) {
          break;
        }
      }
    } catch (IOException | RuntimeException e) {
      // a reset connection: same as end of stream
    } finally {
      if (!handedBack) {
        pooled.close();
      }
    }
    ch.suspendReads();
    try {
      onClose.closed(connection);
    } finally {
      IoUtils.safeClose(connection);
    }
  }
}
