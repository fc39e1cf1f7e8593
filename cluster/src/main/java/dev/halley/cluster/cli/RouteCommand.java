package dev.halley.cluster.cli;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.ClusterMapException;
import dev.halley.cluster.NodeInfo;
import dev.halley.cluster.Owner;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code halley route}: the owner function from the shell, and the users a map change moves. */
@Command(
    name = "route",
    mixinStandardHelpOptions = true,
    description = {
      "Print the owner node of each user (one line each: user, TAB, node ID, TAB, public URL).",
      "With --compare, count how many of a sample of users another map moves, and where.",
      "Users come from the arguments, or from standard input (one per line) when there are none.",
    },
    exitCodeOnInvalidInput = 2,
    exitCodeOnExecutionException = 1)
final class RouteCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--map", required = true, paramLabel = "FILE", description = "The cluster map.")
  Path map;

  @Option(
      names = "--compare",
      paramLabel = "FILE",
      description = "Another map: report how many sampled users change owner between the two.")
  Path compare;

  @Option(
      names = "--sample",
      paramLabel = "N",
      defaultValue = "100000",
      description = "Random user IDs to sample with --compare (default: ${DEFAULT-VALUE}).")
  int sample;

  @Option(
      names = "--seed",
      paramLabel = "N",
      defaultValue = "1",
      description = "Seed of the sampled user IDs (default: ${DEFAULT-VALUE}).")
  long seed;

  @Parameters(paramLabel = "USER", arity = "0..*", description = "User IDs.")
  List<String> users = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    try {
      ClusterMap a = ClusterMap.load(map);
      if (compare != null) {
        if (sample < 1) {
          err.println("--sample must be >= 1: " + sample);
          return 2;
        }
        compare(a, ClusterMap.load(compare), out);
        return 0;
      }
      Owner owner = Owner.of(a);
      if (users.isEmpty()) {
        BufferedReader in =
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
          print(out, owner, line);
        }
      } else {
        for (String user : users) {
          print(out, owner, user);
        }
      }
      out.flush();
      return 0;
    } catch (ClusterMapException e) {
      err.println("invalid map: " + e.getMessage());
      return 1;
    } catch (IOException e) {
      err.println("cannot read map: " + e);
      return 1;
    } catch (IllegalArgumentException e) {
      err.println(e.getMessage());
      return 1;
    }
  }

  private static void print(PrintWriter out, Owner owner, String user) {
    NodeInfo node = owner.ownerOf(user);
    out.println(user + "\t" + node.id() + "\t" + node.publicUrl());
  }

  private void compare(ClusterMap a, ClusterMap b, PrintWriter out) {
    SplittableRandom random = new SplittableRandom(seed);
    Map<String, Integer> moves = new TreeMap<>();
    int moved = 0;
    for (int i = 0; i < sample; i++) {
      String user = "user-" + Long.toHexString(random.nextLong());
      String from = a.owner(user).id();
      String to = b.owner(user).id();
      if (!from.equals(to)) {
        moved++;
        moves.merge(from + " -> " + to, 1, Integer::sum);
      }
    }
    out.printf(
        "%s: version %d, %d nodes%n%s: version %d, %d nodes%n",
        map, a.version(), a.nodes().size(), compare, b.version(), b.nodes().size());
    out.printf(
        "moved %d of %d sampled users (%.2f%%); the least any change of these weights moves: %.2f%%%n",
        moved, sample, 100.0 * moved / sample, 100.0 * minimumMove(a, b));
    moves.forEach((pair, count) -> out.printf("  %s: %d%n", pair, count));
    out.flush();
  }

  /** The share of users whose node loses weight share: no owner function can move fewer. */
  static double minimumMove(ClusterMap a, ClusterMap b) {
    double totalA = a.nodes().stream().mapToInt(NodeInfo::weight).sum();
    double totalB = b.nodes().stream().mapToInt(NodeInfo::weight).sum();
    double lost = 0;
    for (NodeInfo node : a.nodes()) {
      double shareB = b.node(node.id()).map(n -> n.weight() / totalB).orElse(0.0);
      lost += Math.max(0, node.weight() / totalA - shareB);
    }
    return lost;
  }
}
