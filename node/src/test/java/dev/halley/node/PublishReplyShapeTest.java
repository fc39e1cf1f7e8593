package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.halley.testing.TransportClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The publish reply's exact text, over real sockets. */
class PublishReplyShapeTest {
  @RegisterExtension static final OneNode NODE = new OneNode();

  /**
   * The reply's exact shape and field order for every kind of result (the reply is written without
   * a tree; this text is what the tree-built reply was, checked against it).
   */
  @Test
  void theReplyKeepsItsShapeForEveryKindOfResult() {
    String online = TestNodes.userOwnedBy("a", "shape", 0);
    String offline = TestNodes.userOwnedBy("a", "shape", 1);
    String gone = TestNodes.userOwnedBy("a", "shape", 2);
    String remote = TestNodes.remoteUser("shape");
    try (TransportClient c = TransportClient.Transport.WS.client(NODE.node().publicPort())) {
      c.connect(TestNodes.token(online, null), null);
      String body =
          "{\"messages\": [{\"id\": \"k-shape\", \"users\": [\""
              + online
              + "\", \""
              + offline
              + "\", \""
              + remote
              + "\", \""
              + online
              + "\"], \"data\": {\"n\": 1}},"
              + " {\"users\": [\""
              + gone
              + "\"], \"data\": 2, \"ttlMs\": 0},"
              + " {\"users\": [\""
              + online
              + "\"], \"data\": 3},"
              + " {\"id\": \"c-shape\", \"channel\": \"shape-room\", \"data\": 4}]}";
      String results =
          ("{\"id\":\"k-shape\",\"status\":\"STATUS\",\"connections\":1,\"delivered\":[\"ON\"],"
                  + "\"buffered\":[\"OFF\"],\"dropped\":[],\"misdirected\":[\"REMOTE\"],"
                  + "\"pending\":[]},"
                  + "{\"status\":\"accepted\",\"connections\":0,\"delivered\":[],\"buffered\":[],"
                  + "\"dropped\":[\"GONE\"],\"misdirected\":[],\"pending\":[]},"
                  + "{\"status\":\"accepted\",\"connections\":1,\"delivered\":[\"ON\"],"
                  + "\"buffered\":[],\"dropped\":[],\"misdirected\":[],\"pending\":[]},"
                  + "{\"id\":\"c-shape\",\"channel\":\"shape-room\",\"status\":\"STATUS\","
                  + "\"users\":0,\"connections\":0}")
              .replace("GONE", gone)
              .replace("REMOTE", remote)
              .replace("OFF", offline)
              .replace("ON", online);
      InternalApi.Reply first = NODE.api().publish(body);
      assertEquals(200, first.status(), first.toString());
      assertEquals(
          "{\"node\":\"a\",\"mapVersion\":3,\"results\":["
              + results.replace("STATUS", "accepted")
              + "]}",
          first.body().toString());
      InternalApi.Reply again = NODE.api().publish(body);
      String repeated = results.replace("STATUS", "duplicate");
      // The two messages without a key are new messages again.
      assertEquals(
          "{\"node\":\"a\",\"mapVersion\":3,\"results\":[" + repeated + "]}",
          again.body().toString());
    }
  }
}
