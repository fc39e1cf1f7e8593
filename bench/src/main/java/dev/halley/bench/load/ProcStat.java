package dev.halley.bench.load;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CPU time and resident memory of processes, read from Linux {@code /proc}: {@code utime} and
 * {@code stime} (fields 14 and 15 of {@code /proc/<pid>/stat}, in clock ticks) and {@code VmRSS} of
 * {@code /proc/<pid>/status}. A sample sums a set of processes (nginx: master and workers).
 */
record ProcStat(long utimeTicks, long stimeTicks, long rssKb, int processes) {
  /** Clock ticks per second ({@code getconf CLK_TCK}); 100 on every Linux this runs on. */
  static final long TICKS_PER_SECOND = 100;

  static ProcStat sample(List<Long> pids) {
    long u = 0;
    long s = 0;
    long rss = 0;
    int n = 0;
    for (long pid : pids) {
      try {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        // The command name (field 2) is in parentheses and may hold spaces: split after it.
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        u += Long.parseLong(f[11]); // field 14 (utime), counted from field 3
        s += Long.parseLong(f[12]); // field 15 (stime)
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
          if (line.startsWith("VmRSS:")) {
            rss += Long.parseLong(line.replaceAll("[^0-9]", ""));
          }
        }
        n++;
      } catch (IOException | RuntimeException e) {
        // the process is gone: it no longer counts
      }
    }
    return new ProcStat(u, s, rss, n);
  }

  /**
   * CPU run time and run-queue wait (nanoseconds, {@code /proc/<pid>/task/<tid>/schedstat}) of the
   * JVM threads that collect garbage: the VM thread (Serial collects on it, the others coordinate
   * their pauses there), {@code GC Thread#n}, G1's and ZGC's own threads. Unlike a pause's wall
   * time it does not grow when the machine's run queue is long. {0, 0} for a process without them.
   */
  static long[] gcThreads(List<Long> pids) {
    long run = 0;
    long wait = 0;
    for (long pid : pids) {
      try (java.util.stream.Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
        for (Path t : (Iterable<Path>) tasks::iterator) {
          try {
            String name = Files.readString(t.resolve("comm")).trim();
            if (name.equals("VM Thread")
                || name.startsWith("GC Thread")
                || name.startsWith("G1 ")
                || name.startsWith("Z")) {
              String[] f = Files.readString(t.resolve("schedstat")).trim().split(" ");
              run += Long.parseLong(f[0]);
              wait += Long.parseLong(f[1]);
            }
          } catch (IOException | RuntimeException e) {
            // the thread is gone
          }
        }
      } catch (IOException e) {
        // the process is gone
      }
    }
    return new long[] {run, wait};
  }

  static ProcStat self() {
    return sample(List.of(ProcessHandle.current().pid()));
  }

  /** {@code pids} as "1,2,3"; each pid's children are added (nginx workers under the master). */
  static List<Long> withChildren(String pids) {
    List<Long> out = new ArrayList<>();
    if (pids == null || pids.isBlank()) {
      return out;
    }
    for (String p : pids.split(",")) {
      long pid = Long.parseLong(p.trim());
      out.add(pid);
      ProcessHandle.of(pid).ifPresent(h -> h.children().forEach(c -> out.add(c.pid())));
    }
    return out;
  }

  ProcStat minus(ProcStat before) {
    return new ProcStat(
        utimeTicks - before.utimeTicks, stimeTicks - before.stimeTicks, rssKb, processes);
  }

  double utimeMicros() {
    return utimeTicks * 1e6 / TICKS_PER_SECOND;
  }

  double stimeMicros() {
    return stimeTicks * 1e6 / TICKS_PER_SECOND;
  }
}
