package dev.halley.cluster.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The {@code ./halley} launcher script's own options (those that need no jar). */
class LauncherTest {
  private static final Path LAUNCHER = Path.of("../halley").toAbsolutePath().normalize();

  private record Result(int code, String out, String err) {}

  private static Result run(String... args) throws IOException, InterruptedException {
    List<String> command = new java.util.ArrayList<>(List.of("bash", LAUNCHER.toString()));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    return new Result(p.exitValue(), out, err);
  }

  @Test
  void helpPrintsTheCommandsAndExitsZero() throws Exception {
    for (String help : List.of("--help", "-h", "help")) {
      Result r = run(help);
      assertEquals(0, r.code(), help + ": " + r);
      assertTrue(r.out().startsWith("Halley's command line."), r.out());
      assertTrue(r.out().contains("./halley route"), r.out());
      assertTrue(!r.out().contains("set -euo"), r.out());
      assertTrue(r.out().contains("Exit codes:"), r.out());
    }
  }

  @Test
  void unknownCommandIsAUsageError() throws Exception {
    Result r = run("bogus");
    assertEquals(2, r.code(), r.toString());
    assertTrue(r.err().startsWith("unknown command: bogus"), r.err());
    assertEquals("", r.out());
  }
}
