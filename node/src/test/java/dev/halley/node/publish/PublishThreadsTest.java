package dev.halley.node.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.TestNodes;
import dev.halley.node.cluster.NodeContext;
import io.undertow.Undertow;
import io.undertow.server.handlers.PathHandler;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Issue 11 item 7: a publish runs on the publish threads, so while one is in progress the IO thread
 * (here the only one) keeps serving other requests.
 */
class PublishThreadsTest {
  @Test
  void aPublishInProgressDoesNotHoldTheIoThread() throws Exception {
    NodeContext node = new NodeContext(TestNodes.config().build());
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    Executor heldPublishThread =
        task ->
            new Thread(
                    () -> {
                      started.countDown();
                      try {
                        release.await(30, TimeUnit.SECONDS);
                      } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                      }
                      task.run();
                    },
                    "test-publish")
                .start();
    PathHandler routes =
        new PathHandler()
            .addExactPath(
                "/v1/publish", new PublishHandler(node, new FanOut(node), heldPublishThread))
            .addExactPath(
                "/other", ex -> ex.getResponseSender().send("ok")); // answered on the IO thread
    Undertow server =
        Undertow.builder()
            .setIoThreads(1)
            .setWorkerThreads(1)
            .addHttpListener(0, "127.0.0.1", routes)
            .build();
    server.start();
    try {
      int port = ((InetSocketAddress) server.getListenerInfo().get(0).getAddress()).getPort();
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
      String user = TestNodes.localUser("held");
      CompletableFuture<HttpResponse<String>> publish =
          http.sendAsync(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/publish"))
                  .POST(
                      HttpRequest.BodyPublishers.ofString(
                          "{\"messages\":[{\"users\":[\"" + user + "\"],\"data\":1}]}"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertTrue(started.await(30, TimeUnit.SECONDS), "the publish reached its thread");
      HttpResponse<String> other =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/other"))
                  .timeout(Duration.ofSeconds(30))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals("ok", other.body(), "the IO thread answered while the publish was held");
      assertTrue(!publish.isDone(), "the publish is still held");
      release.countDown();
      HttpResponse<String> r = publish.get(30, TimeUnit.SECONDS);
      assertEquals(200, r.statusCode(), r.body());
      assertTrue(r.body().contains("\"buffered\":[\"" + user + "\"]"), r.body());
    } finally {
      release.countDown();
      server.stop();
    }
  }
}
