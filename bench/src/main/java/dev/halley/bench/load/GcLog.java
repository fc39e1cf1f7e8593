package dev.halley.bench.load;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The stop-the-world pauses of a JVM under test, read from its unified GC log. The server is
 * started with {@link #FLAG}: every line carries {@code timenanos} ({@code [123456789ns]}), the
 * JVM's {@code System.nanoTime()}, the same CLOCK_MONOTONIC the load generator's window is measured
 * in, so pauses are counted inside the measured window only. Pause lines are those of every
 * collector: Serial, Parallel and G1 ({@code Pause Young (...) 30M->4M(120M) 3.456ms}, {@code Pause
 * Remark ...}) and ZGC ({@code Pause Mark Start 0.012ms}, with {@code gc+phases}).
 */
final class GcLog {
  /** The JVM flag that writes the log this class reads ({@code %s}: the file). */
  static final String FLAG = "-Xlog:gc,gc+phases=info:file=%s:tn";

  private static final Pattern PAUSE =
      Pattern.compile("^\\[(\\d+)ns\\].*\\bPause [^\\[]*?(\\d+(?:\\.\\d+)?)ms\\s*$");
  private static final Pattern USING = Pattern.compile("\\bUsing (\\w+)");

  private GcLog() {}

  static String flag(Path file) {
    return String.format(FLAG, file);
  }

  /**
   * Adds to {@code r} the collector's name and the pauses whose end lies in {@code [fromNanos,
   * toNanos)}: count, p50, p99, max and total (ms), and the share of the window spent paused.
   */
  static void addPauses(Path log, long fromNanos, long toNanos, ObjectNode r) throws IOException {
    if (!Files.exists(log)) {
      return;
    }
    List<Double> pauses = new ArrayList<>();
    String collector = null;
    for (String line : Files.readAllLines(log)) {
      if (collector == null) {
        Matcher u = USING.matcher(line);
        if (u.find()) {
          collector = u.group(1).equals("The") ? "ZGC" : u.group(1); // "Using The Z Garbage..."
        }
      }
      Matcher m = PAUSE.matcher(line);
      if (m.find()) {
        long t = Long.parseLong(m.group(1));
        if (t >= fromNanos && t < toNanos) {
          pauses.add(Double.parseDouble(m.group(2)));
        }
      }
    }
    if (collector != null) {
      r.put("gc", collector);
    }
    Collections.sort(pauses);
    double total = 0;
    for (double p : pauses) {
      total += p;
    }
    r.put("gcPauses", pauses.size());
    r.put("gcPauseP50Ms", percentile(pauses, 50));
    r.put("gcPauseP99Ms", percentile(pauses, 99));
    r.put("gcPauseMaxMs", pauses.isEmpty() ? 0 : pauses.get(pauses.size() - 1));
    r.put("gcPauseTotalMs", Math.round(total * 1000) / 1000.0);
    double windowMs = (toNanos - fromNanos) / 1e6;
    r.put("gcPausePercent", windowMs > 0 ? Math.round(total / windowMs * 1e5) / 1000.0 : 0);
    if (r.has("serverGcThreadsCpuMs") && !pauses.isEmpty()) {
      // CPU the GC threads ran per pause: a pause's work, whatever the run queue added to its
      // wall time (for a concurrent collector it includes the concurrent work).
      r.put(
          "gcCpuMsPerPause",
          Math.round(r.get("serverGcThreadsCpuMs").asDouble() / pauses.size() * 1000) / 1000.0);
    }
  }

  /** The nearest-rank percentile (0 when there is no pause). */
  static double percentile(List<Double> sorted, double p) {
    if (sorted.isEmpty()) {
      return 0;
    }
    int rank = (int) Math.ceil(p / 100 * sorted.size());
    return sorted.get(Math.max(0, Math.min(sorted.size(), rank) - 1));
  }
}
