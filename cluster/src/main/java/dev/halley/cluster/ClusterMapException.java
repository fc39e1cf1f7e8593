package dev.halley.cluster;

/**
 * Thrown when a cluster map document or one of its values is invalid; the message names the bad
 * value and where it is, e.g. {@code nodes[2].weight must be an integer in 1..100: 0}.
 *
 * <p>Example: {@code try { ClusterMap.parse(json); } catch (ClusterMapException e) {
 * log.error(e.getMessage()); }}
 *
 * <p>Unchecked: a bad map is a configuration error, not an I/O failure.
 */
public final class ClusterMapException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  /** Creates an exception whose message names the bad value. */
  public ClusterMapException(String message) {
    super(message);
  }

  /** Creates an exception whose message names the bad value, with its cause. */
  public ClusterMapException(String message, Throwable cause) {
    super(message, cause);
  }
}
