package dev.halley.bench;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.cluster.Owner;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Owner lookups per second on one thread, for maps of {@code nodes} equal nodes (docs/hashing.md
 * reports the figures).
 *
 * <p>{@code hot}: 4,096 distinct users looked up over and over (the working set fits the owner
 * cache, as for the active users of a node or an app server). {@code cold}: the cache is disabled
 * ({@code -Dhalley.owner.cacheEntries=0}), so every lookup scores every replica.
 *
 * <pre>
 * java -jar bench/target/benchmarks.jar OwnerLookup
 * </pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class OwnerLookupBenchmark {
  @Param({"3", "100", "1000"})
  int nodes;

  private Owner owner;
  private String[] users;
  private int next;

  @Setup
  public void setUp() {
    owner = Owner.of(ClusterMap.of(1, equalNodes(nodes)));
    SplittableRandom random = new SplittableRandom(42);
    users = new String[4096];
    for (int i = 0; i < users.length; i++) {
      users[i] = "user-" + Long.toHexString(random.nextLong());
    }
  }

  static List<NodeInfo> equalNodes(int n) {
    List<NodeInfo> list = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      list.add(
          new NodeInfo(
              "node-" + i,
              URI.create("https://node-" + i + ".example.com"),
              URI.create("http://10.0." + (i / 250) + "." + (i % 250) + ":9090")));
    }
    return list;
  }

  private String nextUser() {
    return users[next++ & (users.length - 1)];
  }

  @Benchmark
  @Fork(1)
  public NodeInfo hot() {
    return owner.ownerOf(nextUser());
  }

  @Benchmark
  @Fork(value = 1, jvmArgsAppend = "-Dhalley.owner.cacheEntries=0")
  public NodeInfo cold() {
    return owner.ownerOf(nextUser());
  }
}
