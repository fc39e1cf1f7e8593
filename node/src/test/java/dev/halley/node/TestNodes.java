package dev.halley.node;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.halley.cluster.ClusterMap;
import dev.halley.node.config.NodeConfig;
import dev.halley.testing.NodeProcess;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;

/**
 * Shared fixtures of node tests: a two-node map (this node "a", a remote "b"), HS256 tokens, an API
 * key, and users owned by either node. Reusable by other modules' tests.
 */
public final class TestNodes {
  public static final String SECRET = "test-secret-0123456789abcdef-0123456789";
  public static final String API_KEY = "test-api-key-0123456789";
  public static final String OTHER_URL = "http://b.example.test:8080";
  public static final ClusterMap MAP =
      ClusterMap.parse(
          "{\"version\": 3, \"nodes\": ["
              + "{\"id\": \"a\", \"publicUrl\": \"http://127.0.0.1:1\", \"internalUrl\": \"http://127.0.0.1:2\"},"
              + "{\"id\": \"b\", \"publicUrl\": \""
              + OTHER_URL
              + "\", \"internalUrl\": \"http://127.0.0.1:3\"}]}");

  private TestNodes() {}

  /** A config for node "a" on ephemeral loopback ports. */
  public static NodeConfig.Builder config() {
    return NodeConfig.builder()
        .nodeId("a")
        .map(MAP)
        .publicHost("127.0.0.1")
        .publicPort(0)
        .internalHost("127.0.0.1")
        .internalPort(0)
        .apiKeys(List.of(API_KEY))
        .tokenHmacSecret(SECRET)
        .ioThreads(2)
        // Every test client connects from 127.0.0.1: lift the per-address and per-user limits.
        .operations(
            dev.halley.node.config.OperationsConfig.builder()
                .newConnectionsPerSecondPerAddress(1_000_000)
                .newConnectionBurstPerAddress(1_000_000)
                .maxConnectionsPerUser(10_000)
                .build());
  }

  /**
   * Node "a" of {@link #MAP} as a real process with the settings of {@link #config()}, plus extra
   * YAML option lines (e.g. {@code "drainPeriodMs: 2000"}); returns once it logged its ports.
   */
  public static NodeProcess process(Path dir, String heap, String... options) throws IOException {
    List<String> lines =
        new ArrayList<>(
            List.of(
                "nodeId: a",
                "map: " + MAP.toJson(),
                "publicHost: 127.0.0.1",
                "publicPort: 0",
                "internalHost: 127.0.0.1",
                "internalPort: 0",
                "apiKeys: [" + API_KEY + "]",
                "tokenHmacSecret: " + SECRET,
                "ioThreads: 2",
                "newConnectionsPerSecondPerAddress: 1000000",
                "newConnectionBurstPerAddress: 1000000",
                "maxConnectionsPerUser: 10000"));
    lines.addAll(List.of(options));
    return NodeProcess.start(dir, heap, lines);
  }

  /** The {@code n}-th user ID with this prefix that node {@code nodeId} owns. */
  public static String userOwnedBy(String nodeId, String prefix, int n) {
    int found = 0;
    for (int i = 0; ; i++) {
      String u = prefix + "-" + i;
      if (MAP.owner(u).id().equals(nodeId) && found++ == n) {
        return u;
      }
    }
  }

  public static String localUser(String prefix) {
    return userOwnedBy("a", prefix, 0);
  }

  public static String remoteUser(String prefix) {
    return userOwnedBy("b", prefix, 0);
  }

  public static String token(String user, List<String> channels) {
    return token(user, channels, Instant.now().plusSeconds(600), SECRET);
  }

  public static String token(String user, List<String> channels, Instant exp, String secret) {
    JWTClaimsSet.Builder claims =
        new JWTClaimsSet.Builder().subject(user).expirationTime(Date.from(exp));
    if (channels != null) {
      claims.claim("channels", channels);
    }
    SignedJWT jwt = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), claims.build());
    try {
      jwt.sign(new MACSigner(secret.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    } catch (JOSEException e) {
      throw new IllegalStateException(e);
    }
    return jwt.serialize();
  }
}
