package dev.halley.cluster.internal;

import com.google.common.hash.HashFunction;
import com.google.common.hash.Hashing;
import java.nio.charset.StandardCharsets;

/**
 * The primitives of the owner function, exactly as docs/hashing.md specifies them. Internal: use
 * {@code dev.halley.cluster.Owner}.
 *
 * <p>All values are 32-bit words; Java's {@code int} arithmetic is the spec's arithmetic modulo
 * 2^32, and scores are compared as unsigned.
 */
public final class OwnerHash {
  /** The MurmurHash3 x86_32 seed of user IDs: the ASCII bytes "HALL" read big-endian. */
  public static final int USER_SEED = 0x48414C4C;

  private static final HashFunction USER_HASH = Hashing.murmur3_32_fixed(USER_SEED);

  private OwnerHash() {}

  /**
   * MurmurHash3 x86_32 of the UTF-8 bytes of {@code userId}, seed {@link #USER_SEED}.
   *
   * @throws IllegalArgumentException if {@code userId} has an unpaired surrogate (it has no UTF-8
   *     form)
   */
  public static int userHash(String userId) {
    checkWellFormed(userId);
    return USER_HASH.hashString(userId, StandardCharsets.UTF_8).asInt();
  }

  /** MurmurHash3 x86_32 of the UTF-8 bytes of {@code nodeId}, seed {@code replica}. */
  public static int replicaKey(String nodeId, int replica) {
    return Hashing.murmur3_32_fixed(replica).hashString(nodeId, StandardCharsets.UTF_8).asInt();
  }

  /** The score of one replica for one user: MurmurHash3's fmix32 of {@code userHash ^ key}. */
  public static int score(int userHash, int key) {
    return fmix32(userHash ^ key);
  }

  /** MurmurHash3's 32-bit finalizer. */
  public static int fmix32(int h) {
    h ^= h >>> 16;
    h *= 0x85ebca6b;
    h ^= h >>> 13;
    h *= 0xc2b2ae35;
    h ^= h >>> 16;
    return h;
  }

  /**
   * Throws if {@code s} contains an unpaired UTF-16 surrogate. Such a string is not Unicode text,
   * and encoders disagree on how to replace it, so it has no owner.
   */
  public static void checkWellFormed(String s) {
    for (int i = 0, n = s.length(); i < n; i++) {
      char c = s.charAt(i);
      if (Character.isSurrogate(c)) {
        if (Character.isHighSurrogate(c)
            && i + 1 < n
            && Character.isLowSurrogate(s.charAt(i + 1))) {
          i++;
        } else {
          throw new IllegalArgumentException(
              "user id has an unpaired surrogate at index " + i + " (not valid Unicode)");
        }
      }
    }
  }
}
