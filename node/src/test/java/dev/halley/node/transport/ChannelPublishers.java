package dev.halley.node.transport;

import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.halley.node.InternalApi;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

/**
 * The publishers of the write-path stress tests: threads that each publish {@code perPublisher}
 * messages {@code {"t": publisher, "n": index, "pad": pad(t, n)}} to one channel, in requests of 1
 * to {@code maxBatch} messages (so the IO threads' hand-off carries batches of several sizes), all
 * let go at once by {@link #run}. A test adds threads of its own with {@link #add} (they wait on
 * {@link #go} too). Errors (a reply other than 200, an exception) are collected in {@link #errors};
 * a publisher stops at its first.
 *
 * <p>Threading: the threads are daemons started at construction, waiting on {@link #go}; {@link
 * #errors} is a concurrent queue; {@link #add} and {@link #run} from the test's thread.
 */
public final class ChannelPublishers {
  public final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
  public final CountDownLatch go = new CountDownLatch(1);
  private final List<Thread> threads = new ArrayList<>();

  public ChannelPublishers(
      InternalApi api,
      String channel,
      int publishers,
      int perPublisher,
      int maxBatch,
      BiFunction<Integer, Integer, String> pad,
      String name) {
    for (int t = 0; t < publishers; t++) {
      int pub = t;
      add(
          new Thread(
              () -> {
                try {
                  go.await();
                  int n = 0;
                  while (n < perPublisher) {
                    int batch = Math.min(1 + (n + pub) % maxBatch, perPublisher - n);
                    ObjectNode body = InternalApi.JSON.createObjectNode();
                    ArrayNode messages = body.putArray("messages");
                    for (int i = 0; i < batch; i++, n++) {
                      ObjectNode m = messages.addObject();
                      m.put("channel", channel);
                      m.putObject("data").put("t", pub).put("n", n).put("pad", pad.apply(pub, n));
                    }
                    InternalApi.Reply r = api.publish(body.toString());
                    if (r.status() != 200) {
                      errors.add("publisher " + pub + ": " + r);
                      return;
                    }
                  }
                } catch (Throwable e) {
                  errors.add("publisher " + pub + ": " + e);
                }
              },
              name + "-" + t));
    }
  }

  /** Starts {@code t} (a daemon) among the publishers; it should wait on {@link #go}. */
  public void add(Thread t) {
    t.setDaemon(true);
    t.start();
    threads.add(t);
  }

  /** Lets every publisher go and waits for each to finish (at most 60 s each, else fails). */
  public void run() throws InterruptedException {
    go.countDown();
    for (Thread th : threads) {
      th.join(TimeUnit.SECONDS.toMillis(60));
      assertFalse(th.isAlive(), th.getName() + " did not finish");
    }
  }
}
