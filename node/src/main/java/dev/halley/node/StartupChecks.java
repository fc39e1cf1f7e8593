package dev.halley.node;

import dev.halley.cluster.NodeInfo;
import dev.halley.node.config.NodeConfig;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What a node that starts fine may still have wrong: this node is not in its map, or it listens on
 * other ports than the map's URLs for it advertise (browsers and app servers connect to the map's
 * URLs). Each warning is one {@code event=...} log line; a proxy or a port mapping in between makes
 * a mismatch right, so it is a warning, not an error.
 */
final class StartupChecks {
  private StartupChecks() {}

  /** The warnings for {@code config} once its listeners are bound to these ports. */
  static List<String> warnings(NodeConfig config, int publicPort, int internalPort) {
    List<String> out = new ArrayList<>();
    Optional<NodeInfo> self = config.map().node(config.nodeId());
    if (self.isEmpty()) {
      out.add(
          "event=map_without_this_node node="
              + config.nodeId()
              + " version="
              + config.map().version()
              + " message=\"this node is not in its cluster map: it owns no user\"");
      return out;
    }
    mismatch(out, config.nodeId(), "public", "publicUrl", publicPort, self.get().publicUrl());
    mismatch(
        out, config.nodeId(), "internal", "internalUrl", internalPort, self.get().internalUrl());
    return out;
  }

  private static void mismatch(
      List<String> out, String node, String listener, String field, int port, URI url) {
    int advertised = port(url);
    if (advertised != port) {
      out.add(
          "event=listener_mismatch node="
              + node
              + " listener="
              + listener
              + " port="
              + port
              + " "
              + field
              + "="
              + url
              + " message=\"the map sends clients to port "
              + advertised
              + " but this listener is on port "
              + port
              + "; fine only behind a proxy or port mapping\"");
    }
  }

  /** The port a URL connects to: its own, or its scheme's default. */
  static int port(URI url) {
    if (url.getPort() != -1) {
      return url.getPort();
    }
    return "https".equalsIgnoreCase(url.getScheme()) ? 443 : 80;
  }
}
