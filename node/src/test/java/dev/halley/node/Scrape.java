package dev.halley.node;

import dev.halley.testing.RawHttp;
import java.io.IOException;
import java.util.Map;

/** Reads the internal listener's operations endpoints (no API key) and Prometheus samples. */
public final class Scrape {
  private Scrape() {}

  public static RawHttp.Response get(int internalPort, String path) {
    try {
      return RawHttp.request(internalPort, "GET", path, Map.of());
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** The value of the sample {@code series} (name plus tags exactly as exposed), or fails. */
  public static double sample(String text, String series) {
    for (String line : text.split("\n")) {
      if (line.startsWith(series + " ")) {
        return Double.parseDouble(line.substring(series.length() + 1).trim().split(" ")[0]);
      }
    }
    throw new AssertionError("no sample " + series + " in:\n" + text);
  }
}
