package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.cluster.internal.BuildVersion;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code halley node}: usage, version and exit codes in process; configuration, bind and logging
 * behaviour as a real process ({@code NodeCommand.main} on the test classpath).
 */
class NodeCommandTest {
  @TempDir Path dir;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    CommandLine cli = NodeCommand.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  private record Result(int code, String out, String err) {}

  private Result process(String mainClass, String... args) throws Exception {
    return process(List.of(), mainClass, args);
  }

  private Result process(List<String> jvmOptions, String mainClass, String... args)
      throws Exception {
    List<String> command =
        new ArrayList<>(
            List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx96m"));
    command.addAll(jvmOptions);
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
    command.addAll(List.of(args));
    Path stdout = Files.createTempFile(dir, "out", ".txt");
    Path stderr = Files.createTempFile(dir, "err", ".txt");
    Process p =
        new ProcessBuilder(command)
            .redirectOutput(stdout.toFile())
            .redirectError(stderr.toFile())
            .start();
    try {
      // these processes end on their own within seconds; a hang is the failure this catches
      boolean ended = p.waitFor(120, TimeUnit.SECONDS);
      String e = Files.readString(stderr, StandardCharsets.UTF_8);
      assertTrue(ended, "still running after 120 s: " + e);
      return new Result(p.exitValue(), Files.readString(stdout, StandardCharsets.UTF_8), e);
    } finally {
      p.destroyForcibly();
    }
  }

  private Path config(String... lines) throws IOException {
    List<String> all =
        new ArrayList<>(
            List.of(
                "nodeId: a",
                "publicHost: 127.0.0.1",
                "internalHost: 127.0.0.1",
                "apiKeys: [" + TestNodes.API_KEY + "]",
                "tokenHmacSecret: " + TestNodes.SECRET,
                "ioThreads: 1"));
    all.addAll(List.of(lines));
    Path file = dir.resolve("node.yaml");
    Files.writeString(file, String.join("\n", all) + "\n");
    return file;
  }

  private Path mapFile() throws IOException {
    Path file = dir.resolve("cluster.json");
    Files.writeString(file, TestNodes.MAP.toJson());
    return file;
  }

  @Test
  void helpListsTheOptionsAndTheExitCodesAndExitsZero() {
    assertEquals(0, run("--help"));
    String help = out.toString();
    for (String expected :
        List.of("--config=FILE", "--check", "--log-format", "--log-level", "Exit codes:", "143")) {
      assertTrue(help.contains(expected), expected + " missing from:\n" + help);
    }
    assertEquals("", err.toString());
  }

  @Test
  void versionIsTheBuildVersionThatHalleyVersionPrints() {
    assertEquals(0, run("--version"));
    assertEquals("halley " + BuildVersion.get(), out.toString().strip());
    assertEquals(0, run("-V"));
  }

  @Test
  void usageErrorsAreOneMessageAndExitTwo() {
    assertEquals(2, run("--config"));
    assertTrue(
        err.toString().startsWith("halley node: Missing required parameter for option '--config'"),
        err.toString());
    err.getBuffer().setLength(0);
    assertEquals(2, run("--bogus"));
    assertTrue(err.toString().startsWith("halley node: Unknown option: '--bogus'"), err.toString());
    err.getBuffer().setLength(0);
    assertEquals(2, run());
    assertTrue(err.toString().contains("Missing required option: '--config=FILE'"), err.toString());
    err.getBuffer().setLength(0);
    assertEquals(2, run("--config", "x.yaml", "--log-format", "xml"));
    assertTrue(err.toString().contains("--log-format"), err.toString());
  }

  @Test
  @EnabledOnOs({OS.LINUX, OS.MAC})
  void aMissingMapFileSaysWhy() throws Exception {
    Path missing = dir.resolve("nope.json");
    Result r =
        process(
            "dev.halley.node.NodeCommand", "--config", config("mapFile: " + missing).toString());
    assertEquals(2, r.code(), r.toString());
    assertEquals(
        "halley node: invalid configuration: mapFile " + missing + ": no such file",
        r.err().strip());
  }

  @Test
  @EnabledOnOs({OS.LINUX, OS.MAC})
  void aPortInUseIsOneLineNamingTheListenerAndExitsTwo() throws Exception {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress("127.0.0.1", 0));
      int port = taken.getLocalPort();
      Path cfg = config("mapFile: " + mapFile(), "publicPort: 0", "internalPort: " + port);
      Result r = process("dev.halley.node.NodeCommand", "--config", cfg.toString());
      assertEquals(2, r.code(), r.toString());
      List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
      assertEquals(1, lines.size(), r.err());
      assertTrue(
          lines
              .get(0)
              .startsWith(
                  "halley node: cannot bind the internal listener to 127.0.0.1:"
                      + port
                      + " (internalPort): "),
          lines.get(0));
    }
  }

  @Test
  @EnabledOnOs({OS.LINUX, OS.MAC})
  void checkValidatesAndPrintsTheListenerMismatchWithoutStarting() throws Exception {
    // configuration.md's case: the default ports 8080/9080 with a map that says 8081/9081
    Path map = dir.resolve("three.json");
    Files.copy(Path.of("../docs/examples/cluster-3.json"), map);
    Path cfg = config("mapFile: " + map, "publicPort: 8080", "internalPort: 9080");
    Files.writeString(cfg, Files.readString(cfg).replace("nodeId: a", "nodeId: node-1"));
    Result r = process("dev.halley.node.NodeCommand", "--config", cfg.toString(), "--check");
    assertEquals(0, r.code(), r.toString());
    assertTrue(r.out().startsWith("configuration is valid: node node-1, map version 1"), r.out());
    assertTrue(
        r.out().contains("event=listener_mismatch node=node-1 listener=public port=8080"), r.out());
    assertTrue(
        r.out().contains("event=listener_mismatch node=node-1 listener=internal port=9080"),
        r.out());
  }

  @Test
  @EnabledOnOs({OS.LINUX, OS.MAC})
  void textLogsAreOneLinePerEventWithJulAndJbossLoggingRoutedIn() throws Exception {
    Result r = process("dev.halley.node.JulProbe", "TEXT");
    assertEquals(0, r.code(), r.toString());
    List<String> lines = r.err().lines().toList();
    assertEquals(3, lines.size(), r.err());
    assertTrue(
        lines.get(0).contains(" WARN  [main] probe.jul - jul first line | jul second line"),
        r.err());
    assertTrue(
        lines.get(1).contains(" WARN  [main] probe.jboss - jboss first line | jboss second line"),
        r.err());
    assertTrue(
        lines
            .get(2)
            .contains(
                " ERROR [main] probe.slf4j - event=probe_failed key=value"
                    + " | java.lang.IllegalStateException: boom | second"
                    + " | at dev.halley.node.JulProbe.main(JulProbe.java:"),
        r.err());
  }

  /** docs/operations.md, "Logs": a Logback file named on the command line replaces the node's. */
  @Test
  void aLogbackFileOnTheCommandLineReplacesTheNodesConfiguration() throws Exception {
    Path xml = dir.resolve("mine.xml");
    Files.writeString(
        xml,
        "<configuration><appender name=\"e\" class=\"ch.qos.logback.core.ConsoleAppender\">"
            + "<target>System.err</target><encoder><pattern>MINE %level %logger %msg%n</pattern>"
            + "</encoder></appender><root level=\"INFO\"><appender-ref ref=\"e\"/></root>"
            + "</configuration>");
    Result r =
        process(List.of("-Dlogback.configurationFile=" + xml), "dev.halley.node.JulProbe", "TEXT");
    assertEquals(0, r.code(), r.toString());
    assertTrue(r.err().contains("MINE WARN probe.jul jul first line\njul second line"), r.err());
  }

  @Test
  @EnabledOnOs({OS.LINUX, OS.MAC})
  void jsonLogsAreOneJsonObjectPerLine() throws Exception {
    Result r = process("dev.halley.node.JulProbe", "JSON");
    assertEquals(0, r.code(), r.toString());
    List<String> lines = r.err().lines().toList();
    assertEquals(3, lines.size(), r.err());
    ObjectMapper json = new ObjectMapper();
    JsonNode jul = json.readTree(lines.get(0));
    assertEquals("WARN", jul.get("level").asText());
    assertEquals("probe.jul", jul.get("loggerName").asText());
    assertEquals("jul first line\njul second line", jul.get("formattedMessage").asText());
    JsonNode error = json.readTree(lines.get(2));
    assertEquals("event=probe_failed key=value", error.get("formattedMessage").asText());
    assertEquals(
        "java.lang.IllegalStateException", error.get("throwable").get("className").asText());
  }
}
