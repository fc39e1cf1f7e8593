package dev.halley.it.fleet;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Shared steps of the fleet scenarios: clients on every transport, settling, the results file. */
public final class Scenario {
  private static final Path RESULTS = Path.of("target", "fleet-results.txt");

  private Scenario() {}

  /** {@code perTransport} users owned by {@code nodeId}, each with a client on each transport. */
  public static List<StreamClient> clientsOn(
      Fleet fleet, String nodeId, String prefix, int perTransport) {
    List<StreamClient> out = new ArrayList<>();
    for (StreamClient.Transport t : StreamClient.Transport.values()) {
      String p = prefix + "-" + nodeId + "-" + t.name().toLowerCase();
      for (String user : Fleet.users(fleet.map(), nodeId, p, perTransport)) {
        out.add(fleet.client(user, t));
      }
    }
    return out;
  }

  public static List<String> users(List<StreamClient> clients) {
    return clients.stream().map(c -> c.user).toList();
  }

  public static void awaitConnected(List<StreamClient> clients) {
    Await.until(
        () -> clients.stream().allMatch(StreamClient::connected),
        () -> "clients connected: " + clients.stream().filter(c -> !c.connected()).toList(),
        Duration.ofSeconds(60));
  }

  /** Waits until every message to these clients is accounted for (received or reported). */
  public static Traffic.Tally settle(Traffic traffic, List<StreamClient> clients) {
    try {
      Await.until(
          () -> traffic.tally(clients).accountedFor(),
          () -> "every message received or reported: " + traffic.tally(clients),
          Duration.ofSeconds(30));
    } catch (AssertionError e) {
      // the caller's assertions name what is missing
    }
    return traffic.tally(clients);
  }

  /** Appends one line to target/fleet-results.txt (the measured figures, for the record). */
  public static void record(String scenario, String line) {
    String text = Instant.now() + " " + scenario + ": " + line + "\n";
    System.out.print(text);
    try {
      Files.createDirectories(RESULTS.getParent());
      Files.writeString(RESULTS, text, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      // the line is on stdout too
    }
  }

  public static void closeAll(List<StreamClient> clients) {
    clients.forEach(StreamClient::close);
  }

  public static double ms(long nanos) {
    return Math.round(nanos / 10_000.0) / 100.0;
  }
}
