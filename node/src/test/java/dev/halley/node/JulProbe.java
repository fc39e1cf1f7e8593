package dev.halley.node;

/**
 * A process for NodeCommandTest: sets up logging as the node's command line does, then logs one
 * multi-line record through java.util.logging, one through JBoss Logging (what Undertow and XNIO
 * use) and one with an exception through SLF4J, and flushes.
 */
public final class JulProbe {
  private JulProbe() {}

  public static void main(String[] args) {
    HalleyLogging.configure(HalleyLogging.Format.valueOf(args[0]), HalleyLogging.Level.INFO);
    java.util.logging.Logger.getLogger("probe.jul").warning("jul first line\njul second line");
    org.jboss.logging.Logger.getLogger("probe.jboss").warn("jboss first line\njboss second line");
    org.slf4j.LoggerFactory.getLogger("probe.slf4j")
        .error("event=probe_failed key=value", new IllegalStateException("boom\nsecond"));
    java.util.logging.Logger.getLogger("probe.jul").fine("below the level: not logged");
    HalleyLogging.flush();
  }
}
