package dev.halley.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.router.internal.DualRoute;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * A bounded stress test of {@link RecipientOrder}'s lists of second sends (dual mode, issue 14):
 * publisher threads register dual-mode first sends to random sets of moving users (old owner a)
 * and, now and then, messages straight to the new owner d (as after dual mode); old-owner threads
 * take batches of first sends and "answer" them in shuffled order, deciding for each user at random
 * whether a second send goes to d (which takes the place reserved at publish time) or not;
 * new-owner threads take batches for d as {@link NodeLane} does and settle them later. Checked:
 * every user's messages reach d in the order they were registered (publish order), whatever order
 * the answers came in; no deadlock; nothing left behind.
 */
class RecipientOrderSecondsStressTest {
  private static final int PUBLISHERS = 3;
  private static final int MESSAGES = 1_500; // per publisher
  private static final int OLD_SENDERS = 2;
  private static final int NEW_SENDERS = 2;

  @Test
  void secondSendsAndStraightSendsReachTheNewOwnerInPublishOrder() throws Exception {
    NodeInfo a = new NodeInfo("a", URI.create("http://a"), URI.create("http://a"), 1);
    NodeInfo d = new NodeInfo("d", URI.create("http://d"), URI.create("http://d"), 1);
    DualRoute route = DualRoute.of(ClusterMap.of(1, List.of(a)), ClusterMap.of(2, List.of(a, d)));
    List<String> users = new ArrayList<>();
    for (int i = 0; users.size() < 5; i++) {
      if (route.user("u" + i).moving()) {
        users.add("u" + i);
      }
    }
    RecipientOrder order = new RecipientOrder();
    LinkedList<Fragment> toA = new LinkedList<>(); // guarded by itself
    LinkedList<Fragment> toD = new LinkedList<>(); // guarded by itself
    Object registering = new Object(); // makes the registration order observable to the test
    Map<String, List<Long>> registered = new HashMap<>(); // user -> message no.; by registering
    Map<String, List<Long>> expected = new ConcurrentHashMap<>(); // what must reach d, by user
    Map<String, List<Long>> reachedD = new ConcurrentHashMap<>();
    Map<Fragment, Long> number = new ConcurrentHashMap<>();
    AtomicInteger open = new AtomicInteger(); // fragments registered and not yet settled
    AtomicInteger publishersLeft = new AtomicInteger(PUBLISHERS);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    AtomicInteger numbers = new AtomicInteger();
    CountDownLatch done = new CountDownLatch(PUBLISHERS + OLD_SENDERS + NEW_SENDERS);
    List<Thread> threads = new ArrayList<>();

    for (int p = 0; p < PUBLISHERS; p++) {
      threads.add(
          new Thread(
              () -> {
                ThreadLocalRandom r = ThreadLocalRandom.current();
                try {
                  for (int i = 0; i < MESSAGES; i++) {
                    List<String> shuffled = new ArrayList<>(users);
                    Collections.shuffle(shuffled, r);
                    List<String> to = List.copyOf(shuffled.subList(0, 1 + r.nextInt(3)));
                    boolean straight = r.nextInt(5) == 0;
                    PublishTracker t = new PublishTracker("k", null);
                    Fragment f =
                        new Fragment("k", straight ? "d" : "a", to, null, "1", null, t, 0, 0);
                    f.route = straight ? null : route;
                    long no = numbers.incrementAndGet();
                    number.put(f, no);
                    open.incrementAndGet();
                    synchronized (registering) {
                      order.register(List.of(f));
                      for (String u : to) {
                        registered.computeIfAbsent(u, k -> new ArrayList<>()).add(no);
                      }
                    }
                    if (r.nextInt(4) == 0) {
                      Thread.yield();
                    }
                    LinkedList<Fragment> q = straight ? toD : toA;
                    synchronized (q) {
                      q.addLast(f);
                    }
                  }
                } catch (Throwable e) {
                  failure.compareAndSet(null, e);
                } finally {
                  publishersLeft.decrementAndGet();
                  done.countDown();
                }
              },
              "publisher-" + p));
    }
    for (int s = 0; s < OLD_SENDERS; s++) {
      threads.add(
          new Thread(
              () -> {
                ThreadLocalRandom r = ThreadLocalRandom.current();
                try {
                  while (!finished(publishersLeft, open, failure)) {
                    List<Fragment> batch = take(order, toA);
                    Collections.shuffle(batch, r); // answers in any order
                    for (Fragment f : batch) {
                      List<Integer> seconds = new ArrayList<>();
                      for (int i = 0; i < f.users.size(); i++) {
                        if (r.nextInt(3) != 0) {
                          seconds.add(i);
                        }
                      }
                      if (!seconds.isEmpty()) {
                        int[] idx = seconds.stream().mapToInt(Integer::intValue).toArray();
                        List<String> subset = new ArrayList<>();
                        for (int i : idx) {
                          subset.add(f.users.get(i));
                        }
                        Fragment second =
                            new Fragment("k", "d", subset, null, "1", null, f.tracker, 0, 0);
                        second.second = true;
                        number.put(second, number.get(f));
                        open.incrementAndGet();
                        assertTrue(order.takeSeconds(f, idx, second), "a place was reserved");
                        synchronized (toD) {
                          toD.addLast(second);
                        }
                      }
                      order.release(f, null);
                      open.decrementAndGet();
                    }
                  }
                } catch (Throwable e) {
                  failure.compareAndSet(null, e);
                } finally {
                  done.countDown();
                }
              },
              "old-owner-" + s));
    }
    for (int s = 0; s < NEW_SENDERS; s++) {
      threads.add(
          new Thread(
              () -> {
                ThreadLocalRandom r = ThreadLocalRandom.current();
                try {
                  while (!finished(publishersLeft, open, failure)) {
                    List<Fragment> batch = take(order, toD);
                    for (Fragment f : batch) {
                      for (String u : f.users) {
                        reachedD
                            .computeIfAbsent(
                                u, k -> Collections.synchronizedList(new ArrayList<>()))
                            .add(number.get(f));
                      }
                    }
                    if (r.nextBoolean()) {
                      Thread.yield(); // in flight for a while
                    }
                    for (Fragment f : batch) {
                      order.release(f, null);
                      open.decrementAndGet();
                    }
                  }
                } catch (Throwable e) {
                  failure.compareAndSet(null, e);
                } finally {
                  done.countDown();
                }
              },
              "new-owner-" + s));
    }
    threads.forEach(Thread::start);
    assertTrue(done.await(2, TimeUnit.MINUTES), "stress run finished (no deadlock)");
    assertNull(failure.get(), () -> String.valueOf(failure.get()));
    assertEquals(0, order.size(), "no recipient left with unsettled messages");
    for (String u : users) {
      // What reached d is a subsequence of the registration order (some messages had no second
      // send), each message once.
      List<Long> got = reachedD.getOrDefault(u, List.of());
      Iterator<Long> want = registered.get(u).iterator();
      for (Long no : got) {
        boolean found = false;
        while (!found && want.hasNext()) {
          found = want.next().equals(no);
        }
        assertTrue(found, u + ": message " + no + " reached d out of registration order");
      }
    }
  }

  private static boolean finished(
      AtomicInteger publishersLeft, AtomicInteger open, AtomicReference<Throwable> failure) {
    return failure.get() != null || (publishersLeft.get() == 0 && open.get() == 0);
  }

  /** Up to 8 sendable fragments of {@code queue}, in queue order, as a lane's request takes. */
  private static List<Fragment> take(RecipientOrder order, LinkedList<Fragment> queue) {
    Object token = new Object();
    List<Fragment> batch = new ArrayList<>();
    synchronized (queue) {
      for (Iterator<Fragment> it = queue.iterator(); it.hasNext() && batch.size() < 8; ) {
        Fragment f = it.next();
        if (order.tryTake(f, token)) {
          it.remove();
          batch.add(f);
        }
      }
    }
    if (batch.isEmpty()) {
      Thread.yield();
    }
    return batch;
  }
}
