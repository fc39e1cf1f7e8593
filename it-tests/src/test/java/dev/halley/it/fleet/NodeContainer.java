package dev.halley.it.fleet;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.awaitility.core.TerminalFailureException;
import org.testcontainers.containers.BindMode;
import org.testcontainers.containers.ContainerLaunchException;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.AbstractWaitStrategy;
import org.testcontainers.utility.DockerImageName;

/**
 * One Halley node as a container of deploy/container's image, the way users run it: host networking
 * on its own 127.0.0.1 ports, non-root, read-only root filesystem with a tmpfs /tmp, its
 * configuration directory (node.yaml, cluster.json) bind-mounted read-only at /etc/halley, secrets
 * and identity from HALLEY_* variables. Faults are the engine's: {@link #kill()} (SIGKILL), {@link
 * #pause()}, {@link #sigterm()}; {@link #restart()} starts the same container again.
 */
public final class NodeContainer extends GenericContainer<NodeContainer> {
  public static final String API_KEY = "it-api-key-0123456789abcdef";
  public static final String SECRET = "it-token-secret-0123456789abcdef-0123456789";
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

  public final String nodeId;
  public final int publicPort;
  public final int internalPort;
  public final Path configDir;
  private volatile String hungBy;

  NodeContainer(
      String image,
      String nodeId,
      int publicPort,
      int internalPort,
      Path configDir,
      Map<String, String> env) {
    super(DockerImageName.parse(image));
    this.nodeId = nodeId;
    this.publicPort = publicPort;
    this.internalPort = internalPort;
    this.configDir = configDir;
    withNetworkMode("host");
    withEnv("HALLEY_NODE_ID", nodeId);
    withEnv("HALLEY_PUBLIC_HOST", "127.0.0.1");
    withEnv("HALLEY_PUBLIC_PORT", Integer.toString(publicPort));
    withEnv("HALLEY_INTERNAL_HOST", "127.0.0.1");
    withEnv("HALLEY_INTERNAL_PORT", Integer.toString(internalPort));
    withEnv("HALLEY_API_KEYS", API_KEY);
    withEnv("HALLEY_TOKEN_HMAC_SECRET", SECRET);
    env.forEach(this::withEnv);
    withFileSystemBind(configDir.toString(), "/etc/halley", BindMode.READ_ONLY);
    withTmpFs(Map.of("/tmp", "rw,size=64m"));
    withCreateContainerCmdModifier(c -> c.getHostConfig().withReadonlyRootfs(true));
    withLabel("dev.halley.it", "true");
    waitingFor(new AnswersAsItself().withStartupTimeout(Duration.ofSeconds(90)));
  }

  /**
   * Started: the node answers {@code GET /v1/admin/map/state} on its internal port, naming itself
   * (so another process on that port does not count), while its container runs. Polled over HTTP,
   * not read from the container's log: podman's log follow can miss a line, and a start that waited
   * on one timed out with no log at all. A container that exits, or does not answer in time, fails
   * the start with its log, read before Testcontainers removes the container.
   */
  private final class AnswersAsItself extends AbstractWaitStrategy {
    @Override
    protected void waitUntilReady() {
      String self = "\"node\":\"" + nodeId + "\"";
      AtomicReference<Answer> last = new AtomicReference<>();
      try {
        Awaitility.await()
            .atMost(startupTimeout)
            .pollDelay(Duration.ZERO)
            .pollInterval(Duration.ofMillis(200))
            .pollInSameThread()
            .failFast(() -> !waitStrategyTarget.isRunning())
            .until(
                () -> {
                  Answer a = stateOrNull();
                  last.set(a);
                  return a != null && a.status() == 200 && a.body().contains(self);
                });
      } catch (TerminalFailureException e) {
        throw new ContainerLaunchException(
            nodeId + " exited before it answered; its log:\n" + waitStrategyTarget.getLogs());
      } catch (ConditionTimeoutException e) {
        Answer a = last.get();
        throw new ContainerLaunchException(
            nodeId
                + " did not answer on port "
                + internalPort
                + " within "
                + startupTimeout
                + (a == null ? "" : " (last answer " + a.status() + ")")
                + "; its log:\n"
                + waitStrategyTarget.getLogs());
      }
    }

    private Answer stateOrNull() {
      try {
        HttpResponse<String> r =
            HTTP.send(
                HttpRequest.newBuilder(URI.create(internalUrl() + "/v1/admin/map/state"))
                    .timeout(Duration.ofSeconds(5))
                    .header("Authorization", "Bearer " + API_KEY)
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        return new Answer(r.statusCode(), r.body());
      } catch (IOException e) {
        return null; // not listening yet
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return null;
      }
    }
  }

  public URI publicUrl() {
    return URI.create("http://127.0.0.1:" + publicPort);
  }

  public URI internalUrl() {
    return URI.create("http://127.0.0.1:" + internalPort);
  }

  /** GET on the internal listener; -1 when it does not answer within a second. */
  public int status(String path) {
    return status(path, Duration.ofSeconds(1));
  }

  /**
   * {@link #status(String)} waiting up to {@code timeout} for the answer: a node busy with traffic
   * on a loaded machine may take seconds to answer (a poll inside a bounded step, not a liveness
   * probe).
   */
  public int status(String path, Duration timeout) {
    try {
      return HTTP.send(
              HttpRequest.newBuilder(URI.create(internalUrl() + path)).timeout(timeout).build(),
              HttpResponse.BodyHandlers.discarding())
          .statusCode();
    } catch (IOException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  /**
   * A call to the internal listener with the API key ({@code body} null: no body); returns the
   * status and the body. Fails the test when the node does not answer within 10 s.
   */
  public Answer admin(String method, String path, String body) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(internalUrl() + path))
            .timeout(Duration.ofSeconds(10))
            .header("Authorization", "Bearer " + API_KEY);
    if (body != null) {
      b.header("Content-Type", "application/json");
    }
    b.method(
        method,
        body == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
    try {
      HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
      return new Answer(r.statusCode(), r.body());
    } catch (IOException | InterruptedException e) {
      throw new AssertionError(nodeId + ": " + method + " " + path, e);
    }
  }

  /** An HTTP status and body. */
  public record Answer(int status, String body) {}

  public String metrics() {
    try {
      return HTTP.send(
              HttpRequest.newBuilder(URI.create(internalUrl() + "/metrics"))
                  .timeout(Duration.ofSeconds(5))
                  .build(),
              HttpResponse.BodyHandlers.ofString())
          .body();
    } catch (IOException | InterruptedException e) {
      throw new AssertionError(nodeId + ": /metrics", e);
    }
  }

  /** A sample of /metrics (name and tags exactly as exposed), 0 when absent. */
  public double metric(String series) {
    for (String line : metrics().split("\n")) {
      if (line.startsWith(series + " ")) {
        return Double.parseDouble(line.substring(series.length() + 1).trim().split(" ")[0]);
      }
    }
    return 0;
  }

  public void awaitReady() {
    Await.until(() -> status("/readyz") == 200, nodeId + " ready", Duration.ofSeconds(90));
  }

  /** SIGKILL: the process dies at once (a crash). */
  public void kill() {
    getDockerClient().killContainerCmd(getContainerId()).exec();
    awaitStopped();
  }

  /** SIGTERM: the node drains and exits (a rolling restart's stop); returns the exit code. */
  public long sigterm() {
    getDockerClient().killContainerCmd(getContainerId()).withSignal("TERM").exec();
    return awaitStopped();
  }

  private long awaitStopped() {
    Await.until(
        () ->
            !Boolean.TRUE.equals(
                getDockerClient()
                    .inspectContainerCmd(getContainerId())
                    .exec()
                    .getState()
                    .getRunning()),
        nodeId + " stopped",
        Duration.ofSeconds(60));
    Long code =
        getDockerClient().inspectContainerCmd(getContainerId()).exec().getState().getExitCodeLong();
    return code == null ? -1 : code;
  }

  /** Starts the stopped container again (same ports, same mounts; a new epoch) and waits. */
  public void restart() {
    getDockerClient().startContainerCmd(getContainerId()).exec();
    awaitReady();
  }

  /**
   * Hangs the node: {@code pause} (the cgroup freezer), which runc on this kind of host sometimes
   * fails to do under load; after three failed tries, SIGSTOP to the JVM, which hangs it the same
   * way (the kernel still accepts connections, nothing answers). Returns which one was used.
   */
  public String pause() {
    RuntimeException last = null;
    for (int i = 0; i < 3; i++) {
      try {
        getDockerClient().pauseContainerCmd(getContainerId()).exec();
        hungBy = "pause";
        return hungBy;
      } catch (RuntimeException e) {
        last = e;
      }
    }
    getDockerClient().killContainerCmd(getContainerId()).withSignal("STOP").exec();
    hungBy = "SIGSTOP (pause failed: " + last.getMessage().strip() + ")";
    return hungBy;
  }

  public void unpause() {
    if ("pause".equals(hungBy)) {
      getDockerClient().unpauseContainerCmd(getContainerId()).exec();
    } else {
      getDockerClient().killContainerCmd(getContainerId()).withSignal("CONT").exec();
    }
    hungBy = null;
  }

  /** Resident memory of the node's JVM (the container's main process, seen from the host). */
  public long rssBytes() {
    Long pid =
        getDockerClient().inspectContainerCmd(getContainerId()).exec().getState().getPidLong();
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException e) {
      throw new AssertionError(nodeId + ": cannot read the RSS of pid " + pid, e);
    }
    throw new AssertionError(nodeId + ": no VmRSS for pid " + pid);
  }

  @Override
  public String toString() {
    return "node " + nodeId + " :" + publicPort + "/:" + internalPort;
  }
}
