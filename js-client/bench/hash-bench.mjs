// Owner lookups per second in Node (not part of `npm test`):
//   node js-client/bench/hash-bench.mjs
// Same shape as bench/OwnerLookupBenchmark (Java): N equal nodes, 4,096 distinct user IDs looked
// up round-robin, one thread. JS has no owner cache, so every lookup scores every replica.
import { owner } from "../src/hash.js";
import { parseMap } from "../src/map.js";

const users = Array.from(
  { length: 4096 },
  (_, i) => `user-${(i * 2654435761) >>> 0}`,
);

function measure(n) {
  const map = parseMap({
    version: 1,
    nodes: Array.from({ length: n }, (_, i) => ({
      id: `node-${i}`,
      publicUrl: `https://node-${i}.example.com`,
    })),
  });
  let sink = 0;
  const run = (iterations) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++)
      sink += owner(users[i & 4095], map).weight;
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  let iterations = 10000;
  while (run(iterations) < 0.2) iterations *= 2; // warm up and size a ~0.2 s batch
  const rates = [];
  for (let round = 0; round < 5; round++)
    rates.push(iterations / run(iterations));
  rates.sort((a, b) => a - b);
  const json = JSON.stringify({
    version: 2,
    nodes: map.nodes.map((node) => ({
      ...node,
      internalUrl: "http://10.0.0.1:9090",
    })),
  });
  const loads = [];
  for (let round = 0; round < 7; round++) {
    const loadStart = process.hrtime.bigint();
    owner("x", parseMap(json)); // parse, validate, build the replica table, one lookup
    loads.push(Number(process.hrtime.bigint() - loadStart) / 1e6);
  }
  loads.sort((a, b) => a - b);
  const loadMs = loads[3];
  return { n, median: rates[2], min: rates[0], max: rates[4], loadMs, sink };
}

console.log(`node ${process.version}`);
for (const n of [3, 100, 1000]) {
  const r = measure(n);
  console.log(
    `N=${String(r.n).padStart(4)}: ${(r.median / 1e6).toFixed(2)} M lookups/s ` +
      `(min ${(r.min / 1e6).toFixed(2)}, max ${(r.max / 1e6).toFixed(2)}); ` +
      `map load (median of 7) ${r.loadMs.toFixed(2)} ms`,
  );
}
