package dev.halley.router.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** {@code Retry-After} is delay-seconds or an HTTP date (RFC 9110 10.2.3); anything else: none. */
class RetryAfterParseTest {
  private static final Instant NOW = Instant.parse("2026-12-02T00:30:00Z");

  @Test
  void secondsAndHttpDatesAreRead() {
    assertEquals(Duration.ofSeconds(5), NodeClient.retryAfter("5", NOW));
    assertEquals(Duration.ofSeconds(5), NodeClient.retryAfter(" 5 ", NOW));
    assertEquals(Duration.ZERO, NodeClient.retryAfter("0", NOW));
    assertEquals(Duration.ofDays(1), NodeClient.retryAfter("99999999999999999999", NOW));
    assertEquals(
        Duration.ofSeconds(90), NodeClient.retryAfter("Wed, 2 Dec 2026 00:31:30 GMT", NOW));
    assertEquals(Duration.ZERO, NodeClient.retryAfter("Wed, 2 Dec 2026 00:29:00 GMT", NOW));
  }

  @Test
  void anythingElseIsNone() {
    assertNull(NodeClient.retryAfter(null, NOW));
    assertNull(NodeClient.retryAfter("", NOW));
    assertNull(NodeClient.retryAfter("-1", NOW));
    assertNull(NodeClient.retryAfter("1.5", NOW));
    assertNull(NodeClient.retryAfter("soon", NOW));
  }
}
