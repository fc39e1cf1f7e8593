package dev.halley.node;

import java.util.Locale;

/**
 * Sets up the runnable node's logging before the first logger is made: Logback configured in code
 * ({@link LogbackConfigurator}: one line per event, text or JSON, asynchronous so that no IO thread
 * ever waits on a log write), JBoss Logging (Undertow, XNIO) and {@code java.util.logging} routed
 * to SLF4J. A program that embeds the node and brings its own SLF4J backend need not call it; one
 * that brings Logback and does not call it gets Logback's own configuration search, untouched.
 *
 * <pre>{@code
 * HalleyLogging.configure(HalleyLogging.Format.JSON, HalleyLogging.Level.INFO);  // first thing in main
 * ...
 * HalleyLogging.flush();                                                          // last thing at exit
 * }</pre>
 *
 * <p>{@code -Dlogback.configurationFile=...} given on the command line wins over the configuration
 * in code. That one is built by hand rather than read from a bundled XML file: Logback's XML reader
 * (Joran and its model classes, about 280 of the 519 Logback classes a start loaded) was the
 * largest part of Logback's share of startup (docs/operations.md, "JVM flags and startup").
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

  private HalleyLogging() {}

  /** Call before anything logs; later calls change nothing already configured. */
  public static void configure(Format format, Level level) {
    System.setProperty("halley.log.format", format.name().toLowerCase(Locale.ROOT));
    System.setProperty("halley.log.level", level.name());
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

  /**
   * The node's Logback configuration, for Logback's {@code ServiceLoader} (listed in {@code
   * META-INF/services}); not for direct use. It configures only a process that called {@link
   * #configure} and named no {@code logback.configurationFile}; otherwise Logback goes on to its
   * own search ({@code logback-test.xml}, {@code logback.xml}, its default).
   *
   * <ul>
   *   <li>Appender {@code out}: standard error, one line per event. Text: {@link #TEXT_PATTERN} (a
   *       message's or stack trace's line breaks become {@code " | "}). JSON: Logback's
   *       JsonEncoder, one object a line, without sequence number, nanoseconds, context, arguments
   *       or the unformatted message.
   *   <li>Appender {@code async} in front of it, for every logger: a queue of {@link #QUEUE}
   *       events, nothing discarded by level, and never blocking the caller (a full queue drops the
   *       event); at most 2 s to flush at stop.
   *   <li>Root level {@code halley.log.level} (default INFO); {@code io.undertow}, {@code
   *       org.xnio}, {@code org.jboss} at WARN; JUL levels follow (LevelChangePropagator), so JUL
   *       records below them are filtered at the source.
   * </ul>
   */
  public static final class LogbackConfigurator extends ch.qos.logback.core.spi.ContextAwareBase
      implements ch.qos.logback.classic.spi.Configurator {
    /** The text format's pattern. */
    public static final String TEXT_PATTERN =
        "%d{yyyy-MM-dd'T'HH:mm:ss.SSS'Z',UTC} %-5level [%thread] %logger{36} -"
            + " %replace(%replace(%msg%n%ex{full}){'[\\r\\n]+\\s*', ' | '}){' \\| $', ''}%nopex%n";

    /** The asynchronous appender's queue, in events. */
    public static final int QUEUE = 8192;

    /** Logback's {@code ServiceLoader} makes it. */
    public LogbackConfigurator() {}

    @Override
    public ExecutionStatus configure(ch.qos.logback.classic.LoggerContext context) {
      String format = System.getProperty("halley.log.format");
      if (format == null || System.getProperty("logback.configurationFile") != null) {
        return ExecutionStatus.INVOKE_NEXT_IF_ANY;
      }
      apply(context, format, System.getProperty("halley.log.level", "INFO"), null);
      return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }

    /**
     * Configures {@code context}: format {@code text} or {@code json}, the root {@code level}, and
     * the console's stream ({@code err}; null: the process's standard error).
     */
    public static void apply(
        ch.qos.logback.classic.LoggerContext context,
        String format,
        String level,
        java.io.OutputStream err) {
      ch.qos.logback.classic.jul.LevelChangePropagator jul =
          new ch.qos.logback.classic.jul.LevelChangePropagator();
      jul.setContext(context);
      jul.setResetJUL(true);
      context.addListener(jul);
      jul.start();

      ch.qos.logback.core.encoder.Encoder<ch.qos.logback.classic.spi.ILoggingEvent> encoder;
      if (format.equalsIgnoreCase("json")) {
        ch.qos.logback.classic.encoder.JsonEncoder json =
            new ch.qos.logback.classic.encoder.JsonEncoder();
        json.setWithSequenceNumber(false);
        json.setWithNanoseconds(false);
        json.setWithContext(false);
        json.setWithArguments(false);
        json.setWithMessage(false);
        json.setWithFormattedMessage(true);
        encoder = json;
      } else {
        ch.qos.logback.classic.encoder.PatternLayoutEncoder text =
            new ch.qos.logback.classic.encoder.PatternLayoutEncoder();
        text.setPattern(TEXT_PATTERN);
        encoder = text;
      }
      encoder.setContext(context);
      encoder.start();

      ch.qos.logback.core.ConsoleAppender<ch.qos.logback.classic.spi.ILoggingEvent> out =
          new ch.qos.logback.core.ConsoleAppender<>();
      out.setContext(context);
      out.setName("out");
      out.setTarget("System.err");
      out.setEncoder(encoder);
      out.start();
      if (err != null) {
        out.setOutputStream(err);
      }

      ch.qos.logback.classic.AsyncAppender async = new ch.qos.logback.classic.AsyncAppender();
      async.setContext(context);
      async.setName("async");
      async.setQueueSize(QUEUE);
      async.setDiscardingThreshold(0);
      async.setNeverBlock(true);
      async.setMaxFlushTime(2000);
      async.addAppender(out);
      async.start();

      for (String quiet : new String[] {"io.undertow", "org.xnio", "org.jboss"}) {
        context.getLogger(quiet).setLevel(ch.qos.logback.classic.Level.WARN);
      }
      ch.qos.logback.classic.Logger root =
          context.getLogger(ch.qos.logback.classic.Logger.ROOT_LOGGER_NAME);
      root.setLevel(ch.qos.logback.classic.Level.toLevel(level, ch.qos.logback.classic.Level.INFO));
      root.addAppender(async);
    }
  }
}
