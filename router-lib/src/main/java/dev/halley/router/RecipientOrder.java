package dev.halley.router;

import dev.halley.router.internal.DualRoute;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Keeps publish order per recipient. Every unsettled fragment has a {@link Link} in the list of
 * each of its recipients (a user, or a channel on one node), in the order the fragments were
 * registered. A fragment may be sent only when, for every recipient, each earlier fragment is
 * settled or travels in the same request: so two requests carrying the same recipient are never in
 * flight at once, a retry never overtakes a later message, and a re-routed fragment keeps its place
 * ({@link #handOver}). Settling a recipient ({@link #release}) unlinks it and reports the nodes
 * whose queues may now send.
 *
 * <p>One lock (this object) guards every list and {@link Fragment#batch}; registration of all
 * fragments of one message happens under it at once, so the lists of different recipients never
 * order two messages differently (which is what keeps this free of deadlock: the earliest unsettled
 * fragment can always go). Critical sections are short and never block.
 */
final class RecipientOrder {
  /** A fragment's place in one recipient's list. */
  static final class Link {
    Fragment fragment;
    private Link prev;
    private Link next;
    private final Recipient owner;

    private Link(Fragment fragment, Recipient owner) {
      this.fragment = fragment;
      this.owner = owner;
    }
  }

  private static final class Recipient {
    final String key;
    Link head;
    Link tail;

    Recipient(String key) {
      this.key = key;
    }
  }

  private final Map<String, Recipient> recipients = new HashMap<>();
  private int secondLists; // recipients that are lists of second sends (dual mode); usually 0
  private long registered; // the last Fragment#seq given out
  // The routing of the dual mode the publisher is entering or in (enterDual), null outside it: a
  // fragment registered without a route meanwhile (its publish read the map just before) reserves
  // its moving users' places in their lists of second sends too.
  private DualRoute dualRoute;

  /**
   * Appends the fragments (one message's, in order) to their recipients' lists. A user fragment
   * sent outside dual mode (no {@link Fragment#route}) also joins the user's list of second sends
   * ({@link Fragment#second}) when that list has unsettled entries, so that a message sent straight
   * to a user's new owner never overtakes a second send still on its way there. A dual-mode first
   * send (to the old owner) reserves, for each moving user, the place of its second send in that
   * list ({@link Fragment#seconds}), now, in publish order: the second send, decided only from the
   * old owner's answer, takes that place ({@link #takeSeconds}); with no second send the place is
   * given up when the user settles. The first send itself does not wait in that list: a user's next
   * first send need not wait for the previous message's second send.
   */
  synchronized void register(List<Fragment> fragments) {
    for (Fragment f : fragments) {
      f.seq = ++registered;
      for (int i = 0; i < f.links.length; i++) {
        f.links[i] = append(f, recipient(f.orderKey(i), f.second));
        if (f.users == null || f.second) {
          continue;
        }
        DualRoute route = f.route != null ? f.route : dualRoute;
        if (route != null && route.user(f.users.get(i)).moving()) {
          reserveSecond(f, i);
        } else if (f.route == null && secondLists > 0) {
          Recipient seconds = recipients.get(Fragment.secondKey(f.users.get(i)));
          if (seconds != null) {
            if (f.extra == null) {
              f.extra = new Link[f.links.length];
            }
            f.extra[i] = append(f, seconds);
          }
        }
      }
    }
  }

  private void reserveSecond(Fragment f, int i) {
    if (f.seconds == null) {
      f.seconds = new Link[f.links.length];
    }
    f.seconds[i] = append(f, recipient(Fragment.secondKey(f.users.get(i)), true));
  }

  /**
   * The publisher enters dual mode with {@code route}; call before any publish can read it. Each
   * unsettled user fragment registered without a route (sent, or queued, to the old owner before
   * the pending map was known) reserves, in registration order, the place of each moving user's
   * second send: the relay its answer's position asks for ({@link ClusterPublisher#lateSeconds})
   * then takes that place, ahead of the copies of later messages, instead of one at the back behind
   * them (which delivered a later message to the new owner first).
   */
  synchronized void enterDual(DualRoute route) {
    dualRoute = route;
    java.util.List<Fragment> unsettled = new java.util.ArrayList<>();
    Set<Fragment> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    for (Recipient r : recipients.values()) {
      for (Link l = r.head; l != null; l = l.next) {
        Fragment f = l.fragment;
        if (f.users != null && !f.second && f.route == null && seen.add(f)) {
          unsettled.add(f);
        }
      }
    }
    unsettled.sort(java.util.Comparator.comparingLong(f -> f.seq));
    for (Fragment f : unsettled) {
      for (int i = 0; i < f.links.length; i++) {
        boolean reserved = f.seconds != null && f.seconds[i] != null;
        if (f.links[i] != null && !reserved && route.user(f.users.get(i)).moving()) {
          reserveSecond(f, i);
        }
      }
    }
  }

  /** The publisher left dual mode {@code route} (or entered a newer one: no-op then). */
  synchronized void leaveDual(DualRoute route) {
    if (dualRoute == route) {
      dualRoute = null;
    }
  }

  private Recipient recipient(String key, boolean second) {
    Recipient r = recipients.get(key);
    if (r == null) {
      r = new Recipient(key);
      recipients.put(key, r);
      if (second) {
        secondLists++;
      }
    }
    return r;
  }

  /**
   * The second send {@code to} of {@code from}'s users at {@code indices} takes the places {@code
   * from} reserved for them in their lists of second sends, and {@code from}'s registration order;
   * false (nothing changed) when {@code from} reserved none for one of them (then {@code to} is
   * registered afresh, at the back).
   */
  synchronized boolean takeSeconds(Fragment from, int[] indices, Fragment to) {
    if (from.seconds == null) {
      return false;
    }
    for (int i : indices) {
      if (from.seconds[i] == null) {
        return false;
      }
    }
    for (int j = 0; j < indices.length; j++) {
      Link link = from.seconds[indices[j]];
      from.seconds[indices[j]] = null;
      link.fragment = to;
      to.links[j] = link;
    }
    to.batch = null;
    to.seq = from.seq;
    return true;
  }

  private static Link append(Fragment f, Recipient r) {
    Link link = new Link(f, r);
    link.prev = r.tail;
    if (r.tail != null) {
      r.tail.next = link;
    } else {
      r.head = link;
    }
    r.tail = link;
    return link;
  }

  /**
   * Takes {@code f} into {@code batch} if every earlier fragment of each of its recipients is
   * settled or already in {@code batch}; false leaves it queued.
   */
  synchronized boolean tryTake(Fragment f, Object batch) {
    for (Link link : f.links) {
      if (link.prev != null && link.prev.fragment.batch != batch) {
        return false;
      }
    }
    if (f.extra != null) {
      for (Link link : f.extra) {
        if (link != null && link.prev != null && link.prev.fragment.batch != batch) {
          return false;
        }
      }
    }
    f.batch = batch;
    return true;
  }

  /**
   * Moves the places of {@code from}'s users at {@code indices} to {@code to}: a retry of part of a
   * fragment ({@code sameBatch}: still in flight with it) or a re-route (queued afresh).
   */
  synchronized void handOver(Fragment from, int[] indices, Fragment to, boolean sameBatch) {
    for (int j = 0; j < indices.length; j++) {
      Link link = from.links[indices[j]];
      from.links[indices[j]] = null;
      link.fragment = to;
      to.links[j] = link;
      if (from.extra != null && from.extra[indices[j]] != null) {
        Link extra = from.extra[indices[j]];
        from.extra[indices[j]] = null;
        extra.fragment = to;
        if (to.extra == null) {
          to.extra = new Link[to.links.length];
        }
        to.extra[j] = extra;
      }
      if (from.seconds != null && from.seconds[indices[j]] != null) {
        Link reserved = from.seconds[indices[j]];
        from.seconds[indices[j]] = null;
        reserved.fragment = to;
        if (to.seconds == null) {
          to.seconds = new Link[to.links.length];
        }
        to.seconds[j] = reserved;
      }
    }
    to.batch = sameBatch ? from.batch : null;
    to.seq = from.seq;
  }

  /**
   * Settles {@code f} for the recipients at {@code indices} (all when null); returns the nodes
   * whose queues hold a fragment that may have become sendable.
   */
  synchronized Set<String> release(Fragment f, int[] indices) {
    Set<String> wake = null;
    int n = indices == null ? f.links.length : indices.length;
    for (int j = 0; j < n; j++) {
      int i = indices == null ? j : indices[j];
      Link link = f.links[i];
      if (f.extra != null && f.extra[i] != null) {
        wake = unlink(f.extra[i], wake);
        f.extra[i] = null;
      }
      if (f.seconds != null && f.seconds[i] != null) {
        wake = unlink(f.seconds[i], wake); // no second send took the place reserved for it
        f.seconds[i] = null;
      }
      if (link == null) {
        continue; // handed over or released already
      }
      f.links[i] = null;
      wake = unlink(link, wake);
    }
    return wake == null ? Set.of() : wake;
  }

  /** Removes {@code link} from its list; adds the node of a new head to {@code wake}. */
  private Set<String> unlink(Link link, Set<String> wake) {
    Recipient r = link.owner;
    if (link.prev != null) {
      link.prev.next = link.next;
    } else {
      r.head = link.next;
    }
    if (link.next != null) {
      link.next.prev = link.prev;
      if (link.prev == null) {
        if (wake == null) {
          wake = new HashSet<>();
        }
        wake.add(link.next.fragment.nodeId);
      }
    } else {
      r.tail = link.prev;
    }
    if (r.head == null) {
      recipients.remove(r.key);
      if (r.key.startsWith(Fragment.SECOND_PREFIX)) {
        secondLists--;
      }
    }
    return wake;
  }

  /** Recipients with unsettled fragments. */
  synchronized int size() {
    return recipients.size();
  }
}
