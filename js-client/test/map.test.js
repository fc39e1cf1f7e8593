import { test } from "node:test";
import assert from "node:assert/strict";
import { parseMap } from "../src/map.js";

const node = (extra = {}) => ({
  id: "a",
  publicUrl: "http://127.0.0.1:8081",
  ...extra,
});

test("parses the public view, keeps document order, defaults weight to 1", () => {
  const map = parseMap(
    '{"version": 3, "nodes": [{"id": "b", "publicUrl": "https://b.example.com/halley/", "weight": 2},' +
      ' {"id": "a", "publicUrl": "http://127.0.0.1:8081"}]}',
  );
  assert.deepEqual(map, {
    version: 3,
    nodes: [
      { id: "b", publicUrl: "https://b.example.com/halley/", weight: 2 },
      { id: "a", publicUrl: "http://127.0.0.1:8081", weight: 1 },
    ],
  });
  assert.ok(
    Object.isFrozen(map) &&
      Object.isFrozen(map.nodes) &&
      Object.isFrozen(map.nodes[0]),
  );
});

test("accepts an object as well as a string, drops internalUrl, ignores unknown fields", () => {
  const map = parseMap({
    version: 0,
    future: true,
    nodes: [node({ internalUrl: "http://10.0.0.1:9090", zone: "eu" })],
  });
  assert.deepEqual(map, {
    version: 0,
    nodes: [{ id: "a", publicUrl: "http://127.0.0.1:8081", weight: 1 }],
  });
});

const bad = [
  ["not JSON", '{"version": 1,', "not valid JSON"],
  ["not an object", "[1, 2]", "must be a JSON object"],
  ["null", "null", "must be a JSON object"],
  ["missing version", { nodes: [node()] }, "version is missing"],
  [
    "fractional version",
    { version: 1.5, nodes: [node()] },
    "version must be an integer in 0..2147483647: 1.5",
  ],
  [
    "string version",
    { version: "1", nodes: [node()] },
    'version must be an integer in 0..2147483647: "1"',
  ],
  ["negative version", { version: -1, nodes: [node()] }, "-1"],
  ["huge version", { version: 2147483648, nodes: [node()] }, "2147483648"],
  ["missing nodes", { version: 1 }, "nodes is missing"],
  ["nodes not an array", { version: 1, nodes: {} }, "nodes must be an array"],
  ["empty nodes", { version: 1, nodes: [] }, "nodes must not be empty"],
  [
    "node not an object",
    { version: 1, nodes: ["a"] },
    'nodes[0] must be an object: "a"',
  ],
  [
    "missing id",
    { version: 1, nodes: [{ publicUrl: "http://h" }] },
    "nodes[0].id is missing",
  ],
  [
    "numeric id",
    { version: 1, nodes: [node({ id: 1 })] },
    "nodes[0].id must be a string: 1",
  ],
  ["bad id", { version: 1, nodes: [node({ id: "a/b" })] }, '"a/b"'],
  [
    "long id",
    { version: 1, nodes: [node({ id: "x".repeat(65) })] },
    "1 to 64 characters",
  ],
  [
    "duplicate ids",
    { version: 1, nodes: [node(), node()] },
    'duplicate node id "a" (nodes[1])',
  ],
  [
    "missing url",
    { version: 1, nodes: [{ id: "a" }] },
    "nodes[0].publicUrl is missing",
  ],
  [
    "relative url",
    { version: 1, nodes: [node({ publicUrl: "/x" })] },
    "absolute http or https URL",
  ],
  [
    "ws url",
    { version: 1, nodes: [node({ publicUrl: "ws://h" })] },
    "absolute http or https URL",
  ],
  [
    "url with query",
    { version: 1, nodes: [node({ publicUrl: "http://h/?a=1" })] },
    "query or fragment",
  ],
  [
    "url with user info",
    { version: 1, nodes: [node({ publicUrl: "http://u:p@h/" })] },
    "user info",
  ],
  [
    "zero weight",
    { version: 1, nodes: [node({ weight: 0 })] },
    "nodes[0].weight must be an integer in 1..100: 0",
  ],
  ["large weight", { version: 1, nodes: [node({ weight: 101 })] }, "101"],
  ["fractional weight", { version: 1, nodes: [node({ weight: 1.5 })] }, "1.5"],
  ["string weight", { version: 1, nodes: [node({ weight: "2" })] }, '"2"'],
];

for (const [name, input, expected] of bad) {
  test(`rejects ${name}, naming the bad value`, () => {
    assert.throws(
      () => parseMap(input),
      (e) => e instanceof TypeError && e.message.includes(expected),
      `expected a TypeError containing ${expected}`,
    );
  });
}

test("rejects a total weight over 10000, as Java does", () => {
  const nodes = Array.from({ length: 101 }, (_, i) =>
    node({ id: `n${i}`, weight: 100 }),
  );
  assert.throws(() => parseMap({ version: 1, nodes }), {
    message: /the nodes' weights must add up to at most 10000: 10100/,
  });
  assert.equal(
    parseMap({ version: 1, nodes: nodes.slice(1) }).nodes.length,
    100,
  );
});

test("rejects more than 10000 nodes", () => {
  const nodes = Array.from({ length: 10001 }, (_, i) => node({ id: `n${i}` }));
  assert.throws(() => parseMap({ version: 1, nodes }), /at most 10000/);
});

test("accepts every map of the golden vectors", async () => {
  const { readFileSync } = await import("node:fs");
  const vectors = JSON.parse(
    readFileSync(
      new URL("../../docs/hashing-vectors.json", import.meta.url),
      "utf8",
    ),
  );
  for (const m of vectors.maps)
    assert.equal(parseMap(m.map).nodes.length, m.map.nodes.length);
});

test("agrees with Java on every shared map vector (docs/cluster-map-vectors.json)", async () => {
  const { readFileSync } = await import("node:fs");
  const vectors = JSON.parse(
    readFileSync(
      new URL("../../docs/cluster-map-vectors.json", import.meta.url),
      "utf8",
    ),
  );
  assert.ok(vectors.invalid.length > 10 && vectors.valid.length > 3);
  for (const v of vectors.invalid) {
    assert.throws(
      () => parseMap(v.text),
      (e) => e instanceof TypeError && e.message.includes(v.error),
      `${v.name}: expected a TypeError containing ${v.error}`,
    );
  }
  for (const v of vectors.valid) {
    const map = parseMap(v.text);
    assert.equal(map.version, v.version, v.name);
    assert.deepEqual(
      map.nodes.map((n) => n.weight),
      v.weights,
      v.name,
    );
  }
});

test("names a fraction or an exponent as written", () => {
  assert.throws(
    () =>
      parseMap(
        '{"version": 1e1, "nodes": [{"id": "a", "publicUrl": "http://h"}]}',
      ),
    /version must be an integer in 0\.\.2147483647: 1e1$/,
  );
  assert.throws(
    () =>
      parseMap(
        '{"version": 1, "nodes": [{"id": "a", "publicUrl": "http://h", "weight": 2.0}]}',
      ),
    /weight must be an integer in 1\.\.100: 2\.0$/,
  );
});
