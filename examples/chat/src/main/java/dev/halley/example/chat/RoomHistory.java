package dev.halley.example.chat;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The last messages of one room, bounded, so a page can reload them (after login, or on {@code
 * reset}). Thread-safe. Each message gets a sequence number, unique in the room, that pages use to
 * merge history with live messages. Numbers start from the clock (milliseconds × 1000), so those of
 * a restarted server follow those of the one before and a page never mixes the two up.
 */
final class RoomHistory {
  private final int capacity;
  private final ArrayDeque<Map<String, Object>> messages = new ArrayDeque<>();
  private long seq = System.currentTimeMillis() * 1000;

  RoomHistory(int capacity) {
    this.capacity = capacity;
  }

  /** Records a message and returns it as published: {@code room, seq, from, text, at}. */
  synchronized Map<String, Object> add(String room, String from, String text, Instant at) {
    Map<String, Object> message = new LinkedHashMap<>();
    message.put("room", room);
    message.put("seq", ++seq);
    message.put("from", from);
    message.put("text", text);
    message.put("at", at.toString());
    messages.addLast(message);
    if (messages.size() > capacity) {
      messages.removeFirst();
    }
    return message;
  }

  /** The kept messages, oldest first. */
  synchronized List<Map<String, Object>> recent() {
    return new ArrayList<>(messages);
  }
}
