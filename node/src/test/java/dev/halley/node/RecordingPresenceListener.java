package dev.halley.node;

import dev.halley.node.presence.Presence;
import java.util.ArrayList;
import java.util.List;

/** Records presence transitions as {@code online:user} / {@code offline:user}, in order. */
public final class RecordingPresenceListener implements Presence.Listener {
  public final List<String> transitions = new ArrayList<>();

  @Override
  public void online(String user) {
    transitions.add("online:" + user);
  }

  @Override
  public void offline(String user) {
    transitions.add("offline:" + user);
  }
}
