package dev.halley.node.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.halley.node.TestNodes;
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * docs/configuration.md and docs/operations.md cannot drift from the code: every option the
 * configuration reader accepts has a row in one of their option tables and every row names an
 * option it accepts, and each numeric, boolean or literal default in a row is the default the code
 * uses.
 */
class ConfigurationDocTest {
  private static final List<Path> DOCS =
      List.of(Path.of("../docs/configuration.md"), Path.of("../docs/operations.md"));

  /** Options the defaults config must set (the required ones). */
  private static final java.util.Set<String> SET_ABOVE =
      java.util.Set.of("nodeId", "map", "apiKeys", "tokenHmacSecret");

  /** A row of an option table: its option name, documented default and where it stands. */
  record Row(String option, String unit, String defaultValue, String where) {}

  static Map<String, Row> documentedOptions() throws IOException {
    Map<String, Row> rows = new LinkedHashMap<>();
    for (Path doc : DOCS) {
      List<String> lines = Files.readAllLines(doc);
      boolean inTable = false;
      for (int i = 0; i < lines.size(); i++) {
        String line = lines.get(i).trim();
        if (line.startsWith("| option | unit | default |")) {
          inTable = true;
          continue;
        }
        if (!line.startsWith("|")) {
          inTable = false;
          continue;
        }
        if (!inTable || line.startsWith("|---")) {
          continue;
        }
        String[] cells = line.split("\\|");
        String option = cells[1].trim().replace("`", "");
        String def = cells[3].trim();
        Row row = new Row(option, cells[2].trim(), def, doc.getFileName() + ":" + (i + 1));
        Row before = rows.putIfAbsent(option, row);
        if (before != null) {
          assertEquals(
              before.defaultValue(),
              def,
              option + " has two defaults: " + before.where() + " and " + row.where());
        }
      }
    }
    return rows;
  }

  @Test
  void everyOptionIsDocumentedAndEveryDocumentedOptionExists() throws IOException {
    TreeSet<String> declared = new TreeSet<>(ConfigBinder.names());
    assertEquals(declared, new TreeSet<>(documentedOptions().keySet()));
  }

  @Test
  void documentedDefaultsAreTheCodesDefaults() throws Exception {
    NodeConfig defaults =
        NodeConfig.builder()
            .nodeId("a")
            .map(TestNodes.MAP)
            .apiKeys(List.of(TestNodes.API_KEY))
            .tokenHmacSecret(TestNodes.SECRET)
            .build();
    List<String> checked = new ArrayList<>();
    for (Row row : documentedOptions().values()) {
      String doc = row.defaultValue().replace("`", "");
      if (SET_ABOVE.contains(row.option())) {
        continue;
      }
      Object actual = valueOf(defaults, row.option());
      if (doc.equals("—") || doc.equals("none")) {
        assertTrue(
            actual == null || (actual instanceof Collection<?> c && c.isEmpty()),
            row.where() + ": " + row.option() + " defaults to " + actual + ", documented " + doc);
        checked.add(row.option());
      } else if (doc.matches("-?[0-9]+(\\.[0-9]+)?")) {
        assertTrue(actual instanceof Number, row.option() + " is not a number: " + actual);
        assertEquals(
            Double.parseDouble(doc),
            ((Number) actual).doubleValue(),
            row.where() + ": documented default of " + row.option());
        checked.add(row.option());
      } else if (doc.equals("true") || doc.equals("false")) {
        assertEquals(Boolean.valueOf(doc), actual, row.where() + ": " + row.option());
        checked.add(row.option());
      } else if (row.defaultValue().startsWith("`")) {
        assertEquals(doc, String.valueOf(actual), row.where() + ": " + row.option());
        checked.add(row.option());
      }
      // Otherwise a word ("required", "processors") the reader checks by other tests.
    }
    assertTrue(checked.size() > 30, "checked only " + checked);
  }

  @Test
  void documentedUnitsAreTheDeclaredUnits() throws IOException {
    for (Row row : documentedOptions().values()) {
      Field f = ConfigBinder.field(row.option());
      String declared = f == null ? "path" : f.getAnnotation(Option.class).unit();
      assertEquals(declared, row.unit(), row.where() + ": unit of " + row.option());
    }
  }

  /**
   * The value of {@code option} in {@code config}: its declaration, a field of NodeConfig or
   * OperationsConfig (the same field the reader binds and the builder sets).
   */
  private static Object valueOf(NodeConfig config, String option) throws Exception {
    Field f = ConfigBinder.field(option);
    if (f == null) {
      assertEquals(ConfigBinder.TOKEN_PUBLIC_KEY_FILE, option, "no declaration of " + option);
      return null; // file-only form of tokenPublicKeyPem
    }
    return f.get(f.getDeclaringClass() == NodeConfig.class ? config : config.operations());
  }
}
