// Parses and validates the public view of a cluster map, as served at GET /v1/map
// (docs/cluster-map.md):
//
//   {"version": 3, "nodes": [{"id": "a", "publicUrl": "https://a.example.com", "weight": 1}]}
//
//   const map = parseMap(await (await fetch(url + "/v1/map")).json());
//
// Rules match Java's ClusterMap except that unknown fields are ignored here (so a client keeps
// working when a newer node adds a field) and `internalUrl` is dropped if present.

export const MAX_NODES = 10000;
export const MAX_WEIGHT = 100;
const ID = /^[A-Za-z0-9_.-]{1,64}$/;

function fail(message) {
  throw new TypeError(`invalid cluster map: ${message}`);
}

function show(value) {
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
 * `{version, nodes: [{id, publicUrl, weight}]}` with nodes in document order.
 * Throws TypeError naming the bad value.
 */
export function parseMap(jsonOrObject) {
  let doc = jsonOrObject;
  if (typeof doc === "string") {
    try {
      doc = JSON.parse(doc);
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
  const parsed = nodes.map((node, i) => {
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
  return Object.freeze({ version, nodes: Object.freeze(parsed) });
}
