// The owner function against the golden vectors (shared with Java), a naive reference
// implementation written from docs/hashing.md, and the properties the doc promises.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  fmix32,
  murmur3_32,
  owner,
  ownerTable,
  replicaKey,
  score,
  userHash,
  USER_SEED,
} from "../src/hash.js";
import { parseMap } from "../src/map.js";

const vectors = JSON.parse(
  readFileSync(
    new URL("../../docs/hashing-vectors.json", import.meta.url),
    "utf8",
  ),
);

const hex = (bytes) => Buffer.from(bytes).toString("hex");

test("murmur3_32 matches the published values in the vectors", () => {
  assert.equal(USER_SEED, vectors.userSeed);
  assert.ok(vectors.murmur3_32.length >= 10);
  for (const v of vectors.murmur3_32) {
    assert.equal(
      murmur3_32(Buffer.from(v.hex, "hex"), v.seed),
      v.hash,
      JSON.stringify(v),
    );
  }
});

test("fmix32 matches the vectors", () => {
  for (const v of vectors.fmix32) assert.equal(fmix32(v.in), v.out);
});

test("user hashes are murmur3 of the UTF-8 bytes", () => {
  assert.ok(vectors.userHashes.length > 60);
  for (const v of vectors.userHashes) {
    assert.equal(hex(new TextEncoder().encode(v.userId)), v.utf8Hex);
    assert.equal(userHash(v.userId), v.hash, JSON.stringify(v.userId));
  }
});

test("replica keys and scores match the vectors", () => {
  for (const v of vectors.replicaKeys)
    assert.equal(replicaKey(v.nodeId, v.replica), v.key);
  for (const v of vectors.scores) {
    assert.equal(
      score(userHash(v.userId), replicaKey(v.nodeId, v.replica)),
      v.score,
    );
  }
});

test("every vector map gives the expected owners", () => {
  assert.equal(vectors.maps.length, 7);
  let checked = 0;
  for (const m of vectors.maps) {
    const map = parseMap(m.map);
    for (const [userId, expected] of Object.entries(m.owners)) {
      assert.equal(
        owner(userId, map).id,
        expected,
        `${m.name}: ${JSON.stringify(userId)}`,
      );
      checked++;
    }
  }
  assert.ok(checked > 400);
});

// --- a deliberately naive implementation, straight from docs/hashing.md, with BigInt ---
const M32 = (1n << 32n) - 1n;
const mul = (a, b) => (a * b) & M32;
const rotl = (x, r) => ((x << BigInt(r)) | (x >> BigInt(32 - r))) & M32;
function refFmix(h) {
  h ^= h >> 16n;
  h = mul(h, 0x85ebca6bn);
  h ^= h >> 13n;
  h = mul(h, 0xc2b2ae35n);
  h ^= h >> 16n;
  return h;
}
function refMurmur(bytes, seed) {
  let h = BigInt(seed);
  const n = bytes.length;
  const full = n - (n % 4);
  const mix = (k) => mul(rotl(mul(k, 0xcc9e2d51n), 15), 0x1b873593n);
  for (let i = 0; i < full; i += 4) {
    const k =
      BigInt(bytes[i]) |
      (BigInt(bytes[i + 1]) << 8n) |
      (BigInt(bytes[i + 2]) << 16n) |
      (BigInt(bytes[i + 3]) << 24n);
    h ^= mix(k);
    h = (mul(rotl(h, 13), 5n) + 0xe6546b64n) & M32;
  }
  let k = 0n;
  for (let j = n - 1; j >= full; j--) k = (k << 8n) | BigInt(bytes[j]);
  if (n > full) h ^= mix(k);
  h ^= BigInt(n);
  return refFmix(h);
}
function refOwner(userId, map) {
  const h = refMurmur(new TextEncoder().encode(userId), 0x48414c4c);
  let best = null;
  for (const node of map.nodes) {
    for (let r = 0; r < node.weight; r++) {
      const s = refFmix(h ^ refMurmur(new TextEncoder().encode(node.id), r));
      if (
        best === null ||
        s > best.s ||
        (s === best.s && node.id < best.node.id)
      )
        best = { s, node };
    }
  }
  return best.node;
}

function randomString(random) {
  const pieces = [
    "a",
    "Z",
    "0",
    "-",
    "é",
    "ß",
    "日",
    "本",
    "😀",
    "𝔘",
    " ",
    "\u0000",
    "\u200d",
  ];
  let s = "";
  const n = Math.floor(random() * 12);
  for (let i = 0; i < n; i++) s += pieces[Math.floor(random() * pieces.length)];
  return s;
}

function rng(seed) {
  // mulberry32: deterministic test data
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("the fast owner equals a naive BigInt implementation of the spec", () => {
  const random = rng(7);
  for (const m of vectors.maps.slice(0, 5)) {
    const map = parseMap(m.map);
    for (let i = 0; i < 300; i++) {
      const userId = randomString(random);
      assert.equal(
        owner(userId, map).id,
        refOwner(userId, map).id,
        JSON.stringify(userId),
      );
      const bytes = new TextEncoder().encode(userId);
      assert.equal(userHash(userId), Number(refMurmur(bytes, 0x48414c4c)));
    }
  }
});

test("unpaired surrogates and non-strings have no owner", () => {
  const map = parseMap(vectors.maps[1].map);
  for (const bad of [
    "\ud800",
    "a\udc00",
    "\ud83d",
    "x\ude00y",
    "\ude00\ud83d",
  ]) {
    assert.throws(() => owner(bad, map), TypeError, JSON.stringify(bad));
  }
  assert.throws(() => owner(42, map), TypeError);
  assert.throws(() => owner(undefined, map), TypeError);
  assert.equal(
    owner("\ud83d\ude00", map),
    owner(String.fromCodePoint(0x1f600), map),
  );
});

test("owner returns the node object of the parsed map", () => {
  const map = parseMap(vectors.maps[2].map);
  assert.ok(map.nodes.includes(owner("alice", map)));
  assert.equal(
    ownerTable(map),
    ownerTable(map),
    "the table is computed once per map",
  );
  assert.equal(ownerTable(map).keys.length, 6);
});

// --- properties (fewer IDs than the Java suite) ---
function nodes(n, weight = () => 1) {
  return Array.from({ length: n }, (_, i) => ({
    id: `node-${i}`,
    publicUrl: `http://127.0.0.1:${8081 + i}`,
    weight: weight(i),
  }));
}
const ids = (count, prefix) =>
  Array.from({ length: count }, (_, i) => `${prefix}-${i * 7919}`);

test("balance: 200,000 IDs over 3 and 10 equal nodes, max/mean <= 1.05", () => {
  for (const n of [3, 10]) {
    const map = parseMap({ version: 1, nodes: nodes(n) });
    const load = new Map();
    for (const id of ids(200000, `b${n}`)) {
      const o = owner(id, map).id;
      load.set(o, (load.get(o) ?? 0) + 1);
    }
    assert.equal(load.size, n);
    const ratio = Math.max(...load.values()) / (200000 / n);
    assert.ok(ratio <= 1.05, `${n} nodes: max/mean ${ratio}`);
  }
});

test("weights: each node's share within 5% of weight/total", () => {
  const weights = [1, 2, 3, 5, 8];
  const map = parseMap({ version: 1, nodes: nodes(5, (i) => weights[i]) });
  const total = weights.reduce((a, b) => a + b);
  const load = new Map();
  const count = 200000;
  for (const id of ids(count, "w")) {
    const o = owner(id, map).id;
    load.set(o, (load.get(o) ?? 0) + 1);
  }
  weights.forEach((w, i) => {
    const expected = (count * w) / total;
    const error = Math.abs(load.get(`node-${i}`) - expected) / expected;
    assert.ok(error <= 0.05, `node-${i} weight ${w}: relative error ${error}`);
  });
});

test("adding a node moves at most its share, all to it; removing one moves only its users", () => {
  const before = parseMap({ version: 1, nodes: nodes(10) });
  const after = parseMap({
    version: 2,
    nodes: [
      ...nodes(10),
      { id: "added", publicUrl: "http://127.0.0.1:9000", weight: 1 },
    ],
  });
  const without = parseMap({
    version: 3,
    nodes: nodes(10).filter((n) => n.id !== "node-4"),
  });
  let moved = 0;
  const count = 50000;
  for (const id of ids(count, "m")) {
    const was = owner(id, before).id;
    const now = owner(id, after).id;
    if (was !== now) {
      assert.equal(now, "added", id);
      moved++;
    }
    if (was !== "node-4") assert.equal(owner(id, without).id, was, id);
  }
  assert.ok(moved > 0 && moved / count <= 1 / 11 + 0.01, `moved ${moved}`);
});

test("owners do not depend on node order or the version", () => {
  const a = parseMap({ version: 1, nodes: nodes(20, (i) => 1 + (i % 3)) });
  const b = parseMap({
    version: 99,
    nodes: nodes(20, (i) => 1 + (i % 3)).reverse(),
  });
  for (const id of ids(5000, "o"))
    assert.equal(owner(id, a).id, owner(id, b).id);
});

test("the UTF-8 encoder agrees with TextEncoder at every length boundary", () => {
  const points = [
    0, 0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000,
    0x1f600, 0x10ffff,
  ];
  for (const a of points) {
    for (const b of points) {
      const s = String.fromCodePoint(a) + "x" + String.fromCodePoint(b);
      assert.equal(
        userHash(s),
        murmur3_32(new TextEncoder().encode(s), USER_SEED),
        s,
      );
    }
  }
  const long = "é😀日".repeat(500);
  assert.equal(
    userHash(long),
    murmur3_32(new TextEncoder().encode(long), USER_SEED),
  );
});

test("IDs longer than the shared encoding buffer hash like short ones", () => {
  const huge = "日本".repeat(20000); // 120,000 UTF-8 bytes
  assert.equal(
    userHash(huge),
    murmur3_32(new TextEncoder().encode(huge), USER_SEED),
  );
  assert.equal(
    userHash("alice"),
    vectors.userHashes.find((v) => v.userId === "alice").hash,
  );
});

test("owner validates a map that parseMap did not return, and never caches it", () => {
  const doc = {
    version: 1,
    nodes: [
      { id: "a", publicUrl: "http://127.0.0.1:7101" },
      { id: "b", publicUrl: "http://127.0.0.1:7102" },
    ],
  };
  // a plain document works, with the same owners as its parsed copy
  const parsed = parseMap(doc);
  for (const user of ["alice", "bob", "carol", "dave"]) {
    assert.equal(owner(user, doc).id, owner(user, parsed).id);
  }
  // weight 0 used to drop a node silently, a string weight gave undefined owners
  assert.throws(
    () => owner("alice", { ...doc, nodes: [{ ...doc.nodes[0], weight: 0 }] }),
    /weight must be an integer in 1\.\.100: 0/,
  );
  assert.throws(
    () => owner("alice", { ...doc, nodes: [{ ...doc.nodes[0], weight: "2" }] }),
    /weight must be an integer/,
  );
  // a mutated document gives the owners of what it holds now, not of what it held before
  const users = Array.from({ length: 50 }, (_, i) => `user-${i}`);
  assert.ok(users.some((u) => owner(u, doc).id === "a"));
  doc.nodes.splice(0, 1);
  for (const u of users) assert.equal(owner(u, doc).id, "b");
});
