package dev.halley.node;

import java.util.Locale;

/**
 * Sets up the runnable node's logging before the first logger is made: Logback with {@code
 * halley-logback.xml} (one line per event, text or JSON, asynchronous so that no IO thread ever
 * waits on a log write), JBoss Logging (Undertow, XNIO) and {@code java.util.logging} routed to
 * SLF4J. A program that embeds the node and brings its own SLF4J backend need not call it.
 *
 * <pre>{@code
 * HalleyLogging.configure(HalleyLogging.Format.JSON, HalleyLogging.Level.INFO);  // first thing in main
 * ...
 * HalleyLogging.flush();                                                          // last thing at exit
 * }</pre>
 *
 * <p>{@code -Dlogback.configurationFile=...} given on the command line wins over the bundled file.
 */
public final class HalleyLogging {
  /** The line format: {@code text} ({@code event=... key=value}) or {@code json}. */
  public enum Format {
    TEXT,
    JSON
  }

  /** The root log level. */
  public enum Level {
    TRACE,
    DEBUG,
    INFO,
    WARN,
    ERROR
  }

  /** The Logback configuration bundled with the node (node/src/main/resources). */
  public static final String CONFIGURATION = "halley-logback.xml";

  private HalleyLogging() {}

  /** Call before anything logs; later calls change nothing already configured. */
  public static void configure(Format format, Level level) {
    System.setProperty("halley.log.format", format.name().toLowerCase(Locale.ROOT));
    System.setProperty("halley.log.level", level.name());
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", CONFIGURATION);
    }
    if (System.getProperty("org.jboss.logging.provider") == null) {
      System.setProperty("org.jboss.logging.provider", "slf4j");
    }
    if (present("org.slf4j.bridge.SLF4JBridgeHandler")) {
      JulBridge.install();
    }
  }

  /**
   * Writes what the asynchronous appender still holds and stops Logback (at most about 2 s); call
   * it last, in the shutdown hook, so the final lines (drain, stop) are not lost.
   */
  public static void flush() {
    if (present("ch.qos.logback.classic.LoggerContext")) {
      LogbackContext.stop();
    }
  }

  private static boolean present(String className) {
    try {
      Class.forName(className, false, HalleyLogging.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  /** Loaded only when jul-to-slf4j is on the classpath. */
  private static final class JulBridge {
    static void install() {
      org.slf4j.bridge.SLF4JBridgeHandler.removeHandlersForRootLogger();
      org.slf4j.bridge.SLF4JBridgeHandler.install();
    }
  }

  /** Loaded only when Logback is on the classpath. */
  private static final class LogbackContext {
    static void stop() {
      if (org.slf4j.LoggerFactory.getILoggerFactory()
          instanceof ch.qos.logback.classic.LoggerContext context) {
        context.stop();
      }
    }
  }
}
