package dev.halley.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;

/** Parses the JSON the test clients receive. */
public final class TestJson {
  private static final ObjectMapper JSON = new ObjectMapper();

  private TestJson() {}

  public static JsonNode parse(String s) {
    try {
      return JSON.readTree(s);
    } catch (IOException e) {
      throw new IllegalArgumentException("not JSON: " + s, e);
    }
  }
}
