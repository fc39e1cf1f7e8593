// The owner function: which node of a cluster map owns a user ID.
// Specified byte for byte in docs/hashing.md; identical to Java's dev.halley.cluster.Owner, and
// both are checked against docs/hashing-vectors.json.
//
//   import { parseMap } from "./map.js";
//   import { owner } from "./hash.js";
//   const node = owner("alice", parseMap(await (await fetch("/v1/map")).json()));
//
// All arithmetic is on 32-bit words: Math.imul for products, `| 0` / `>>> 0` to wrap, and scores
// compared as unsigned numbers (exact in doubles).

import { isParsedMap, parseMap } from "./map.js";

/** MurmurHash3 seed of user IDs: the ASCII bytes "HALL" read big-endian. */
export const USER_SEED = 0x48414c4c;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3's 32-bit finalizer; returns an unsigned 32-bit number. */
export function fmix32(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 of bytes[0..length) with a 32-bit seed; returns an unsigned number. */
export function murmur3_32(bytes, seed, length = bytes.length) {
  let h = seed | 0;
  const blocks = length & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    let k =
      bytes[i] |
      (bytes[i + 1] << 8) |
      (bytes[i + 2] << 16) |
      (bytes[i + 3] << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = length & 3;
  if (tail !== 0) {
    let k = 0;
    if (tail === 3) k ^= bytes[i + 2] << 16;
    if (tail >= 2) k ^= bytes[i + 1] << 8;
    k ^= bytes[i];
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  return fmix32(h);
}

const encoder = new TextEncoder();
const MAX_SHARED = 65536; // bytes; longer IDs get a buffer of their own
let buffer = new Uint8Array(256);
let encoded = buffer; // the array encode() wrote to

/**
 * UTF-8 encodes `s` into a shared buffer, `encoded` (one pass, no allocation for IDs up to 21,845
 * UTF-16 units); returns the byte length.
 * Throws TypeError on an unpaired surrogate: such a string is not Unicode text and has no owner.
 */
function encode(s) {
  if (typeof s !== "string") {
    throw new TypeError(`user id must be a string: ${typeof s}`);
  }
  const n = s.length;
  if (buffer.length < n * 3 && n * 3 <= MAX_SHARED)
    buffer = new Uint8Array(MAX_SHARED);
  const b = buffer.length >= n * 3 ? buffer : new Uint8Array(n * 3);
  encoded = b;
  let j = 0;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      b[j++] = c;
    } else if (c < 0x800) {
      b[j++] = 0xc0 | (c >> 6);
      b[j++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      b[j++] = 0xe0 | (c >> 12);
      b[j++] = 0x80 | ((c >> 6) & 0x3f);
      b[j++] = 0x80 | (c & 0x3f);
    } else {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) {
        throw new TypeError(
          `user id has an unpaired surrogate at index ${i} (not valid Unicode)`,
        );
      }
      c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      i++;
      b[j++] = 0xf0 | (c >> 18);
      b[j++] = 0x80 | ((c >> 12) & 0x3f);
      b[j++] = 0x80 | ((c >> 6) & 0x3f);
      b[j++] = 0x80 | (c & 0x3f);
    }
  }
  return j;
}

/** MurmurHash3 x86_32 of the UTF-8 bytes of `userId`, seed USER_SEED (unsigned). */
export function userHash(userId) {
  const length = encode(userId);
  return murmur3_32(encoded, USER_SEED, length);
}

/** MurmurHash3 x86_32 of the UTF-8 bytes of `nodeId`, seed `replica` (unsigned). */
export function replicaKey(nodeId, replica) {
  return murmur3_32(encoder.encode(nodeId), replica);
}

/** The score of one replica for one user (unsigned). */
export function score(userHashValue, key) {
  return fmix32(userHashValue ^ key);
}

function compareIds(a, b) {
  // Node IDs are ASCII ([A-Za-z0-9_.-]), so UTF-16 order is the spec's UTF-8 byte order.
  return a < b ? -1 : a > b ? 1 : 0;
}

const tables = new WeakMap();

/**
 * The precomputed replica table of a map: `{keys, nodes}` where `keys[i]` is the i-th replica key
 * in (node ID, replica) order and `nodes[i]` its node. Cached only for maps that parseMap returned
 * (frozen, so the table cannot go stale); any other value is validated with parseMap first, every
 * time, and its table is not kept.
 */
export function ownerTable(map) {
  let table = tables.get(map);
  if (table) return table;
  if (!isParsedMap(map)) return buildTable(parseMap(map));
  table = buildTable(map);
  tables.set(map, table);
  return table;
}

function buildTable(map) {
  const sorted = [...map.nodes].sort((a, b) => compareIds(a.id, b.id));
  let total = 0;
  for (const node of sorted) total += node.weight ?? 1;
  const keys = new Int32Array(total);
  const nodes = new Array(total);
  let i = 0;
  for (const node of sorted) {
    const bytes = encoder.encode(node.id);
    for (let r = 0; r < (node.weight ?? 1); r++) {
      keys[i] = murmur3_32(bytes, r);
      nodes[i] = node;
      i++;
    }
  }
  return Object.freeze({ keys, nodes });
}

/**
 * The node of `map` that owns `userId`: the replica with the highest unsigned score
 * fmix32(userHash ^ key); on equal scores the smaller node ID wins. Pass what parseMap returned:
 * its replica table is computed once. Another value (a decoded document) is validated with
 * parseMap on every call, and the node returned is then parseMap's copy.
 * Throws TypeError if `userId` is not a string or has an unpaired surrogate, or if `map` is not a
 * valid map.
 */
export function owner(userId, map) {
  const { keys, nodes } = ownerTable(map);
  const h = userHash(userId);
  let best = 0;
  let bestScore = fmix32(h ^ keys[0]);
  for (let i = 1; i < keys.length; i++) {
    const s = fmix32(h ^ keys[i]);
    if (s > bestScore) {
      bestScore = s;
      best = i;
    }
  }
  return nodes[best];
}
