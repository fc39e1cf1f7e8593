package dev.halley.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * A bounded stress test of {@link RecipientOrder}: publisher threads register messages to random
 * overlapping sets of users and queue them in whatever order they get to, sender threads build
 * batches from the queue as {@link NodeLane} does and settle them after a while. Checked: no user
 * is ever in two batches in flight at once, every user's messages are taken in the order they were
 * registered, and everything is taken (no deadlock, nothing left behind).
 */
class RecipientOrderStressTest {
  private static final int PUBLISHERS = 4;
  private static final int SENDERS = 3;
  private static final int MESSAGES = 2_000; // per publisher
  private static final String[] USERS = {"u0", "u1", "u2", "u3", "u4", "u5"};

  @Test
  void batchesNeverShareAUserInFlightAndTakeEachUsersMessagesInRegistrationOrder()
      throws Exception {
    RecipientOrder order = new RecipientOrder();
    LinkedList<Fragment> queue = new LinkedList<>(); // guarded by itself, like a lane's queue
    Object registering = new Object(); // makes the registration order observable to the test
    Map<String, List<Fragment>> registered = new HashMap<>(); // guarded by registering
    Map<String, List<Fragment>> taken = new ConcurrentHashMap<>();
    Map<String, Object> inFlight = new ConcurrentHashMap<>();
    AtomicInteger settled = new AtomicInteger();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    int total = PUBLISHERS * MESSAGES;
    CountDownLatch done = new CountDownLatch(PUBLISHERS + SENDERS);
    List<Thread> threads = new ArrayList<>();

    for (int p = 0; p < PUBLISHERS; p++) {
      threads.add(
          new Thread(
              () -> {
                ThreadLocalRandom r = ThreadLocalRandom.current();
                try {
                  for (int i = 0; i < MESSAGES; i++) {
                    List<String> users = new ArrayList<>(List.of(USERS));
                    Collections.shuffle(users, r);
                    List<String> to = List.copyOf(users.subList(0, 1 + r.nextInt(3)));
                    PublishTracker t = new PublishTracker("k", null);
                    Fragment f = new Fragment("k", "n", to, null, "1", null, t, 0, 0);
                    synchronized (registering) {
                      order.register(List.of(f));
                      for (String u : to) {
                        registered.computeIfAbsent(u, k -> new ArrayList<>()).add(f);
                      }
                    }
                    if (r.nextInt(4) == 0) {
                      Thread.yield(); // let another publisher queue ahead of this one
                    }
                    synchronized (queue) {
                      queue.addLast(f);
                    }
                  }
                } catch (Throwable e) {
                  failure.compareAndSet(null, e);
                } finally {
                  done.countDown();
                }
              },
              "publisher-" + p));
    }
    for (int s = 0; s < SENDERS; s++) {
      threads.add(
          new Thread(
              () -> {
                ThreadLocalRandom r = ThreadLocalRandom.current();
                try {
                  while (settled.get() < total && failure.get() == null) {
                    Object token = new Object();
                    List<Fragment> batch = new ArrayList<>();
                    synchronized (queue) {
                      for (Iterator<Fragment> it = queue.iterator();
                          it.hasNext() && batch.size() < 8; ) {
                        Fragment f = it.next();
                        if (order.tryTake(f, token)) {
                          it.remove();
                          batch.add(f);
                        }
                      }
                    }
                    for (Fragment f : batch) {
                      for (String u : f.users) {
                        Object other = inFlight.putIfAbsent(u, token);
                        assertTrue(other == null || other == token, u + " in two batches");
                        taken
                            .computeIfAbsent(
                                u, k -> Collections.synchronizedList(new ArrayList<>()))
                            .add(f);
                      }
                    }
                    if (r.nextBoolean()) {
                      Thread.yield(); // in flight for a while
                    }
                    for (Fragment f : batch) {
                      for (String u : f.users) {
                        inFlight.remove(u, token);
                      }
                      order.release(f, null);
                      settled.incrementAndGet();
                    }
                  }
                } catch (Throwable e) {
                  failure.compareAndSet(null, e);
                } finally {
                  done.countDown();
                }
              },
              "sender-" + s));
    }
    threads.forEach(Thread::start);
    assertTrue(done.await(2, TimeUnit.MINUTES), "stress run finished (no deadlock)");
    assertNull(failure.get(), () -> failure.get().toString());

    assertEquals(total, settled.get());
    assertEquals(0, order.size(), "no recipient left with unsettled messages");
    for (String u : USERS) {
      List<Fragment> want = registered.getOrDefault(u, List.of());
      List<Fragment> got = taken.getOrDefault(u, List.of());
      assertEquals(want.size(), got.size(), u);
      for (int i = 0; i < want.size(); i++) {
        assertTrue(want.get(i) == got.get(i), u + ": message " + i + " taken out of order");
      }
    }
  }
}
