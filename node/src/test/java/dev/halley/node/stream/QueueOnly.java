package dev.halley.node.stream;

/**
 * A connection reduced to its outbound queue, for tests of the queue itself: flushes are dropped
 * (its IO executor runs nothing) and the test takes events with {@link #poll} on its own threads.
 */
final class QueueOnly extends Connection {
  QueueOnly(int maxQueued) {
    super(new UserStream("alice", 0, 10, 60_000, 0), task -> {}, maxQueued);
  }

  @Override
  public String transport() {
    return "test";
  }

  @Override
  protected void flush() {}

  @Override
  protected void closeTransport(int code, String reason) {}
}
