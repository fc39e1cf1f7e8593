package dev.halley.node;

import java.lang.management.ManagementFactory;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.ObjectName;

/** The JVM's class histogram of live objects (it runs a full GC first): what heap tests count. */
public final class HeapHistogram {
  private HeapHistogram() {}

  /** Live instances of {@code className}. */
  public static long instances(String className) throws Exception {
    Matcher m = row(className);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }

  /** Bytes of the live instances of {@code className} ({@code [B} for byte arrays). */
  public static long bytes(String className) throws Exception {
    Matcher m = row(className);
    return m.find() ? Long.parseLong(m.group(2)) : 0;
  }

  private static Matcher row(String className) throws Exception {
    String histogram =
        (String)
            ManagementFactory.getPlatformMBeanServer()
                .invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"),
                    "gcClassHistogram",
                    new Object[] {null},
                    new String[] {String[].class.getName()});
    return Pattern.compile(
            "^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+" + Pattern.quote(className) + "(\\s|$)",
            Pattern.MULTILINE)
        .matcher(histogram);
  }
}
