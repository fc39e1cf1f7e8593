package dev.halley.cluster;

import java.net.URI;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * One node of a {@link ClusterMap}: its stable ID, the URL browsers use, the URL app servers use,
 * and its weight in the owner function.
 *
 * <p>Example: {@code new NodeInfo("a", URI.create("https://a.example.com"),
 * URI.create("http://10.0.0.1:8081"), 1)}
 *
 * <p>Immutable and thread-safe. The compact constructor validates every field and throws {@link
 * ClusterMapException} naming the bad value:
 *
 * <ul>
 *   <li>{@code id}: 1 to 64 characters from {@code [A-Za-z0-9_.-]}. The ID, not the position in the
 *       map, is what the owner function hashes, so keep it stable for the life of the node.
 *   <li>{@code publicUrl}, {@code internalUrl}: absolute {@code http} or {@code https} URLs with a
 *       host, no user info, query or fragment (a path prefix is allowed).
 *   <li>{@code weight}: an integer from 1 to {@value #MAX_WEIGHT} (documents may omit it; the
 *       default is 1). A node with weight {@code w} owns {@code w / totalWeight} of the users;
 *       lookup cost grows with the total weight, so keep weights small.
 * </ul>
 *
 * @param id the node's stable ID
 * @param publicUrl the base URL browsers connect to
 * @param internalUrl the base URL of the node's internal listener (app servers publish there)
 * @param weight relative share of users, 1 to {@value #MAX_WEIGHT}
 */
public record NodeInfo(String id, URI publicUrl, URI internalUrl, int weight) {

  /** The largest weight a node can have. */
  public static final int MAX_WEIGHT = 100;

  /** The longest node ID, in characters. */
  public static final int MAX_ID_LENGTH = 64;

  private static final Pattern ID = Pattern.compile("[A-Za-z0-9_.-]{1," + MAX_ID_LENGTH + "}");

  /** Validates every field; see the type's documentation for the rules. */
  public NodeInfo {
    if (id == null) {
      throw new ClusterMapException("node id must not be null");
    }
    if (!ID.matcher(id).matches()) {
      throw new ClusterMapException(
          "node id must be 1 to "
              + MAX_ID_LENGTH
              + " characters from [A-Za-z0-9_.-]: "
              + Json.quote(id));
    }
    checkUrl(id, "publicUrl", publicUrl);
    checkUrl(id, "internalUrl", internalUrl);
    if (weight < 1 || weight > MAX_WEIGHT) {
      throw new ClusterMapException(
          "node " + id + ": weight must be an integer in 1.." + MAX_WEIGHT + ": " + weight);
    }
  }

  /** A node of weight 1. */
  public NodeInfo(String id, URI publicUrl, URI internalUrl) {
    this(id, publicUrl, internalUrl, 1);
  }

  private static void checkUrl(String id, String field, URI url) {
    if (url == null) {
      throw new ClusterMapException("node " + id + ": " + field + " must not be null");
    }
    String problem = urlProblem(url);
    if (problem != null) {
      throw new ClusterMapException(
          "node " + id + ": " + field + " " + problem + ": " + Json.quote(url.toString()));
    }
  }

  /** Returns why {@code url} is not an acceptable node URL, or null if it is. */
  static String urlProblem(URI url) {
    String scheme = url.getScheme();
    if (!url.isAbsolute() || url.isOpaque() || scheme == null) {
      return "must be an absolute http or https URL";
    }
    String lower = scheme.toLowerCase(Locale.ROOT);
    if (!lower.equals("http") && !lower.equals("https")) {
      return "must be an absolute http or https URL";
    }
    if (url.getHost() == null || url.getHost().isEmpty()) {
      return "must have a host";
    }
    if (url.getRawUserInfo() != null) {
      return "must not contain user info";
    }
    if (url.getRawQuery() != null || url.getRawFragment() != null) {
      return "must not have a query or fragment";
    }
    return null;
  }
}
