package dev.halley.bench.load;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Prints the runs of {@code bench/jvm-flags.sh} as a markdown table, one line per run in the order
 * they ran (so interleaved runs of the same set can be compared with their neighbours).
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar dev.halley.bench.load.JvmReport docs/bench/jvm-flags.jsonl
 * </pre>
 */
public final class JvmReport {
  private JvmReport() {}

  public static void main(String[] args) throws Exception {
    ObjectMapper json = new ObjectMapper();
    StringBuilder b =
        new StringBuilder(
            "| set | JVM flags | env | GC | users | offered/s | delivered/s | CPU µs/delivery (user + sys)"
                + " | p99 ms | GC pauses | pause p99 ms | pause max ms | % paused | GC threads CPU ms per pause"
                + " | RSS KB/conn | load avg |\n"
                + "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (String line : Files.readAllLines(Path.of(args[0]))) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode r = json.readTree(line);
      if (r.has("error")) {
        b.append(String.format("| %s | failed: %s |%n", r.path("set").asText(), r.path("error")));
        continue;
      }
      b.append(
          String.format(
              "| %s | `%s` | %s | %s | %,d | %,.0f | %,.0f | %.2f (%.2f + %.2f) | %.1f | %d | %.2f | %.2f"
                  + " | %.2f | %s | %.2f | %s |%n",
              r.path("set").asText(),
              r.path("jvm").asText(),
              r.path("env").asText(),
              r.path("gc").asText("?"),
              r.path("connected").asInt(),
              r.path("offeredPerSecond").asDouble(),
              r.path("deliveriesPerSecond").asDouble(),
              r.path("cpuUsPerDelivery").asDouble(),
              r.path("userUsPerDelivery").asDouble(),
              r.path("sysUsPerDelivery").asDouble(),
              r.path("p99Ms").asDouble(),
              r.path("gcPauses").asInt(),
              r.path("gcPauseP99Ms").asDouble(),
              r.path("gcPauseMaxMs").asDouble(),
              r.path("gcPausePercent").asDouble(),
              r.has("gcCpuMsPerPause") ? r.get("gcCpuMsPerPause").asText() : "—",
              r.path("rssKbPerConnection").asDouble(),
              r.path("loadavg").asText()));
    }
    System.out.print(b);
  }
}
