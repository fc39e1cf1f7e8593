package dev.halley.node.metrics;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.internal.BuildVersion;
import dev.halley.node.HalleyNode;
import dev.halley.node.TestNodes;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** GET /metrics of a real node: build, process and JVM meters; nothing registered and unused. */
class ProcessMetersTest {
  private static String scrape(HalleyNode node) throws Exception {
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + node.internalPort() + "/metrics"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    return r.body();
  }

  private static double value(String text, String series) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(text);
    assertTrue(m.find(), series + " missing from:\n" + text);
    return Double.parseDouble(m.group(1));
  }

  @Test
  void exposesBuildVersionCpuSecondsFileDescriptorsAndJvmMeters() throws Exception {
    try (HalleyNode node = HalleyNode.start(TestNodes.config().build())) {
      String text = scrape(node);
      assertTrue(
          value(text, "halley_build_info{version=\"" + BuildVersion.get() + "\"}") == 1.0, text);
      assertTrue(value(text, "process_cpu_seconds_total") > 0, text);
      assertFalse(text.contains("process_cpu_time_ns_total"), text);
      double open = value(text, "process_files_open_files");
      double max = value(text, "process_files_max_files");
      assertTrue(open > 0 && max >= open, open + " / " + max);
      assertTrue(text.contains("jvm_memory_used_bytes{"), text);
      assertTrue(text.contains("jvm_memory_max_bytes{"), text);
      assertTrue(text.contains("jvm_gc_"), text);
    }
  }

  @Test
  void noMeterIsRegisteredThatNothingCounts() throws Exception {
    try (HalleyNode node = HalleyNode.start(TestNodes.config().build())) {
      String text = scrape(node);
      assertFalse(text.contains("no_listener"), text);
      // no webhook configured: no webhook meters, not even at zero
      assertFalse(text.contains("halley_presence_webhook"), text);
    }
  }
}
