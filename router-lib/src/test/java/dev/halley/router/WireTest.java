package dev.halley.router;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.halley.router.internal.Wire;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class WireTest {
  @Test
  void publishBodyCarriesKeysRecipientsRawDataAndTtl() throws Exception {
    PublishTracker t = new PublishTracker("k1", null);
    byte[] body =
        PublishRequest.body(
            List.of(
                new Fragment(
                    "k1", "a", List.of("alice", "bob"), null, "{\"x\":1}", 60000L, t, 0, 0),
                new Fragment("k2", "a", null, "room:1", "\"hi\"", null, t, 0, 0)));
    assertEquals(
        new ObjectMapper()
            .readTree(
                "{\"messages\":[{\"id\":\"k1\",\"users\":[\"alice\",\"bob\"],\"data\":{\"x\":1},"
                    + "\"ttlMs\":60000},{\"id\":\"k2\",\"channel\":\"room:1\",\"data\":\"hi\"}]}"),
        new ObjectMapper().readTree(new String(body, StandardCharsets.UTF_8)));
  }

  @Test
  void urlsKeepAPathPrefixAndEncodeSegments() {
    assertEquals(
        URI.create("http://h:1/halley/v1/publish"),
        Wire.resolve(URI.create("http://h:1/halley/"), "/v1/publish"));
    assertEquals("room%2F1%3Aa%20b", Wire.segment("room/1:a b"));
  }
}
