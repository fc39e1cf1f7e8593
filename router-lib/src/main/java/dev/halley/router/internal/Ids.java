package dev.halley.router.internal;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.regex.Pattern;

/** Checks of user IDs and channel names, as docs/protocol.md defines them. Internal. */
public final class Ids {
  private static final Pattern CHANNEL = Pattern.compile("[A-Za-z0-9_.:@/-]{1,128}");

  private Ids() {}

  public static String checkUser(String user) {
    Objects.requireNonNull(user, "user");
    int bytes = user.getBytes(StandardCharsets.UTF_8).length;
    if (bytes == 0 || bytes > 256) {
      throw new IllegalArgumentException("user ID must be 1-256 UTF-8 bytes: \"" + user + "\"");
    }
    return user;
  }

  public static String checkChannel(String channel) {
    Objects.requireNonNull(channel, "channel");
    if (!CHANNEL.matcher(channel).matches()) {
      throw new IllegalArgumentException(
          "channel must be 1-128 characters of [A-Za-z0-9_.:@/-]: \"" + channel + "\"");
    }
    return channel;
  }
}
