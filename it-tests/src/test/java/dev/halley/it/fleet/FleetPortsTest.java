package dev.halley.it.fleet;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The fleet's node ports stay out of the kernel's ephemeral range (Linux). */
class FleetPortsTest {
  private static final Path RANGE = Path.of("/proc/sys/net/ipv4/ip_local_port_range");

  @Test
  void aNodePortIsBelowTheEphemeralRangeWhereThereIsRoomBelowIt() {
    assumeTrue(Files.isReadable(RANGE), "no Linux ephemeral port range here");
    int low = Fleet.ephemeralLow();
    // The kernel refuses a range starting below 1024; this was 3 when the file was read wrongly.
    assertTrue(low >= 1024, "ephemeral range starts at " + low);
    assumeTrue(low > 20_000, "no room below the ephemeral range on this machine");
    for (int i = 0; i < 20; i++) {
      int port = Fleet.freePort();
      assertTrue(port >= 20_000 && port < low, port + " is not in [20000, " + low + ")");
    }
  }
}
