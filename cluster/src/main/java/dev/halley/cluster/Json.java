package dev.halley.cluster;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/** Reads and writes cluster map documents (docs/cluster-map.md). */
final class Json {
  private static final ObjectMapper MAPPER =
      JsonMapper.builder()
          .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .build();
  private static final JsonFactory FACTORY = MAPPER.getFactory();
  private static final Set<String> MAP_FIELDS = Set.of("version", "nodes");
  private static final Set<String> NODE_FIELDS = Set.of("id", "publicUrl", "internalUrl", "weight");

  private Json() {}

  static ClusterMap parseMap(String json) {
    JsonNode root;
    try {
      root = MAPPER.readTree(json);
    } catch (JsonProcessingException e) {
      throw new ClusterMapException("map is not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new ClusterMapException("map must be a JSON object");
    }
    checkFields(root, MAP_FIELDS, "");
    JsonNode version = root.get("version");
    if (version == null) {
      throw new ClusterMapException("version is missing");
    }
    if (!version.isInt() || version.intValue() < 0) {
      throw new ClusterMapException(
          "version must be an integer in 0..2147483647: " + version.toString());
    }
    JsonNode nodes = root.get("nodes");
    if (nodes == null) {
      throw new ClusterMapException("nodes is missing");
    }
    if (!nodes.isArray()) {
      throw new ClusterMapException("nodes must be an array: " + abbreviate(nodes));
    }
    if (nodes.size() > ClusterMap.MAX_NODES) {
      throw new ClusterMapException(
          "nodes must have at most " + ClusterMap.MAX_NODES + " entries: " + nodes.size());
    }
    List<NodeInfo> list = new ArrayList<>(nodes.size());
    for (int i = 0; i < nodes.size(); i++) {
      list.add(parseNode(nodes.get(i), "nodes[" + i + "]"));
    }
    return ClusterMap.of(version.intValue(), list);
  }

  private static NodeInfo parseNode(JsonNode node, String where) {
    if (!node.isObject()) {
      throw new ClusterMapException(where + " must be an object: " + abbreviate(node));
    }
    checkFields(node, NODE_FIELDS, where + ".");
    String id = text(node, "id", where);
    URI publicUrl = url(node, "publicUrl", where);
    URI internalUrl = url(node, "internalUrl", where);
    int weight = 1;
    JsonNode w = node.get("weight");
    if (w != null) {
      if (!w.isInt() || w.intValue() < 1 || w.intValue() > NodeInfo.MAX_WEIGHT) {
        throw new ClusterMapException(
            where + ".weight must be an integer in 1.." + NodeInfo.MAX_WEIGHT + ": " + w);
      }
      weight = w.intValue();
    }
    try {
      return new NodeInfo(id, publicUrl, internalUrl, weight);
    } catch (ClusterMapException e) {
      throw new ClusterMapException(where + ": " + e.getMessage(), e);
    }
  }

  private static void checkFields(JsonNode object, Set<String> allowed, String prefix) {
    for (Iterator<String> it = object.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      if (!allowed.contains(name)) {
        throw new ClusterMapException(
            "unknown field "
                + quote(prefix + name)
                + " (allowed: "
                + String.join(", ", sorted(allowed))
                + ")");
      }
    }
  }

  private static List<String> sorted(Set<String> set) {
    List<String> list = new ArrayList<>(set);
    list.sort(null);
    return list;
  }

  private static String text(JsonNode object, String field, String where) {
    JsonNode value = object.get(field);
    if (value == null) {
      throw new ClusterMapException(where + "." + field + " is missing");
    }
    if (!value.isTextual()) {
      throw new ClusterMapException(
          where + "." + field + " must be a string: " + abbreviate(value));
    }
    return value.textValue();
  }

  private static URI url(JsonNode object, String field, String where) {
    String text = text(object, field, where);
    URI uri;
    try {
      uri = new URI(text);
    } catch (URISyntaxException e) {
      throw new ClusterMapException(
          where + "." + field + " is not a valid URL (" + e.getReason() + "): " + quote(text), e);
    }
    String problem = NodeInfo.urlProblem(uri);
    if (problem != null) {
      throw new ClusterMapException(where + "." + field + " " + problem + ": " + quote(text));
    }
    return uri;
  }

  private static String abbreviate(JsonNode value) {
    String s = value.toString();
    return s.length() <= 80 ? s : s.substring(0, 77) + "...";
  }

  static String write(ClusterMap map, boolean full) {
    StringWriter out = new StringWriter();
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      g.writeStartObject();
      g.writeNumberField("version", map.version());
      g.writeArrayFieldStart("nodes");
      for (NodeInfo node : map.nodes()) {
        g.writeStartObject();
        g.writeStringField("id", node.id());
        g.writeStringField("publicUrl", node.publicUrl().toString());
        if (full) {
          g.writeStringField("internalUrl", node.internalUrl().toString());
        }
        g.writeNumberField("weight", node.weight());
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a StringWriter does not fail
    }
    return out.toString();
  }

  /** A string as a JSON literal, for error messages that must show exactly what was given. */
  static String quote(String s) {
    StringWriter out = new StringWriter();
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      g.writeString(s.length() <= 200 ? s : s.substring(0, 200) + "...");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toString();
  }
}
