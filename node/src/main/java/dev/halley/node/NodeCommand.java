package dev.halley.node;

import dev.halley.cluster.internal.BuildVersion;
import dev.halley.node.config.NodeConfig;
import java.io.PrintWriter;
import java.net.BindException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code halley node}: the node's command line ({@code java -jar halley-node.jar --config
 * node.yaml}). Sets up logging ({@link HalleyLogging}), loads and validates the configuration,
 * starts the node, drains it on SIGTERM and reloads its {@code mapFile} on SIGHUP.
 *
 * <p>Exit codes: 0 for {@code --help}, {@code --version} and a valid {@code --check}; 2 for bad
 * usage, an invalid configuration or a port that cannot be bound (one line on stderr each); 143
 * after SIGTERM (drained). Nothing is logged before the options are parsed, so usage errors are
 * plain one-line messages.
 */
@Command(
    name = "halley node",
    mixinStandardHelpOptions = true,
    versionProvider = NodeCommand.Version.class,
    sortOptions = false,
    description = {
      "Runs one Halley node with the configuration in FILE (docs/configuration.md).",
      "Logs go to standard error, one line per event. SIGTERM drains the node (clients are told"
          + " to reconnect) and stops it; SIGHUP re-reads its mapFile."
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:--help, --version, or --check found the configuration valid",
      "1:an unexpected failure while starting (with a stack trace)",
      "2:bad usage, an invalid configuration, or a port that cannot be bound",
      "143:stopped by SIGTERM, after draining (128 + 15)"
    })
public final class NodeCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  // Checked in call(), not by picocli: its missing-option error would hide an unknown option.
  @Option(
      names = {"-c", "--config"},
      paramLabel = "FILE",
      description =
          "The node's configuration, YAML or JSON (HALLEY_* variables override it). Required.")
  Path config;

  @Option(
      names = "--check",
      description = "Validate the configuration, print what the node would warn about, and exit.")
  boolean check;

  @Option(
      names = "--log-format",
      paramLabel = "text|json",
      defaultValue = "${env:HALLEY_LOG_FORMAT:-text}",
      description =
          "text: one line per event, event=NAME key=value ...; json: one JSON object per line."
              + " Default: HALLEY_LOG_FORMAT, else text.")
  HalleyLogging.Format logFormat;

  @Option(
      names = "--log-level",
      paramLabel = "LEVEL",
      defaultValue = "${env:HALLEY_LOG_LEVEL:-info}",
      description = "trace, debug, info, warn or error. Default: HALLEY_LOG_LEVEL, else info.")
  HalleyLogging.Level logLevel;

  /** The build's version, the same that {@code ./halley --version} prints. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"halley " + BuildVersion.get()};
    }
  }

  /**
   * {@code java -jar halley-node.jar --config node.yaml} (this is the jar's main class): runs the
   * command line; exits with its code unless a node is running.
   */
  public static void main(String[] args) {
    int code = commandLine().execute(args);
    System.exit(code);
  }

  static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new NodeCommand());
    cli.setCaseInsensitiveEnumValuesAllowed(true);
    cli.setParameterExceptionHandler(
        (e, args) -> {
          PrintWriter err = e.getCommandLine().getErr();
          err.println("halley node: " + e.getMessage());
          err.println("Try 'halley node --help' for more information.");
          err.flush();
          return 2;
        });
    return cli;
  }

  @Override
  public Integer call() throws InterruptedException {
    PrintWriter err = spec.commandLine().getErr();
    if (config == null) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "Missing required option: '--config=FILE'");
    }
    HalleyLogging.configure(logFormat, logLevel);
    NodeConfig cfg;
    try {
      cfg = NodeConfig.load(config);
    } catch (IllegalArgumentException e) {
      err.println("halley node: invalid configuration: " + e.getMessage());
      err.flush();
      return 2;
    }
    if (check) {
      PrintWriter out = spec.commandLine().getOut();
      out.println(
          "configuration is valid: node "
              + cfg.nodeId()
              + ", map version "
              + cfg.map().version()
              + ", public port "
              + cfg.publicPort()
              + ", internal port "
              + cfg.internalPort());
      StartupChecks.warnings(cfg, cfg.publicPort(), cfg.internalPort()).forEach(out::println);
      out.flush();
      return 0;
    }
    HalleyNode node;
    try {
      node = HalleyNode.start(cfg);
    } catch (IllegalArgumentException e) {
      err.println("halley node: invalid configuration: " + e.getMessage());
      err.flush();
      return 2;
    } catch (IllegalStateException e) {
      if (!(e.getCause() instanceof BindException)) {
        throw e;
      }
      err.println("halley node: " + e.getMessage());
      err.flush();
      HalleyLogging.flush();
      return 2;
    }
    Logger log = LoggerFactory.getLogger(NodeCommand.class);
    Duration drainPeriod = Duration.ofMillis(node.config().operations().drainPeriodMs());
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    node.drain(drainPeriod);
                  } finally {
                    HalleyLogging.flush();
                  }
                },
                "halley-shutdown"));
    try {
      sun.misc.Signal.handle(new sun.misc.Signal("HUP"), s -> node.reloadMapFileOnSignal());
    } catch (IllegalArgumentException e) {
      log.info("SIGHUP is not available here; reload the map with POST /v1/admin/map");
    }
    new CountDownLatch(1).await(); // serves until SIGTERM (the hook drains, then the JVM exits)
    return 0;
  }
}
