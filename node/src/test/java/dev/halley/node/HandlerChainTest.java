package dev.halley.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.halley.node.cluster.NodeContext;
import dev.halley.node.transport.sse.SseTransport;
import org.junit.jupiter.api.Test;

/** The checks in front of a browser transport, in the order docs/architecture.md gives. */
class HandlerChainTest {
  @Test
  void aTransportIsBehindAdmissionTokenOwnershipAccessResumeAndUserAdmission() {
    NodeContext node = new NodeContext(TestNodes.config().build());
    try {
      assertEquals(
          "AdmissionHandler(lifecycle, maxConnections, connectRatePerSecond)"
              + " -> TokenHandler(TokenVerifier{HS256})"
              + " -> OwnershipHandler(a)"
              + " -> AccessCheckHandler(AccessControl{AccessList{0 of 100000 entries}, 0 live})"
              + " -> ResumeHandler(Last-Event-ID, lastEventId)"
              + " -> UserAdmissionHandler(maxConnectionsPerUser, presence)"
              + " -> SseTransport(GET /v1/sse)",
          HalleyNode.checked(node, true, false, new SseTransport(node)).toString());
    } finally {
      node.ops.close();
    }
  }
}
