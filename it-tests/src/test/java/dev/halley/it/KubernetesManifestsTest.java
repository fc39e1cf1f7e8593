package dev.halley.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.halley.cluster.ClusterMap;
import dev.halley.cluster.NodeInfo;
import dev.halley.node.config.NodeConfig;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HTTPGetAction;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.networking.v1.IngressBackend;
import io.fabric8.kubernetes.api.model.networking.v1.IngressRule;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/kubernetes/ as a user would {@code kubectl apply} it: every document is read into the
 * Kubernetes model (fabric8), any field the schema does not know is an error (the model keeps
 * unknown fields in {@code additionalProperties}, which must stay empty everywhere), and the fields
 * that matter are checked against each other and against the node itself: the node configuration
 * the pod would start with is loaded by {@link NodeConfig#load}, the map by {@link
 * ClusterMap#parse}.
 */
class KubernetesManifestsTest {
  private static final Path DEPLOY = Path.of(System.getProperty("halley.deployDir", "../deploy"));
  private static final Map<String, String> API_VERSIONS =
      Map.of(
          "ConfigMap", "v1",
          "Secret", "v1",
          "Service", "v1",
          "StatefulSet", "apps/v1",
          "PodDisruptionBudget", "policy/v1",
          "Ingress", "networking.k8s.io/v1");
  private static final Map<String, Class<? extends HasMetadata>> KINDS =
      Map.of(
          "ConfigMap", ConfigMap.class,
          "Secret", Secret.class,
          "Service", Service.class,
          "StatefulSet", StatefulSet.class,
          "PodDisruptionBudget", PodDisruptionBudget.class,
          "Ingress", Ingress.class);

  private static List<HasMetadata> resources;

  @BeforeAll
  static void load() throws IOException {
    resources = new ArrayList<>();
    YAMLMapper yaml = new YAMLMapper();
    yaml.enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);
    List<Path> files;
    try (Stream<Path> s = Files.list(DEPLOY.resolve("kubernetes"))) {
      files = s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
    }
    assertFalse(files.isEmpty(), "no manifests in " + DEPLOY.resolve("kubernetes"));
    for (Path file : files) {
      try (MappingIterator<JsonNode> docs =
          yaml.readerFor(JsonNode.class).readValues(file.toFile())) {
        while (docs.hasNext()) {
          JsonNode doc = docs.next();
          if (doc == null || doc.isNull() || doc.isEmpty()) {
            continue;
          }
          String kind = doc.path("kind").asText();
          String where = file.getFileName() + " " + kind + " " + doc.path("metadata").path("name");
          Class<? extends HasMetadata> type = KINDS.get(kind);
          assertNotNull(type, where + ": a kind this test does not know; add it to KINDS");
          assertEquals(API_VERSIONS.get(kind), doc.path("apiVersion").asText(), where);
          HasMetadata r = yaml.treeToValue(doc, type);
          List<String> unknown = new ArrayList<>();
          unknownFields(r, kind, unknown, new IdentityHashMap<>());
          assertEquals(List.of(), unknown, where + ": fields the Kubernetes schema does not have");
          assertNotNull(r.getMetadata().getName(), where + ": metadata.name");
          resources.add(r);
        }
      }
    }
  }

  /** Walks the model's getters; a non-empty additionalProperties is a field the schema lacks. */
  private static void unknownFields(
      Object o, String path, List<String> out, IdentityHashMap<Object, Boolean> seen) {
    if (o == null || seen.put(o, Boolean.TRUE) != null) {
      return;
    }
    if (o instanceof Collection<?> c) {
      int i = 0;
      for (Object e : c) {
        unknownFields(e, path + "[" + i++ + "]", out, seen);
      }
      return;
    }
    if (o instanceof Map<?, ?> m) {
      for (Map.Entry<?, ?> e : m.entrySet()) {
        unknownFields(e.getValue(), path + "." + e.getKey(), out, seen);
      }
      return;
    }
    if (!o.getClass().getName().startsWith("io.fabric8.") || o instanceof Quantity) {
      return;
    }
    for (Method m : o.getClass().getMethods()) {
      if (m.getParameterCount() != 0
          || Modifier.isStatic(m.getModifiers())
          || m.getDeclaringClass() == Object.class
          || !(m.getName().startsWith("get") || m.getName().startsWith("is"))) {
        continue;
      }
      Object v;
      try {
        v = m.invoke(o);
      } catch (ReflectiveOperationException | RuntimeException e) {
        continue;
      }
      if (m.getName().equals("getAdditionalProperties")) {
        if (v instanceof Map<?, ?> extra && !extra.isEmpty()) {
          out.add(
              path
                  + ": "
                  + new TreeSet<>(
                      ((Map<?, ?>) extra).keySet().stream().map(String::valueOf).toList()));
        }
        continue;
      }
      String name = m.getName().replaceFirst("^(get|is)", "");
      unknownFields(
          v, path + "." + Character.toLowerCase(name.charAt(0)) + name.substring(1), out, seen);
    }
  }

  private static <T extends HasMetadata> List<T> all(Class<T> type) {
    return resources.stream().filter(type::isInstance).map(type::cast).toList();
  }

  private static <T extends HasMetadata> T one(Class<T> type, String name) {
    return all(type).stream()
        .filter(r -> r.getMetadata().getName().equals(name))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " " + name));
  }

  private static StatefulSet statefulSet() {
    List<StatefulSet> sets = all(StatefulSet.class);
    assertEquals(1, sets.size(), "one StatefulSet");
    return sets.get(0);
  }

  private static Container node() {
    List<Container> cs = statefulSet().getSpec().getTemplate().getSpec().getContainers();
    assertEquals(1, cs.size(), "one container per pod");
    return cs.get(0);
  }

  private static int containerPort(String name) {
    return node().getPorts().stream()
        .filter(p -> name.equals(p.getName()))
        .mapToInt(ContainerPort::getContainerPort)
        .findFirst()
        .orElseThrow(() -> new AssertionError("no container port named " + name));
  }

  private static boolean selects(Map<String, String> selector, Map<String, String> labels) {
    return selector != null
        && !selector.isEmpty()
        && selector.entrySet().stream().allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
  }

  /** The environment the node container starts with: values, Secret keys and the pod name. */
  private static Map<String, String> podEnv(String podName) {
    Map<String, String> env = new LinkedHashMap<>();
    for (EnvVar e : node().getEnv()) {
      String value;
      if (e.getValueFrom() == null) {
        value = e.getValue();
      } else if (e.getValueFrom().getFieldRef() != null) {
        assertEquals("metadata.name", e.getValueFrom().getFieldRef().getFieldPath(), e.getName());
        value = podName;
      } else if (e.getValueFrom().getSecretKeyRef() != null) {
        Secret s = one(Secret.class, e.getValueFrom().getSecretKeyRef().getName());
        value = s.getStringData().get(e.getValueFrom().getSecretKeyRef().getKey());
        assertNotNull(
            value, e.getName() + ": key missing from Secret " + s.getMetadata().getName());
      } else {
        throw new AssertionError(e.getName() + ": unexpected valueFrom " + e.getValueFrom());
      }
      assertNull(env.put(e.getName(), value), "env set twice: " + e.getName());
    }
    return env;
  }

  private static String camel(String envName) {
    String[] parts = envName.substring("HALLEY_".length()).toLowerCase(Locale.ROOT).split("_");
    StringBuilder b = new StringBuilder(parts[0]);
    for (int i = 1; i < parts.length; i++) {
      b.append(Character.toUpperCase(parts[i].charAt(0))).append(parts[i].substring(1));
    }
    return b.toString();
  }

  private static ConfigMap configMapOfVolume(String volumeName) {
    Volume v =
        statefulSet().getSpec().getTemplate().getSpec().getVolumes().stream()
            .filter(x -> x.getName().equals(volumeName))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no volume " + volumeName));
    assertNotNull(v.getConfigMap(), volumeName + " is a ConfigMap volume");
    return one(ConfigMap.class, v.getConfigMap().getName());
  }

  /** Writes the mounted ConfigMap to {@code dir} and loads the node configuration of pod 0. */
  private static NodeConfig podConfig(Path dir, String podName) throws IOException {
    VolumeMount config =
        node().getVolumeMounts().stream()
            .filter(m -> m.getMountPath().equals("/etc/halley"))
            .findFirst()
            .orElseThrow(() -> new AssertionError("nothing mounted at /etc/halley"));
    for (Map.Entry<String, String> e : configMapOfVolume(config.getName()).getData().entrySet()) {
      Files.writeString(dir.resolve(e.getKey()), e.getValue());
    }
    List<String> args = node().getArgs();
    assertEquals(List.of("--config", "/etc/halley/node.yaml"), args);
    return NodeConfig.load(dir.resolve("node.yaml"), podEnv(podName));
  }

  @Test
  void everyDocumentIsAKnownKindWithoutUnknownFields() {
    Set<String> kinds = new TreeSet<>();
    resources.forEach(r -> kinds.add(r.getKind()));
    assertEquals(new TreeSet<>(KINDS.keySet()), kinds, "the kinds deploy/kubernetes ships");
  }

  @Test
  void statefulSetPodsAreTheNodesOfTheMapAndEachHasItsOwnPublicUrl(@TempDir Path dir)
      throws IOException {
    StatefulSet set = statefulSet();
    Service headless = one(Service.class, set.getSpec().getServiceName());
    assertEquals(
        "None", headless.getSpec().getClusterIP(), "the StatefulSet's Service is headless");
    Map<String, String> podLabels = set.getSpec().getTemplate().getMetadata().getLabels();
    assertTrue(selects(set.getSpec().getSelector().getMatchLabels(), podLabels), "selector");
    assertTrue(selects(headless.getSpec().getSelector(), podLabels), "headless selector");

    ClusterMap map = podConfig(dir, set.getMetadata().getName() + "-0").map();
    int replicas = set.getSpec().getReplicas();
    assertEquals(replicas, map.nodes().size(), "one map entry per replica");
    Map<String, String> hostToService = new HashMap<>();
    for (Ingress ing : all(Ingress.class)) {
      Set<String> tlsHosts = new TreeSet<>();
      ing.getSpec().getTls().forEach(t -> tlsHosts.addAll(t.getHosts()));
      for (IngressRule rule : ing.getSpec().getRules()) {
        assertTrue(tlsHosts.contains(rule.getHost()), "TLS covers " + rule.getHost());
        assertEquals(1, rule.getHttp().getPaths().size(), rule.getHost());
        IngressBackend b = rule.getHttp().getPaths().get(0).getBackend();
        Service svc = one(Service.class, b.getService().getName());
        ServicePort port =
            svc.getSpec().getPorts().stream()
                .filter(p -> p.getName().equals(b.getService().getPort().getName()))
                .findFirst()
                .orElseThrow(() -> new AssertionError(rule.getHost() + ": no such service port"));
        assertEquals("public", port.getTargetPort().getStrVal(), rule.getHost());
        hostToService.put(rule.getHost(), svc.getMetadata().getName());
      }
      assertEquals(
          "off",
          ing.getMetadata().getAnnotations().get("nginx.ingress.kubernetes.io/proxy-buffering"));
      long readTimeout =
          Long.parseLong(
              ing.getMetadata()
                  .getAnnotations()
                  .get("nginx.ingress.kubernetes.io/proxy-read-timeout"));
      assertTrue(
          readTimeout * 1000 > 2 * podConfig(dir, "halley-0").heartbeatMs(),
          "read timeout above the heartbeat");
    }
    for (int i = 0; i < replicas; i++) {
      String pod = set.getMetadata().getName() + "-" + i;
      NodeInfo n = map.node(pod).orElseThrow(() -> new AssertionError("map lacks node " + pod));
      assertEquals(
          URI.create(
              "http://"
                  + pod
                  + "."
                  + headless.getMetadata().getName()
                  + ":"
                  + containerPort("internal")),
          n.internalUrl(),
          pod + " internalUrl: its DNS name under the headless Service");
      assertEquals("https", n.publicUrl().getScheme(), pod);
      String svcName = hostToService.get(n.publicUrl().getHost());
      assertNotNull(svcName, pod + ": no Ingress rule for its publicUrl " + n.publicUrl());
      Service perPod = one(Service.class, svcName);
      assertEquals(
          Map.of("statefulset.kubernetes.io/pod-name", pod),
          perPod.getSpec().getSelector(),
          pod + ": its publicUrl reaches exactly that pod");
      NodeConfig c = podConfig(dir, pod);
      assertEquals(pod, c.nodeId(), "node ID = pod name");
    }
  }

  @Test
  void theNodeStartsWithTheConfigurationThePodMounts(@TempDir Path dir) throws IOException {
    Map<String, String> env = podEnv("halley-0");
    for (String name : env.keySet()) {
      if (!name.startsWith("HALLEY_")) {
        continue;
      }
      String field = camel(name);
      assertTrue(
          NodeConfig.optionNames().contains(field),
          name + " is not a node option (docs/configuration.md)");
    }
    NodeConfig c = podConfig(dir, "halley-0");
    assertEquals(containerPort("public"), c.publicPort());
    assertEquals(containerPort("internal"), c.internalPort());
    assertEquals("0.0.0.0", c.publicHost());
    assertEquals("0.0.0.0", c.internalHost(), "app pods reach the internal listener");
    assertEquals(dir.resolve("cluster.json"), c.mapFile(), "the map is a file of the mounted dir");
    assertTrue(
        env.get("JAVA_TOOL_OPTIONS").contains("-XX:MaxRAMPercentage="), "heap sized by the limit");
  }

  @Test
  void probesPortsAndGracePeriodLetSigtermDrain(@TempDir Path dir) throws IOException {
    Container c = node();
    HTTPGetAction ready = c.getReadinessProbe().getHttpGet();
    HTTPGetAction live = c.getLivenessProbe().getHttpGet();
    assertEquals("/readyz", ready.getPath());
    assertEquals("internal", ready.getPort().getStrVal());
    assertEquals("/healthz", live.getPath());
    assertEquals("internal", live.getPort().getStrVal());
    assertNull(c.getLifecycle(), "no preStop hook: SIGTERM itself drains");
    long drainMs = podConfig(dir, "halley-0").operations().drainPeriodMs();
    long grace = statefulSet().getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds();
    // After SIGTERM the node spreads reconnects over drainPeriodMs and then waits up to 10 s for
    // connections to close (docs/operations.md); the kubelet must not kill it before that.
    assertTrue(
        grace * 1000 > drainMs + 10_000, "grace " + grace + " s vs drain " + drainMs + " ms");
    PodDisruptionBudget pdb = all(PodDisruptionBudget.class).get(0);
    assertTrue(
        selects(
            pdb.getSpec().getSelector().getMatchLabels(),
            statefulSet().getSpec().getTemplate().getMetadata().getLabels()),
        "the PDB covers the nodes");
    assertEquals(1, pdb.getSpec().getMaxUnavailable().getIntVal());
  }

  @Test
  void podRunsNonRootReadOnlyWithTheImagesUserAndBoundedResources() throws IOException {
    PodSpec pod = statefulSet().getSpec().getTemplate().getSpec();
    Container c = node();
    assertEquals(Boolean.TRUE, pod.getSecurityContext().getRunAsNonRoot());
    Matcher user =
        Pattern.compile("(?m)^USER (\\d+):(\\d+)$")
            .matcher(Files.readString(DEPLOY.resolve("container/Dockerfile")));
    assertTrue(user.find(), "the Dockerfile names a numeric USER");
    assertEquals(Long.parseLong(user.group(1)), pod.getSecurityContext().getRunAsUser());
    assertEquals(Boolean.FALSE, c.getSecurityContext().getAllowPrivilegeEscalation());
    assertEquals(Boolean.TRUE, c.getSecurityContext().getReadOnlyRootFilesystem());
    assertEquals(List.of("ALL"), c.getSecurityContext().getCapabilities().getDrop());
    VolumeMount tmp =
        c.getVolumeMounts().stream()
            .filter(m -> m.getMountPath().equals("/tmp"))
            .findFirst()
            .orElseThrow(() -> new AssertionError("read-only root: /tmp must be a volume"));
    assertNotNull(
        pod.getVolumes().stream()
            .filter(v -> v.getName().equals(tmp.getName()))
            .findFirst()
            .orElseThrow()
            .getEmptyDir());
    for (VolumeMount m : c.getVolumeMounts()) {
      assertNull(m.getSubPath(), m.getMountPath() + ": subPath mounts never see ConfigMap updates");
    }
    Map<String, Quantity> req = c.getResources().getRequests();
    Map<String, Quantity> lim = c.getResources().getLimits();
    assertEquals(req.get("memory"), lim.get("memory"), "memory request = limit");
    assertNotNull(req.get("cpu"));
    assertNotNull(lim.get("cpu"));
    assertTrue(
        Quantity.getAmountInBytes(lim.get("memory")).longValue() >= 512L << 20, "memory limit");
  }

  @Test
  void unknownFieldsAreCaught() {
    // The check above is only worth something if a typo trips it.
    YAMLMapper yaml = new YAMLMapper();
    List<String> unknown = new ArrayList<>();
    try {
      StatefulSet s =
          yaml.readValue(
              "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec:\n  template:\n"
                  + "    spec:\n      containers:\n        - name: n\n          readinessProbee: {}\n",
              StatefulSet.class);
      unknownFields(s, "StatefulSet", unknown, new IdentityHashMap<>());
    } catch (IOException e) {
      fail(e);
    }
    assertEquals(1, unknown.size(), unknown.toString());
    assertTrue(unknown.get(0).contains("readinessProbee"), unknown.toString());
  }
}
