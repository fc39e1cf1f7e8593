package dev.halley.node.wire;

import java.nio.charset.StandardCharsets;

/** Syntax of user IDs and channel names (docs/protocol.md, Identifiers). */
public final class Ids {
  public static final int MAX_USER_ID_BYTES = 256;
  public static final int MAX_CHANNEL_LENGTH = 128;

  private Ids() {}

  /** A non-empty string of at most 256 UTF-8 bytes without unpaired surrogates. */
  public static boolean isUserId(String s) {
    if (s == null || s.isEmpty() || s.length() > MAX_USER_ID_BYTES) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c)) {
        if (i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1))) {
          return false;
        }
        i++;
      } else if (Character.isLowSurrogate(c)) {
        return false;
      }
    }
    return s.getBytes(StandardCharsets.UTF_8).length <= MAX_USER_ID_BYTES;
  }

  /** 1..128 characters from {@code [A-Za-z0-9_.:@/-]}. */
  public static boolean isChannel(String s) {
    if (s == null || s.isEmpty() || s.length() > MAX_CHANNEL_LENGTH) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean ok =
          (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')
              || c == '_'
              || c == '.'
              || c == ':'
              || c == '@'
              || c == '/'
              || c == '-';
      if (!ok) {
        return false;
      }
    }
    return true;
  }
}
