// Type-checked by `npm run typecheck` (tsc, no output): typical uses of the published types must
// compile, and each misuse marked @ts-expect-error must not. Imports the package by its own name,
// so the "exports" map of package.json is checked too.
import {
  createClient,
  owner,
  parseMap,
  type ClusterMap,
  type ParsedMapNode,
  type Options,
} from "@halley/js-client";

const text =
  '{"version": 1, "nodes": [{"id": "a", "publicUrl": "http://127.0.0.1:7101"}]}';
const map: ClusterMap = parseMap(text);
const node: ParsedMapNode = owner("alice", map);
const url: string = node.publicUrl;
const weight: number = node.weight;
owner("alice", { version: 1, nodes: [{ id: "a", publicUrl: url }] });

// @ts-expect-error a node is read-only
node.weight = 2;
// @ts-expect-error only parseMap makes a ClusterMap
const forged: ClusterMap = { version: 1, nodes: [] };
// @ts-expect-error owner needs a map
owner("alice", "a.json");

const client = createClient({
  userId: "alice",
  getToken: async ({ reason }) => `token-for-${reason}`,
  mapUrl: "http://127.0.0.1:7101/v1/map",
});
client.on("message", (m) => console.log(m.id, m.data, m.channel));
client.on("message", (m) => {
  const key: string | undefined = m.key;
  // @ts-expect-error a key may be absent
  const sure: string = m.key;
  return [key, sure];
});
client.on("debug", (d) => console.log(d.transport, d.message));
client.on("state", (state, detail) => console.log(state, detail.node));
client.connect().close();

const withEverything: Options = {
  userId: "bob",
  token: "t",
  getToken: () => "t2",
  map,
  mapUrl: "http://127.0.0.1:7101/v1/map",
  getMap: () => fetch("/map").then((r) => r.text()),
};
createClient(withEverything);
createClient({ userId: "carol", token: "t", map: text });
createClient({ userId: "carol", token: "t", getMap: async () => map });

// @ts-expect-error token or getToken is required
createClient({ userId: "dave", map });
// @ts-expect-error map, mapUrl or getMap is required
createClient({ userId: "dave", token: "t" });
// @ts-expect-error a token is a string
createClient({ userId: "dave", token: 42, map });
// @ts-expect-error no such event
client.on("bogus", () => {});

export { forged, weight };
