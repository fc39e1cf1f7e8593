package dev.halley.node.admission;

import dev.halley.node.metrics.NodeMetrics;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The node's lifecycle as seen by load balancers and new connections: ready once the cluster map is
 * loaded, not ready again from the moment draining starts.
 *
 * <pre>{@code
 * Readiness readiness = new Readiness();
 * readiness.mapLoaded();       // GET /readyz -> 200
 * readiness.startDraining();   // GET /readyz -> 503 draining; new connections -> 503 draining
 * }</pre>
 *
 * <p>Thread-safe; both transitions are one-way.
 */
public final class Readiness {
  private final AtomicBoolean mapLoaded = new AtomicBoolean();
  private final AtomicBoolean draining = new AtomicBoolean();

  /** The cluster map is loaded. */
  public void mapLoaded() {
    mapLoaded.set(true);
  }

  /** Draining started; returns false if it had already started. */
  public boolean startDraining() {
    return draining.compareAndSet(false, true);
  }

  public boolean isDraining() {
    return draining.get();
  }

  public boolean isMapLoaded() {
    return mapLoaded.get();
  }

  /** Ready: the map is loaded and the node is not draining. */
  public boolean isReady() {
    return mapLoaded.get() && !draining.get();
  }

  /** Why the node is not ready: {@code draining}, {@code not_ready}, or null when ready. */
  public String notReadyReason() {
    if (draining.get()) {
      return NodeMetrics.REJECT_DRAINING;
    }
    return mapLoaded.get() ? null : NodeMetrics.REJECT_NOT_READY;
  }

  @Override
  public String toString() {
    return "Readiness{mapLoaded=" + mapLoaded.get() + ", draining=" + draining.get() + "}";
  }
}
