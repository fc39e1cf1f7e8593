package dev.halley.node.ops;

import java.util.ArrayList;
import java.util.List;

/** Records presence transitions as {@code online:user} / {@code offline:user}, in order. */
final class RecordingPresenceListener implements Presence.Listener {
  final List<String> transitions = new ArrayList<>();

  @Override
  public void online(String user) {
    transitions.add("online:" + user);
  }

  @Override
  public void offline(String user) {
    transitions.add("offline:" + user);
  }
}
