package dev.halley.node;

import dev.halley.node.config.NodeConfig;
import dev.halley.testing.ServerExtension;

/**
 * One real node per test class (started with {@link TestNodes#config()} unless given another), its
 * internal API, and the clients each test opens, closed after it:
 *
 * <pre>{@code
 * @RegisterExtension static final OneNode NODE = new OneNode();
 * ... NODE.connect(Transport.WS, token) ... NODE.api().publishToUsers(...) ... NODE.node() ...
 * }</pre>
 */
public final class OneNode extends ServerExtension<HalleyNode> {
  private volatile InternalApi api;

  public OneNode() {
    this(TestNodes.config());
  }

  public OneNode(NodeConfig.Builder config) {
    super(() -> HalleyNode.start(config.build()), HalleyNode::publicPort);
  }

  public HalleyNode node() {
    return server();
  }

  /** The node's internal API (publish, admin) as the app tier calls it. */
  public InternalApi api() {
    InternalApi a = api;
    if (a == null) {
      a = new InternalApi(server());
      api = a;
    }
    return a;
  }
}
