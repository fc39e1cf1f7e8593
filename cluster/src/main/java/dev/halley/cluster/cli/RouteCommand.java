package dev.halley.cluster.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.ClusterMapException;
import dev.halley.cluster.NodeInfo;
import dev.halley.cluster.Owner;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
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
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code halley route}: the owner function from the shell, and the users a map change moves. */
@Command(
    name = "route",
    mixinStandardHelpOptions = true,
    versionProvider = HalleyCli.Version.class,
    description = {
      "Print the owner node of each user (one line each: user, TAB, node ID, TAB, public URL).",
      "With --compare, count how many of a sample of users another map moves, and where.",
      "Users come from the arguments, or from standard input (one per line, UTF-8) when there are"
          + " none. A user ID is 1 to 256 UTF-8 bytes (docs/protocol.md); an empty or longer ID, or"
          + " a line that is not valid UTF-8, has no owner: it is reported on standard error and"
          + " the exit code is 1.",
      "A map is the full document (docs/cluster-map.md) or its public view (GET /v1/map, without"
          + " internalUrl): owners depend only on node IDs and weights.",
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:every user was routed",
      "1:a map is invalid or unreadable, or a user ID has no owner",
      "2:bad usage (unknown option, missing --map, --sample without --compare)"
    },
    exitCodeOnInvalidInput = 2,
    exitCodeOnExecutionException = 1)
final class RouteCommand implements Callable<Integer> {
  /** The longest user ID of the protocol, in UTF-8 bytes (docs/protocol.md). */
  static final int MAX_USER_ID_BYTES = 256;

  private static final ObjectMapper JSON = new ObjectMapper();

  @Spec CommandSpec spec;

  // Checked in call(), not by picocli: its missing-option error would hide an unknown option.
  @Option(names = "--map", paramLabel = "FILE", description = "The cluster map (required).")
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
      description = "Random user IDs to sample; needs --compare (default: ${DEFAULT-VALUE}).")
  int sample;

  @Option(
      names = "--seed",
      paramLabel = "N",
      defaultValue = "1",
      description = "Seed of the sampled user IDs; needs --compare (default: ${DEFAULT-VALUE}).")
  long seed;

  @Parameters(paramLabel = "USER", arity = "0..*", description = "User IDs.")
  List<String> users = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (map == null) {
      throw new ParameterException(spec.commandLine(), "Missing required option: '--map=FILE'");
    }
    if (compare == null) {
      for (String option : List.of("--sample", "--seed")) {
        if (spec.commandLine().getParseResult().hasMatchedOption(option)) {
          throw new ParameterException(spec.commandLine(), option + " needs --compare");
        }
      }
    } else if (!users.isEmpty()) {
      throw new ParameterException(
          spec.commandLine(), "--compare samples random users: give no user IDs");
    }
    try {
      ClusterMap a = load(map);
      if (compare != null) {
        if (sample < 1) {
          throw new ParameterException(spec.commandLine(), "--sample must be >= 1: " + sample);
        }
        compare(a, load(compare), out);
        return 0;
      }
      Owner owner = Owner.of(a);
      boolean allRouted = true;
      if (users.isEmpty()) {
        allRouted = routeLines(System.in, owner, out, err);
      } else {
        for (int i = 0; i < users.size(); i++) {
          allRouted &= route(owner, users.get(i), "argument " + (i + 1), out, err);
        }
      }
      out.flush();
      return allRouted ? 0 : 1;
    } catch (ClusterMapException e) {
      err.println("invalid map: " + e.getMessage());
      return 1;
    } catch (NoSuchFileException e) {
      err.println("cannot read map " + e.getFile() + ": no such file");
      return 1;
    } catch (IOException e) {
      err.println("cannot read map: " + e);
      return 1;
    }
  }

  /**
   * Routes one user ID per line of {@code in} (LF or CRLF line ends). Each line is decoded
   * strictly: a line that is not valid UTF-8 is reported, not replaced with U+FFFD.
   */
  static boolean routeLines(InputStream in, Owner owner, PrintWriter out, PrintWriter err)
      throws IOException {
    boolean allRouted = true;
    BufferedInputStream bytes = new BufferedInputStream(in);
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    long lineBytes = 0; // of the current line; only the first MAX_USER_ID_BYTES + 1 are kept
    int lineNumber = 0;
    for (int b = bytes.read(); ; b = bytes.read()) {
      if (b == '\n' || (b == -1 && lineBytes > 0)) {
        lineNumber++;
        byte[] raw = line.toByteArray();
        int length = raw.length > 0 && raw[raw.length - 1] == '\r' ? raw.length - 1 : raw.length;
        String where = "line " + lineNumber;
        if (lineBytes > MAX_USER_ID_BYTES + 1) {
          err.println(where + ": user ID is more than " + MAX_USER_ID_BYTES + " bytes, no owner");
          allRouted = false;
          line.reset();
          lineBytes = 0;
          continue;
        }
        try {
          String user =
              StandardCharsets.UTF_8
                  .newDecoder()
                  .onMalformedInput(CodingErrorAction.REPORT)
                  .onUnmappableCharacter(CodingErrorAction.REPORT)
                  .decode(ByteBuffer.wrap(raw, 0, length))
                  .toString();
          allRouted &= route(owner, user, where, out, err);
        } catch (CharacterCodingException e) {
          err.println(where + ": not valid UTF-8, no owner");
          allRouted = false;
        }
        line.reset();
        lineBytes = 0;
      } else if (b == -1) {
        return allRouted;
      } else if (++lineBytes <= MAX_USER_ID_BYTES + 1) {
        line.write(b);
      }
    }
  }

  private static boolean route(
      Owner owner, String user, String where, PrintWriter out, PrintWriter err) {
    String problem = userIdProblem(user);
    if (problem != null) {
      err.println(where + ": " + problem + ", no owner");
      return false;
    }
    NodeInfo node = owner.ownerOf(user);
    out.println(user + "\t" + node.id() + "\t" + node.publicUrl());
    return true;
  }

  /** Why {@code user} is not a user ID of the protocol (1 to 256 UTF-8 bytes), or null. */
  static String userIdProblem(String user) {
    if (user.isEmpty()) {
      return "empty user ID";
    }
    for (int i = 0; i < user.length(); i++) {
      char c = user.charAt(i);
      if (Character.isHighSurrogate(c)
          && i + 1 < user.length()
          && Character.isLowSurrogate(user.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        return "user ID has an unpaired surrogate at index " + i;
      }
    }
    int bytes = user.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > MAX_USER_ID_BYTES) {
      return "user ID is " + bytes + " UTF-8 bytes, more than " + MAX_USER_ID_BYTES;
    }
    return null;
  }

  /** Reads a full map document or its public view (nodes without internalUrl). */
  static ClusterMap load(Path file) throws IOException {
    String json = Files.readString(file, StandardCharsets.UTF_8);
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      return ClusterMap.load(file); // reports the syntax error with the file name
    }
    if (root != null && root.path("nodes").isArray()) {
      boolean publicView = root.path("nodes").size() > 0;
      for (JsonNode node : root.path("nodes")) {
        publicView &=
            node.isObject() && !node.has("internalUrl") && node.path("publicUrl").isTextual();
      }
      if (publicView) {
        // The public view has no internal URLs; the owner function does not read them, and this
        // command prints only public URLs, so the public URL stands in for the missing one.
        for (JsonNode node : root.path("nodes")) {
          ((ObjectNode) node).set("internalUrl", node.get("publicUrl"));
        }
        try {
          return ClusterMap.parse(JSON.writeValueAsString(root));
        } catch (ClusterMapException e) {
          throw new ClusterMapException(file + ": " + e.getMessage(), e);
        }
      }
    }
    return ClusterMap.load(file);
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
