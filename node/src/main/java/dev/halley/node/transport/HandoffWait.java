package dev.halley.node.transport;

import dev.halley.node.cluster.NodeContext;
import dev.halley.node.stream.Handoff;
import dev.halley.node.wire.IoTimers;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.xnio.XnioIoThread;

/**
 * Holds a connect that resumes with an ID of another node (issue 14's handoff resume) while the
 * user's stream here waits for relays of the old owner's last events: each {@link Attempt} either
 * opens the stream (and the transport goes on) or reports that it waits; it is tried again on the
 * connection's IO thread at the next relay, and a last time at {@code handoffWaitMs}, when a wait
 * becomes {@code reset} ({@code gap}). WebSocket and SSE are held before {@code hello}, long-poll
 * before it answers. No thread waits: a relay or the IO thread's timer resumes the attempt. The
 * wait is the handoff's, not the connect's: a client that gave up and connects again with the same
 * handoff waits only what is left of the first connect's {@code handoffWaitMs} (the stream keeps
 * when it ends), so it gets its answer even if it never waits {@code handoffWaitMs} itself. While
 * held, the transport watches its socket: a client that leaves is closed (and uncounted) at once.
 *
 * <pre>{@code
 * HandoffWait.run(node, req, io, (resume, onRelay) -> open(..., resume, onRelay) != null);
 * }</pre>
 *
 * <p>Threading: attempts run on {@code io}; a relay's wake-up (on a publish thread, under the
 * stream's lock) only hands the attempt to {@code io}. Each round's wake-up and timer race on one
 * flag, so an attempt runs once per round.
 */
public final class HandoffWait {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(HandoffWait.class);

  /** One try to open the stream; false when it waits for relays ({@code onRelay} registered). */
  public interface Attempt {
    boolean tryOpen(Handoff.Resume resume, Runnable onRelay);
  }

  private final NodeContext node;
  private final ConnectRequest req;
  private final XnioIoThread io;
  private final Attempt attempt;
  // When the wait ends; lowered by the stream to an earlier connect's with the same handoff.
  private long deadlineNanos;
  // Decided at the first round: a handoff reaching a node that still only gains the user.
  private final boolean oldOwnerActivatedFirst;
  // Issue 14: the carried state was stale or could not be applied (the resume resets).
  private boolean carryRefused;

  private HandoffWait(NodeContext node, ConnectRequest req, XnioIoThread io, Attempt attempt) {
    this.node = node;
    this.req = req;
    this.io = io;
    this.attempt = attempt;
    this.oldOwnerActivatedFirst = req.handoff() != null && node.gains(req.principal().user());
    this.deadlineNanos =
        System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(node.config.operations().handoffWaitMs());
  }

  /** Opens now, or (a handoff resume waiting for relays) later on {@code io}. */
  public static void run(NodeContext node, ConnectRequest req, XnioIoThread io, Attempt attempt) {
    boolean carryRefused = req.carryStale();
    if (req.carried() != null) {
      // Before the stream opens: the carried subscriptions take this connect's messages too.
      carryRefused |= !node.applyCarried(req.carried());
    }
    if (req.resume() == null || req.resume().epoch().equals(node.codec.epoch())) {
      attempt.tryOpen(null, null);
      return;
    }
    HandoffWait w = new HandoffWait(node, req, io, attempt);
    w.carryRefused = carryRefused;
    w.round(false);
  }

  private void round(boolean expired) {
    Handoff.Resume r =
        new Handoff.Resume(
            req.resume().epoch(),
            req.resume().seq(),
            req.handoff(),
            expired,
            node.config.operations().handoffWaitMs(),
            oldOwnerActivatedFirst,
            System.nanoTime(),
            deadlineNanos,
            node.ops::publishersStillDual);
    r.carryRefused = carryRefused;
    AtomicBoolean taken = new AtomicBoolean();
    Runnable wake =
        () -> {
          if (taken.compareAndSet(false, true)) {
            execute(() -> round(false));
          }
        };
    if (attempt.tryOpen(r, expired ? null : wake)) {
      if (r.decision != null) {
        node.ops.handoff(r.decision, expired || r.waitOver);
        log.debug(
            "event=handoff node={} user={} outcome={} rule={} expired={} handoff={}",
            node.nodeId,
            req.principal().user(),
            r.decision.outcome(),
            r.decision.rule(),
            expired || r.waitOver,
            req.handoff());
      }
      return;
    }
    deadlineNanos = r.waitUntilNanos;
    long left = Math.max(0, deadlineNanos - System.nanoTime());
    // While the node stops no timer is armed: the connection goes with it.
    IoTimers.after(
        io,
        left,
        TimeUnit.NANOSECONDS,
        () -> {
          if (taken.compareAndSet(false, true)) {
            round(true);
          }
        });
  }

  private void execute(Runnable r) {
    IoTimers.execute(io, r); // false while the node stops: the connection goes with it
  }
}
