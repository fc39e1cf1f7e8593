package dev.halley.router;

import static dev.halley.router.TestCluster.API_KEY;
import static dev.halley.router.TestCluster.userOn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.testing.PollTestClient;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link Message#conflationKey} reaches the owner node, which conflates a poll's answer. */
class ConflationTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static JsonNode poll(URI node, String token, String last) {
    return PollTestClient.pollOnce(node, token, last);
  }

  @Test
  void onlyTheLatestMessageOfAKeyIsSentAndUnkeyedOnesAllAre() throws Exception {
    try (TestCluster cluster = new TestCluster("a", "b");
        Publisher p =
            Publisher.builder()
                .mapSource(MapSource.of(cluster::map))
                .apiKey(API_KEY)
                .mapRefreshInterval(Duration.ZERO)
                .build()) {
      String user = userOn(cluster.map(), "b", 0);
      URI node = cluster.publicUrl("b");
      String token = TokenMinter.hs256(TestCluster.SECRET).mint(user, Duration.ofMinutes(5));
      String from = poll(node, token, null).get("lastEventId").asText();

      for (String m : List.of("1.01", "news", "1.02", "1.03")) {
        Message msg = Message.toUsers(user).data(m);
        p.publish(m.equals("news") ? msg : msg.conflationKey("eurusd")).get(20, TimeUnit.SECONDS);
      }

      List<String> got = new ArrayList<>();
      for (JsonNode e : poll(node, token, from).get("events")) {
        got.add(e.get("data").asText());
      }
      assertEquals(List.of("news", "1.03"), got);
      assertThrows(IllegalArgumentException.class, () -> Message.toUsers(user).conflationKey(""));
    }
  }
}
