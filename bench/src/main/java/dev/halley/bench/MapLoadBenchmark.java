package dev.halley.bench;

import dev.halley.cluster.ClusterMap;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * Time to parse and validate a map document and precompute its owner function, for {@code nodes}
 * nodes of weight {@code weight}.
 *
 * <pre>
 * java -jar bench/target/benchmarks.jar MapLoad
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class MapLoadBenchmark {
  @Param({"100", "1000"})
  int nodes;

  @Param({"1", "100"})
  int weight;

  private String json;

  @Setup
  public void setUp() {
    String doc = ClusterMap.of(1, OwnerLookupBenchmark.equalNodes(nodes)).toJson();
    json = doc.replace("\"weight\":1}", "\"weight\":" + weight + "}");
  }

  @Benchmark
  public ClusterMap parse() {
    return ClusterMap.parse(json);
  }
}
