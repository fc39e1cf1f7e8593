package dev.halley.node.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.LongNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.halley.cluster.ClusterMap;
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reads a configuration document: Jackson binds it onto the builders of {@link NodeConfig} and
 * {@link OperationsConfig} (options are their {@link Option} fields, flat in the document), after
 * one environment overlay ({@code HALLEY_*}); {@link #check} is the per-option part of the one
 * validation pass. Every error names the option and the bad value.
 */
final class ConfigBinder {
  /** File-only options that are not fields: read and turned into {@code tokenPublicKeyPem}. */
  static final String TOKEN_PUBLIC_KEY_FILE = "tokenPublicKeyFile";

  private static final ObjectMapper MAPPER = mapper();

  private static final Map<String, Field> NODE_OPTIONS = options(NodeConfig.class);
  private static final Map<String, Field> OPERATIONS_OPTIONS = options(OperationsConfig.class);

  private ConfigBinder() {}

  private static ObjectMapper mapper() {
    ObjectMapper m =
        YAMLMapper.builder()
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();
    // A file's "5" is not a number, nor "true" a boolean (the environment overlay types its
    // strings itself).
    for (LogicalType t : List.of(LogicalType.Integer, LogicalType.Float, LogicalType.Boolean)) {
      m.coercionConfigFor(t).setCoercion(CoercionInputShape.String, CoercionAction.Fail);
    }
    return m;
  }

  static Map<String, Field> options(Class<?> type) {
    Map<String, Field> out = new LinkedHashMap<>();
    for (Field f : type.getDeclaredFields()) {
      if (f.isAnnotationPresent(Option.class)) {
        f.setAccessible(true);
        out.put(f.getName(), f);
      }
    }
    return out;
  }

  /** Every option a configuration file accepts, in declaration order. */
  static List<String> names() {
    List<String> names = new ArrayList<>(NODE_OPTIONS.keySet());
    names.add(names.indexOf("tokenPublicKeyPem") + 1, TOKEN_PUBLIC_KEY_FILE);
    names.addAll(OPERATIONS_OPTIONS.keySet());
    return List.copyOf(names);
  }

  /** The declaration of an option (its field), or null. */
  static Field field(String name) {
    Field f = NODE_OPTIONS.get(name);
    return f != null ? f : OPERATIONS_OPTIONS.get(name);
  }

  /** {@code HALLEY_} plus the option's name in upper snake case. */
  static String envName(String option) {
    return "HALLEY_" + option.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toUpperCase(Locale.ROOT);
  }

  static NodeConfig read(ObjectNode root, Map<String, String> env, Path dir) {
    List<String> names = names();
    for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      if (!names.contains(name)) {
        throw new IllegalArgumentException(
            name + " is not a configuration option (see docs/configuration.md)");
      }
    }
    overlay(root, env, names);
    ClusterMap map = null;
    if (root.has("map")) {
      JsonNode n = root.remove("map");
      if (!n.isObject()) {
        throw new IllegalArgumentException("map must be an object (the cluster map document)");
      }
      try {
        map = ClusterMap.parse(n.toString());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("map: " + e.getMessage(), e);
      }
    }
    if (root.has(TOKEN_PUBLIC_KEY_FILE)) {
      JsonNode n = root.remove(TOKEN_PUBLIC_KEY_FILE);
      Path p = dir.resolve(text(TOKEN_PUBLIC_KEY_FILE, n));
      try {
        root.put("tokenPublicKeyPem", Files.readString(p));
      } catch (IOException e) {
        throw new IllegalArgumentException(
            TOKEN_PUBLIC_KEY_FILE + ": cannot read " + p + ": " + NodeConfig.ioReason(e), e);
      }
    }
    // Loaded by the builder itself, outside Jackson (which would report only the cause's message).
    Path mapFile =
        root.has("mapFile") ? dir.resolve(text("mapFile", root.remove("mapFile"))) : null;
    ObjectNode ops = JsonNodeFactory.instance.objectNode();
    for (String name : OPERATIONS_OPTIONS.keySet()) {
      if (root.has(name)) {
        ops.set(name, root.remove(name));
      }
    }
    for (Map.Entry<String, Field> e : NODE_OPTIONS.entrySet()) {
      if (e.getValue().getType() == Path.class && root.has(e.getKey())) {
        root.put(e.getKey(), dir.resolve(text(e.getKey(), root.get(e.getKey()))).toString());
      }
    }
    NodeConfig.Builder b = bind(root, NodeConfig.class).toBuilder();
    if (map != null) {
      b.map(map);
    }
    if (mapFile != null) {
      b.mapFile(mapFile);
    }
    return b.operations(bind(ops, OperationsConfig.class).toBuilder().build()).build();
  }

  /** Replaces options by their {@code HALLEY_*} variables, typed by their declaration. */
  private static void overlay(ObjectNode root, Map<String, String> env, List<String> names) {
    for (String name : names) {
      String v = env.get(envName(name));
      if (v == null || name.equals("map")) {
        continue;
      }
      Field f = field(name);
      Class<?> type = f == null ? String.class : f.getType();
      root.set(name, typed(name, type, v));
    }
  }

  private static JsonNode typed(String name, Class<?> type, String v) {
    String s = v.trim();
    try {
      if (type == int.class || type == long.class) {
        return LongNode.valueOf(Long.parseLong(s));
      }
      if (type == double.class) {
        return DoubleNode.valueOf(Double.parseDouble(s));
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          name
              + " must be "
              + (type == double.class ? "a number" : "an integer")
              + ": \""
              + v
              + "\"");
    }
    if (type == boolean.class) {
      if (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false")) {
        return BooleanNode.valueOf(Boolean.parseBoolean(s));
      }
      throw new IllegalArgumentException(name + " must be true or false: \"" + v + "\"");
    }
    if (type == List.class) {
      ArrayNode list = JsonNodeFactory.instance.arrayNode();
      for (String part : v.split(",")) {
        if (!part.isBlank()) {
          list.add(part.trim());
        }
      }
      return list;
    }
    return TextNode.valueOf(v);
  }

  private static String text(String name, JsonNode n) {
    if (!n.isTextual() && !n.isNumber()) {
      throw new IllegalArgumentException(name + " must be a string: " + n);
    }
    return n.asText();
  }

  /** Binds {@code tree} with Jackson; a bad value's error names its option and the value. */
  private static <T> T bind(ObjectNode tree, Class<T> type) {
    try {
      return MAPPER.treeToValue(tree, type);
    } catch (JsonMappingException e) {
      for (Throwable c = e; c != null; c = c.getCause()) {
        if (c instanceof IllegalArgumentException iae) {
          throw iae;
        }
      }
      List<JsonMappingException.Reference> path = e.getPath();
      if (path.isEmpty() || path.get(0).getFieldName() == null) {
        throw new IllegalArgumentException("configuration: " + e.getOriginalMessage(), e);
      }
      String name = path.get(0).getFieldName();
      JsonNode value = tree.get(name);
      String where = name;
      if (path.size() > 1 && path.get(1).getIndex() >= 0 && value != null) {
        where = name + "[" + path.get(1).getIndex() + "]";
        value = value.get(path.get(1).getIndex());
      }
      Field f = field(name);
      String kind = f == null ? "valid" : kind(f.getType(), path.size() > 1);
      throw new IllegalArgumentException(where + " must be " + kind + ": " + value, e);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("configuration: " + e.getOriginalMessage(), e);
    }
  }

  private static String kind(Class<?> type, boolean element) {
    if (element || type == String.class || type == Path.class) {
      return "a string";
    }
    if (type == int.class) {
      return "an integer <= " + Integer.MAX_VALUE;
    }
    if (type == long.class) {
      return "an integer";
    }
    if (type == double.class) {
      return "a number";
    }
    if (type == boolean.class) {
      return "true or false";
    }
    return type == List.class ? "a list of strings" : "valid";
  }

  /**
   * The per-option part of the validation pass: each {@link Option}'s range, with a message that
   * starts with the option's name and ends with the bad value.
   */
  static void check(Object config) {
    Map<String, Field> options = config instanceof NodeConfig ? NODE_OPTIONS : OPERATIONS_OPTIONS;
    for (Field f : options.values()) {
      Option o = f.getAnnotation(Option.class);
      Object value;
      try {
        value = f.get(config);
      } catch (IllegalAccessException e) {
        throw new IllegalStateException(e);
      }
      if (!(value instanceof Number n)) {
        continue;
      }
      String name = f.getName();
      if (o.positive() && !(n.doubleValue() > 0)) {
        throw new IllegalArgumentException(name + " must be > 0: " + n);
      }
      long v = n.longValue();
      if (o.max() != Long.MAX_VALUE && (v < o.min() || v > o.max())) {
        throw new IllegalArgumentException(
            name + " must be in " + o.min() + ".." + o.max() + ": " + n);
      }
      if (v < o.min()) {
        throw new IllegalArgumentException(name + " must be >= " + o.min() + ": " + n);
      }
    }
  }
}
