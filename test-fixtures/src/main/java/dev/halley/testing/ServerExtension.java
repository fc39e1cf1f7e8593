package dev.halley.testing;

import dev.halley.testing.TransportClient.Transport;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.Supplier;
import java.util.function.ToIntFunction;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The lifecycle most server tests share, as a JUnit 5 extension: one server (a node, a cluster)
 * started before the class's first test and closed after its last, and the clients each test opens,
 * closed after that test (newest first), whether it passed or not.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final ServerExtension<HalleyNode> NODE =
 *     new ServerExtension<>(() -> HalleyNode.start(config), HalleyNode::publicPort);
 *
 * @Test
 * void test() {
 *   TransportClient c = NODE.connect(Transport.SSE, token);   // closed after this test
 * }
 * }</pre>
 *
 * <p>Register it on a static field (per class); a test's clients are kept in a deque guarded by
 * this object, as JUnit may call back from another thread than the one a test opened them on.
 */
public class ServerExtension<S extends AutoCloseable>
    implements BeforeAllCallback, AfterAllCallback, AfterEachCallback {
  private final Supplier<S> start;
  private final ToIntFunction<S> publicPort;
  private final Deque<AutoCloseable> opened = new ArrayDeque<>();
  private volatile S server;

  /**
   * @param start starts the server (called once, before the class's first test)
   * @param publicPort the port browsers connect to, for {@link #client} and {@link #connect}
   */
  public ServerExtension(Supplier<S> start, ToIntFunction<S> publicPort) {
    this.start = start;
    this.publicPort = publicPort;
  }

  /** The running server. */
  public S server() {
    S s = server;
    if (s == null) {
      throw new IllegalStateException("not started: register the extension on a static field");
    }
    return s;
  }

  /** Closes {@code closeable} after the current test (newest first); returns it. */
  public <C extends AutoCloseable> C closeAfterTest(C closeable) {
    synchronized (this) {
      opened.push(closeable);
    }
    return closeable;
  }

  /** A client of transport {@code t} to the server's public port, not yet connected. */
  @SuppressWarnings("unchecked")
  public <C extends TransportClient> C client(Transport t) {
    return (C) closeAfterTest(t.client(publicPort.applyAsInt(server())));
  }

  /** A client of transport {@code t}, connected as the token's user (hello received). */
  public TransportClient connect(Transport t, String token) {
    TransportClient c = client(t);
    c.connect(token, null);
    return c;
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    server = start.get();
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    Exception first = null;
    while (true) {
      AutoCloseable c;
      synchronized (this) {
        c = opened.poll();
      }
      if (c == null) {
        break;
      }
      try {
        c.close();
      } catch (Exception e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    S s = server;
    server = null;
    if (s != null) {
      s.close();
    }
  }
}
