package dev.halley.node.reshard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.halley.cluster.ClusterMap;
import dev.halley.node.HalleyNode;
import dev.halley.node.InternalApi;
import dev.halley.node.TestNodes;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pending-map endpoints (issue 14): install, idempotent repeat, conflicts, abort, activate,
 * {@code pendingMapVersion} in publish replies, the publishers seen from the headers, the state
 * endpoint, and {@code pendingMapFile}.
 */
class PendingMapAdminTest {
  static ClusterMap map(int version, String... extra) {
    StringBuilder sb =
        new StringBuilder(
            "{\"version\": "
                + version
                + ", \"nodes\": ["
                + "{\"id\": \"a\", \"publicUrl\": \"http://127.0.0.1:1\", \"internalUrl\": \"http://127.0.0.1:2\"},"
                + "{\"id\": \"b\", \"publicUrl\": \""
                + TestNodes.OTHER_URL
                + "\", \"internalUrl\": \"http://127.0.0.1:3\"}");
    for (String id : extra) {
      sb.append(",{\"id\": \"")
          .append(id)
          .append("\", \"publicUrl\": \"http://")
          .append(id)
          .append(".example.test:8080\", \"internalUrl\": \"http://127.0.0.1:4\"}");
    }
    return ClusterMap.parse(sb.append("]}").toString());
  }

  private HalleyNode node;
  private InternalApi api;

  @BeforeEach
  void start() {
    node = HalleyNode.start(TestNodes.config().build());
    api = new InternalApi(node);
  }

  @AfterEach
  void stop() {
    node.close();
  }

  @Test
  void installRepeatConflictAbort() {
    InternalApi.Reply none = api.send("GET", "/v1/admin/map/pending", null);
    assertEquals(404, none.status());
    assertEquals("no_pending_map", none.error());

    ClusterMap v4 = map(4, "c");
    InternalApi.Reply put = api.send("POST", "/v1/admin/map/pending", v4.toJson());
    assertEquals(200, put.status(), put.toString());
    assertEquals(3, put.body().get("active").asInt());
    assertEquals(4, put.body().get("pending").asInt());
    assertEquals(
        200, api.send("POST", "/v1/admin/map/pending", v4.toJson()).status(), "same again");
    assertEquals(
        ClusterMap.parse(api.send("GET", "/v1/admin/map/pending", null).body().toString()), v4);

    InternalApi.Reply other = api.send("POST", "/v1/admin/map/pending", map(5, "d").toJson());
    assertEquals(409, other.status());
    assertEquals("map_version_conflict", other.error());

    JsonNode reply = api.publish(publishBody()).body();
    assertEquals(4, reply.get("pendingMapVersion").asInt(), reply.toString());
    assertEquals(3, reply.get("mapVersion").asInt());

    InternalApi.Reply del = api.send("DELETE", "/v1/admin/map/pending", null);
    assertEquals(200, del.status());
    assertTrue(del.body().get("pending").isNull());
    assertFalse(api.publish(publishBody()).body().has("pendingMapVersion"));

    InternalApi.Reply stale = api.send("POST", "/v1/admin/map/pending", map(3, "c").toJson());
    assertEquals(409, stale.status());
    assertEquals("map_version_conflict", stale.error());
    InternalApi.Reply bad = api.send("POST", "/v1/admin/map/pending", "{\"version\":");
    assertEquals(400, bad.status());
    assertEquals("invalid_json", bad.error());
  }

  @Test
  void activateIsIdempotentAndRefusesAVersionNotPending() {
    InternalApi.Reply none = api.send("POST", "/v1/admin/map/activate", "{\"version\": 4}");
    assertEquals(409, none.status());
    assertEquals("map_version_conflict", none.error());
    api.send("POST", "/v1/admin/map/pending", map(4, "c").toJson());
    assertEquals(409, api.send("POST", "/v1/admin/map/activate", "{\"version\": 5}").status());
    assertEquals(
        "unknown_field",
        api.send("POST", "/v1/admin/map/activate", "{\"version\": 4, \"x\": 1}").error());
    assertEquals(
        "invalid_field",
        api.send("POST", "/v1/admin/map/activate", "{\"version\": \"4\"}").error());

    InternalApi.Reply ok = api.send("POST", "/v1/admin/map/activate", "{\"version\": 4}");
    assertEquals(200, ok.status(), ok.toString());
    assertEquals(4, ok.body().get("active").asInt());
    assertTrue(ok.body().get("pending").isNull());
    assertEquals(4, node.map().version());
    assertEquals(200, api.send("POST", "/v1/admin/map/activate", "{\"version\": 4}").status());
    assertFalse(api.publish(publishBody()).body().has("pendingMapVersion"));
  }

  @Test
  void theImmediateSwitchWithThePendingDocumentActivatesIt() {
    ClusterMap v4 = map(4, "c");
    api.send("POST", "/v1/admin/map/pending", v4.toJson());
    assertEquals(200, api.send("POST", "/v1/admin/map", v4.toJson()).status());
    JsonNode state = api.send("GET", "/v1/admin/map/state", null).body();
    assertEquals(4, state.get("active").asInt());
    assertTrue(state.get("pending").isNull());
  }

  @Test
  void statusListsThePublishersSeenWithTheirVersions() {
    api.send("POST", "/v1/admin/map/pending", map(4, "c").toJson());
    assertEquals(200, publishAs("pub-1f3a", "3,4").status());
    assertEquals(200, publishAs("pub-2", "3").status());
    assertEquals(200, publishAs(null, null).status(), "both headers are optional");
    JsonNode state = api.send("GET", "/v1/admin/map/state", null).body();
    assertEquals("a", state.get("node").asText());
    assertEquals(3, state.get("active").asInt());
    assertEquals(4, state.get("pending").asInt());
    assertEquals(2, state.get("publishers").size(), state.toString());
    for (JsonNode p : state.get("publishers")) {
      String versions = p.get("versions").toString();
      assertEquals(p.get("id").asText().equals("pub-2") ? "[3]" : "[3,4]", versions);
      assertTrue(p.get("lastSeenMs").asLong() > 0);
    }
    assertEquals(0, state.at("/preStreams/users").asInt());
    assertEquals(0, state.at("/handoffs/finishing").asInt());

    for (String[] bad :
        new String[][] {
          {"pub 1", "3,4"},
          {"p".repeat(129), "3"},
          {"pub", "3,x"},
          {"pub", "3,,4"},
          {"pub", "1,2,3,4,5"},
          {"pub", "3," + "4".repeat(70)},
          {"pub", "-3"}
        }) {
      InternalApi.Reply r = publishAs(bad[0], bad[1]);
      assertEquals(400, r.status(), String.join(" / ", bad));
      assertEquals("bad_request", r.error());
    }
  }

  @Test
  void pendingMapFileIsInstalledAndThenActivatedByTheMapFile(@TempDir Path dir) throws Exception {
    node.close();
    Path mapFile = dir.resolve("cluster.json");
    Path pendingFile = dir.resolve("pending.json");
    Files.writeString(mapFile, TestNodes.MAP.toJson());
    node =
        HalleyNode.start(TestNodes.config().mapFile(mapFile).pendingMapFile(pendingFile).build());
    api = new InternalApi(node);
    ClusterMap v4 = map(4, "c");
    Files.writeString(pendingFile, v4.toJson());
    Awaitility.await("pending map 4 installed from the file")
        .atMost(Duration.ofSeconds(20))
        .until(
            () -> api.send("GET", "/v1/admin/map/state", null).body().path("pending").asInt() == 4);
    Files.writeString(mapFile, v4.toJson());
    Awaitility.await("map 4 activated from mapFile")
        .atMost(Duration.ofSeconds(20))
        .until(() -> node.map().version() == 4);
    assertTrue(api.send("GET", "/v1/admin/map/state", null).body().get("pending").isNull());
  }

  private InternalApi.Reply publishAs(String id, String versions) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + node.internalPort() + "/v1/publish"))
            .header("Authorization", "Bearer " + TestNodes.API_KEY)
            .POST(HttpRequest.BodyPublishers.ofString(publishBody()));
    if (id != null) {
      b.header("Halley-Publisher", id);
    }
    if (versions != null) {
      b.header("Halley-Map-Versions", versions);
    }
    return InternalApi.call(b.build());
  }

  private static String publishBody() {
    return "{\"messages\": [{\"users\": [\"" + TestNodes.localUser("p") + "\"], \"data\": 1}]}";
  }
}
