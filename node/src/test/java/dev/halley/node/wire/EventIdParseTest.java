package dev.halley.node.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** {@link EventCodec#parseId}: what it accepts, what is a 400, and epochs that alternate. */
class EventIdParseTest {
  @Test
  void idsOfAlternatingEpochsKeepTheirOwnEpochAndSeq() {
    String[] epochs = {"0123456789abcdef", "fedcba9876543210", "0123456789abcdee"};
    for (int i = 0; i < 30; i++) {
      String epoch = epochs[i % 3];
      EventCodec.EventId id = EventCodec.parseId(epoch + ":" + i * 1_000_000_007L);
      assertEquals(new EventCodec.EventId(epoch, i * 1_000_000_007L), id);
    }
    assertEquals(
        new EventCodec.EventId("0123456789abcdef", Long.MAX_VALUE),
        EventCodec.parseId("0123456789abcdef:" + Long.MAX_VALUE));
    assertEquals(
        new EventCodec.EventId("0123456789abcdef", 7), EventCodec.parseId("0123456789abcdef:007"));
  }

  @Test
  void aMalformedIdIsABadRequest() {
    String[] bad = {
      "0123456789abcdef:",
      "0123456789abcdef:+1",
      "0123456789abcdef:-1",
      "0123456789abcdef:1x",
      "0123456789abcdef: 1",
      "0123456789abcdef:9223372036854775808",
      "0123456789ABCDEF:1",
      "0123456789abcde:1",
      "1",
      ""
    };
    for (String s : bad) {
      HttpError e = assertThrows(HttpError.class, () -> EventCodec.parseId(s), s);
      assertEquals(400, e.status(), s);
    }
  }
}
