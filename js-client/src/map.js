// Parses and validates the public view of a cluster map, as served at GET /v1/map
// (docs/cluster-map.md):
//
//   {"version": 3, "nodes": [{"id": "a", "publicUrl": "https://a.example.com", "weight": 1}]}
//
//   const map = parseMap(await (await fetch(url + "/v1/map")).json());
//
// Rules match Java's ClusterMap except that unknown fields are ignored here (so a client keeps
// working when a newer node adds a field) and `internalUrl` is dropped if present. Like Java, a
// version or weight written as `2.0` or `1e1` in JSON text is not an integer and is rejected
// (docs/cluster-map.md); a decoded object cannot tell `2.0` from `2`, so pass the text when you
// have it. Both are checked against the shared vectors in docs/cluster-map-vectors.json.

export const MAX_NODES = 10000;
export const MAX_WEIGHT = 100;
/** Most total weight of a map: a lookup scores one replica per unit of weight. */
export const MAX_TOTAL_WEIGHT = 10000;
const ID = /^[A-Za-z0-9_.-]{1,64}$/;

// Maps that parseMap returned. owner() trusts (and caches tables for) these only: they are frozen,
// so their owners cannot go stale.
const parsed = new WeakSet();

/** True if `map` is a value returned by parseMap. */
export function isParsedMap(map) {
  return parsed.has(map);
}

// A JSON number lexeme with a fraction or an exponent, kept as text: JSON.parse would turn `2.0`
// and `1e1` into the integers 2 and 10, which Java (and docs/cluster-map.md) reject.
class NonIntegerLexeme {
  constructor(text) {
    this.text = text;
  }
}

const NUMBER_WITH_FRACTION_OR_EXPONENT = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * JSON.parse, except that numbers written with a fraction or an exponent come back as
 * NonIntegerLexeme. Strings are skipped exactly (escapes included); a non-integer number is
 * replaced by a unique string token before parsing and restored by the reviver.
 */
function parseKeepingLexemes(text) {
  let out = "";
  let last = 0;
  const lexemes = [];
  const tag = `\u0000halley-number-${Math.random().toString(36).slice(2)}:`;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      }
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j])) j++;
      const lexeme = text.slice(i, j);
      if (
        /[.eE]/.test(lexeme) &&
        NUMBER_WITH_FRACTION_OR_EXPONENT.test(lexeme)
      ) {
        out += text.slice(last, i) + JSON.stringify(tag + lexemes.length);
        lexemes.push(lexeme);
        last = j;
      }
      i = j - 1;
    }
  }
  if (lexemes.length === 0) return JSON.parse(text);
  return JSON.parse(out + text.slice(last), (key, value) =>
    typeof value === "string" && value.startsWith(tag)
      ? new NonIntegerLexeme(lexemes[Number(value.slice(tag.length))])
      : value,
  );
}

function fail(message) {
  throw new TypeError(`invalid cluster map: ${message}`);
}

function show(value) {
  if (value instanceof NonIntegerLexeme) return value.text;
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length <= 80 ? text : `${text.slice(0, 77)}...`;
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function checkUrl(value, where) {
  if (typeof value !== "string")
    fail(`${where} must be a string: ${show(value)}`);
  let url;
  try {
    url = new URL(value);
  } catch {
    fail(`${where} must be an absolute http or https URL: ${show(value)}`);
  }
  if (
    (url.protocol !== "http:" && url.protocol !== "https:") ||
    !/^https?:\/\/[^/]/i.test(value)
  ) {
    fail(`${where} must be an absolute http or https URL: ${show(value)}`);
  }
  if (!url.hostname) fail(`${where} must have a host: ${show(value)}`);
  if (url.username || url.password) {
    fail(`${where} must not contain user info: ${show(value)}`);
  }
  if (value.includes("?") || value.includes("#")) {
    fail(`${where} must not have a query or fragment: ${show(value)}`);
  }
  return value;
}

/**
 * Validates a map (a JSON string or an already parsed object) and returns a frozen copy
 * `{version, nodes: [{id, publicUrl, weight}]}` with nodes in document order, which owner() accepts
 * without checking it again. Throws TypeError naming the bad value.
 */
export function parseMap(jsonOrObject) {
  let doc = jsonOrObject;
  if (typeof doc === "string") {
    try {
      doc = parseKeepingLexemes(doc);
    } catch (e) {
      fail(`not valid JSON: ${e.message}`);
    }
  }
  if (!isObject(doc)) fail("must be a JSON object");
  const { version, nodes } = doc;
  if (version === undefined) fail("version is missing");
  if (!Number.isInteger(version) || version < 0 || version > 2147483647) {
    fail(`version must be an integer in 0..2147483647: ${show(version)}`);
  }
  if (nodes === undefined) fail("nodes is missing");
  if (!Array.isArray(nodes)) fail(`nodes must be an array: ${show(nodes)}`);
  if (nodes.length === 0) fail("nodes must not be empty");
  if (nodes.length > MAX_NODES) {
    fail(`nodes must have at most ${MAX_NODES} entries: ${nodes.length}`);
  }
  const seen = new Set();
  const list = nodes.map((node, i) => {
    const where = `nodes[${i}]`;
    if (!isObject(node)) fail(`${where} must be an object: ${show(node)}`);
    const { id, publicUrl } = node;
    if (id === undefined) fail(`${where}.id is missing`);
    if (typeof id !== "string")
      fail(`${where}.id must be a string: ${show(id)}`);
    if (!ID.test(id)) {
      fail(
        `${where}.id must be 1 to 64 characters from [A-Za-z0-9_.-]: ${show(id)}`,
      );
    }
    if (seen.has(id)) fail(`duplicate node id ${show(id)} (${where})`);
    seen.add(id);
    if (publicUrl === undefined) fail(`${where}.publicUrl is missing`);
    checkUrl(publicUrl, `${where}.publicUrl`);
    const weight = node.weight === undefined ? 1 : node.weight;
    if (!Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
      fail(
        `${where}.weight must be an integer in 1..${MAX_WEIGHT}: ${show(weight)}`,
      );
    }
    return Object.freeze({ id, publicUrl, weight });
  });
  const total = list.reduce((sum, n) => sum + n.weight, 0);
  if (total > MAX_TOTAL_WEIGHT) {
    fail(
      `the nodes' weights must add up to at most ${MAX_TOTAL_WEIGHT}: ${total}`,
    );
  }
  const map = Object.freeze({ version, nodes: Object.freeze(list) });
  parsed.add(map);
  return map;
}
