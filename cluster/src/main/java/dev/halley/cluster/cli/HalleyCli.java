package dev.halley.cluster.cli;

import dev.halley.cluster.internal.BuildVersion;
import java.io.PrintWriter;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Halley's command line (the {@code halley-cli.jar} that {@code ./halley route} runs).
 *
 * <p>Example: {@code java -jar cluster/target/halley-cli.jar route --map cluster.json alice bob}
 *
 * <p>{@code route} is the default subcommand: the {@code ./halley} launcher passes what follows
 * {@code ./halley route} without the word {@code route}, so {@code java -jar halley-cli.jar --map
 * m.json alice} and {@code java -jar halley-cli.jar route --map m.json alice} are the same.
 *
 * <p>Exit codes: 0 success, 1 a map or an input is invalid or unreadable, 2 bad usage.
 */
@Command(
    name = "halley",
    mixinStandardHelpOptions = true,
    versionProvider = HalleyCli.Version.class,
    description = "Halley command line.",
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {"0:success", "1:a map or an input is invalid or unreadable", "2:bad usage"},
    subcommands = {RouteCommand.class, ReshardCommand.class})
public final class HalleyCli implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(), "missing subcommand (route, reshard)");
  }

  /** A usage error: its message and where help is, not the whole help text; exit code 2. */
  static int usageError(CommandLine.ParameterException e, String[] args) {
    CommandLine cmd = e.getCommandLine();
    PrintWriter err = cmd.getErr();
    err.println(e.getMessage());
    err.println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
    err.flush();
    return 2;
  }

  /** The build's version (the one {@code halley node --version} prints too). */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"halley " + BuildVersion.get()};
    }
  }

  /** Runs the command line and exits with its code. */
  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /** Runs the command line and returns its exit code (tests call this). */
  public static int execute(String... args) {
    return execute(new CommandLine(new HalleyCli()), args);
  }

  /** Runs the command line writing to {@code out} and {@code err}; returns its exit code. */
  static int execute(PrintWriter out, PrintWriter err, String... args) {
    CommandLine cli = new CommandLine(new HalleyCli());
    cli.setOut(out);
    cli.setErr(err);
    return execute(cli, args);
  }

  private static int execute(CommandLine cli, String[] args) {
    cli.setParameterExceptionHandler(HalleyCli::usageError);
    boolean subcommandGiven =
        args.length > 0
            && (cli.getSubcommands().containsKey(args[0])
                || List.of("-h", "--help", "-V", "--version").contains(args[0]));
    if (!subcommandGiven) {
      String[] withRoute = new String[args.length + 1];
      withRoute[0] = "route";
      System.arraycopy(args, 0, withRoute, 1, args.length);
      args = withRoute;
    }
    return cli.execute(args);
  }
}
