package dev.halley.node.transport.ws;

import java.nio.ByteBuffer;

/**
 * One IO thread's reusable buffers for WebSocket frames (issue 12): events are encoded into {@link
 * #write} and go out in one gathering write per flush together with read-only views of the large
 * shared parts ({@link #reference}); client bytes are read into {@link #read}. Nothing here
 * outlives one call on the thread: what the socket did not take is copied out by {@link
 * WsSocket#write}.
 *
 * <p>Owner: the thread that got it from {@link #get()} (a thread-local), never shared.
 */
final class IoScratch {
  static final int WRITE_BYTES = 64 * 1024;
  static final int READ_BYTES = 16 * 1024;

  /** Buffers in one gathering write (segments of {@link #write} and shared references). */
  static final int MAX_GATHER = 14;

  /**
   * An event body (the message's shared tail, a control event's JSON) larger than this is written
   * from the shared bytes, not copied; smaller ones are copied into {@link #write}.
   */
  static final int SHARE_ABOVE = 1024;

  /** Room one event needs in {@link #write}: header, the per-user prefix, a copied body. */
  static final int RESERVE = WsFrames.MAX_HEADER + 128 + SHARE_ABOVE;

  private static final ThreadLocal<IoScratch> LOCAL = ThreadLocal.withInitial(IoScratch::new);

  final ByteBuffer write = ByteBuffer.allocateDirect(WRITE_BYTES);
  final ByteBuffer read = ByteBuffer.allocateDirect(READ_BYTES);
  final ByteBuffer[] gather = new ByteBuffer[MAX_GATHER];
  private final ByteBuffer[] views = new ByteBuffer[MAX_GATHER];
  private int count;
  private int segmentStart;

  private IoScratch() {
    for (int i = 0; i < MAX_GATHER; i++) {
      views[i] = write.duplicate();
    }
  }

  static IoScratch get() {
    return LOCAL.get();
  }

  /** Starts a flush. */
  void begin() {
    write.clear();
    count = 0;
    segmentStart = 0;
  }

  /** Whether one more event fits (write room and gather slots for it and the last segment). */
  boolean room() {
    return count <= MAX_GATHER - 3 && write.remaining() >= RESERVE;
  }

  /** Appends {@code shared} (read-only, shared with other connections) after what was written. */
  void reference(ByteBuffer shared) {
    endSegment();
    gather[count++] = shared;
  }

  /** Ends the flush: the number of buffers in {@link #gather}. */
  int finish() {
    endSegment();
    return count;
  }

  private void endSegment() {
    int end = write.position();
    if (end > segmentStart) {
      ByteBuffer v = views[count];
      v.clear();
      v.position(segmentStart).limit(end);
      gather[count++] = v;
      segmentStart = end;
    }
  }
}
