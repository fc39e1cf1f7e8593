package dev.halley.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * halley-bom has no parent (so importing it brings only Halley's artifacts), so its version is
 * written twice: this keeps it equal to the parent's and the artifact list complete.
 */
class BomTest {
  private static Document read(String file) throws Exception {
    return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(Path.of(file).toFile());
  }

  private static String child(Element e, String name) {
    NodeList list = e.getElementsByTagName(name);
    return list.item(0).getTextContent().strip();
  }

  @Test
  void bomVersionAndArtifactsMatchTheBuild() throws Exception {
    Element parent = read("../pom.xml").getDocumentElement();
    Element bom = read("../bom/pom.xml").getDocumentElement();
    String version = child(parent, "version");
    assertEquals(version, child(bom, "version"));
    List<String> managed = new ArrayList<>();
    NodeList deps = bom.getElementsByTagName("dependency");
    for (int i = 0; i < deps.getLength(); i++) {
      Element d = (Element) deps.item(i);
      assertEquals("dev.halley", child(d, "groupId"));
      assertEquals("${project.version}", child(d, "version"));
      managed.add(child(d, "artifactId"));
    }
    // the library artifacts users depend on; tests, benchmarks and examples are not in the BOM
    List<String> expected = new ArrayList<>();
    for (String module : List.of("cluster", "router-lib", "node")) {
      expected.add(ownArtifactId(read("../" + module + "/pom.xml").getDocumentElement()));
    }
    assertEquals(expected, managed);
  }

  private static String ownArtifactId(Element project) {
    for (org.w3c.dom.Node n = project.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element e && e.getTagName().equals("artifactId")) {
        return e.getTextContent().strip();
      }
    }
    throw new AssertionError("no artifactId");
  }
}
