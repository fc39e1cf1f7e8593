package dev.halley.node.wire;

/** The per-message {@code "status"} of a publish reply (docs/protocol.md, Publishing). */
public final class PublishStatus {
  private PublishStatus() {}

  public static final String ACCEPTED = "accepted";
  public static final String DUPLICATE = "duplicate";
  public static final String PENDING = "pending";
}
