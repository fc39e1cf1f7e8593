package dev.halley.bench.load;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GC pauses are read from the unified log of every collector, inside the window only. */
class GcLogTest {
  @Test
  void countsThePausesOfEveryCollectorInsideTheWindow(@TempDir Path dir) throws Exception {
    Path log = dir.resolve("gc.log");
    Files.write(
        log,
        List.of(
            "[1000ns][info][gc] Using Serial",
            "[1500ns][info][gc] GC(0) Pause Young (Allocation Failure) 33M->4M(123M) 99.000ms",
            "[2000ns][info][gc] GC(1) Pause Young (Allocation Failure) 33M->4M(123M) 12.345ms",
            "[2100ns][info][gc] GC(2) Pause Young (Normal) (G1 Evacuation Pause) 24M->4M(256M) 3.5ms",
            "[2200ns][info][gc,phases] GC(2)   Evacuate Collection Set: 3.1ms",
            "[2300ns][info][gc,phases] GC(3) Pause Mark Start 0.012ms",
            "[2400ns][info][gc] GC(4) Pause Remark 30M->30M(256M) 1.000ms",
            "[9000ns][info][gc] GC(5) Pause Full (System.gc()) 30M->3M(256M) 80.000ms"));
    ObjectNode r = new ObjectMapper().createObjectNode();
    GcLog.addPauses(log, 2000, 3000, r);
    assertEquals("Serial", r.get("gc").asText());
    assertEquals(4, r.get("gcPauses").asInt(), r::toString);
    assertEquals(12.345, r.get("gcPauseMaxMs").asDouble(), r::toString);
    assertEquals(12.345, r.get("gcPauseP99Ms").asDouble(), r::toString);
    assertEquals(1.0, r.get("gcPauseP50Ms").asDouble(), r::toString);
    assertEquals(16.857, r.get("gcPauseTotalMs").asDouble(), 1e-9, r::toString);
  }

  @Test
  void theFlagLogsEveryPauseOfARealJvm(@TempDir Path dir) throws Exception {
    Path log = dir.resolve("gc.log");
    Process p =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC",
                GcLog.flag(log),
                "-version")
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("out").toFile())
            .start();
    assertEquals(0, p.waitFor());
    ObjectNode r = new ObjectMapper().createObjectNode();
    GcLog.addPauses(log, 0, Long.MAX_VALUE, r);
    assertEquals("Serial", r.get("gc").asText(), Files.readString(log));
  }

  @Test
  void namesZgc(@TempDir Path dir) throws Exception {
    Path log = dir.resolve("gc.log");
    Files.write(log, List.of("[1000ns][info][gc,init] Using The Z Garbage Collector"));
    ObjectNode r = new ObjectMapper().createObjectNode();
    GcLog.addPauses(log, 0, 2000, r);
    assertEquals("ZGC", r.get("gc").asText());
    assertEquals(0, r.get("gcPauses").asInt());
  }
}
