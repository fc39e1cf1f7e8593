package dev.halley.router;

import java.io.IOException;

/**
 * A presence or subscription call to a node failed: the node answered an error, or did not answer.
 *
 * <pre>{@code
 * publisher.subscribe("alice", "room:1").exceptionally(e -> {
 *   if (e.getCause() instanceof NodeRequestException n && n.status() == 401) alertOps(n);
 *   return null;
 * });
 * }</pre>
 *
 * <p>{@link #status()} is the HTTP status, or 0 when there was no answer; {@link #code()} the
 * node's error code ({@code not_owner}, {@code api_key_invalid}, ...) or {@code timeout}, {@code
 * unreachable}, {@code bad_reply}, {@code closed}.
 */
public final class NodeRequestException extends IOException {
  private static final long serialVersionUID = 1L;

  private final String node;
  private final int status;
  private final String code;

  public NodeRequestException(String node, int status, String code, String message) {
    super(message);
    this.node = node;
    this.status = status;
    this.code = code;
  }

  public NodeRequestException(String node, String code, String message, Throwable cause) {
    super(message, cause);
    this.node = node;
    this.status = 0;
    this.code = code;
  }

  /** The ID of the node called, or null if none could be chosen. */
  public String node() {
    return node;
  }

  /** The HTTP status, or 0 when the node did not answer. */
  public int status() {
    return status;
  }

  /** The error code (see the class comment). */
  public String code() {
    return code;
  }
}
