package dev.halley.node.cluster;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Clock;
import org.junit.jupiter.api.Test;

/**
 * {@link Publishers}' record of contract change 5: whether a request declaring only the pending
 * version (a publisher that left dual mode) reached the node since the pending map was installed.
 */
class PublishersTest {
  @Test
  void onlyARequestDeclaringThePendingVersionAloneEndsStillDual() {
    Publishers p = new Publishers(60_000, 10, Clock.systemUTC());
    assertFalse(p.stillDual(4), "no pending map installed: nothing is known");
    p.pendingInstalled(4);
    assertTrue(p.stillDual(4));
    assertFalse(p.stillDual(5));
    p.record("pub-1", "3,4");
    p.record("pub-2", "3");
    p.record(null, null);
    p.record("pub-3", "5");
    assertTrue(p.stillDual(4), "dual, not yet dual, undeclared or another version");
    p.record(null, "4"); // no publisher ID: still a publisher that left dual mode
    assertFalse(p.stillDual(4));
    p.pendingInstalled(4);
    assertFalse(p.stillDual(4), "the same version again changes nothing");
    p.pendingInstalled(5);
    assertTrue(p.stillDual(5), "a new pending map starts anew");
    p.pendingInstalled(-1);
    assertFalse(p.stillDual(5), "removed");
  }
}
