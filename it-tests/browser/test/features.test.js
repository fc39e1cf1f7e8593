// End to end, issue 16's features in a real browser: disconnect, block and revoke; latest-value
// channels; channel presence across the cluster; conflation with the per-key frequency limit.
// A real 2-node cluster (processes), the chat server, Debian's chromium. Pages load js-client from
// the chat origin (which the nodes allow) and connect with tokens this file mints (HS256 with the
// launcher's development secret), so a scenario chooses the channels and the options it needs.
// Every wait is on a condition; the only timers pace a publisher.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Cluster, TOKEN_SECRET, waitFor } from "../cluster.js";
import { launchBrowser, openChat } from "../browser.js";
import { owner } from "../../../js-client/src/hash.js";
import { parseMap } from "../../../js-client/src/map.js";

const TRANSPORTS = ["websocket", "sse", "longpoll"];
const NODES = ["a", "b"];

/** An HS256 JWT as router-lib's TokenMinter makes them (node:crypto's HMAC). */
function mint(user, { channels, ttlSeconds = 600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const claims = { sub: user, iat: now, exp: now + ttlSeconds };
  if (channels) claims.channels = channels;
  const signed = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  const mac = createHmac("sha256", TOKEN_SECRET).update(signed).digest();
  return `${signed}.${mac.toString("base64url")}`;
}

const pace = (ms) => new Promise((r) => setTimeout(r, ms)); // publisher pacing only

describe("issue 16's features in a real browser on a 2-node cluster", () => {
  let cluster;
  let browser;
  const pages = [];

  const ownerOf = (user) =>
    owner(user, parseMap(JSON.stringify(cluster.publicMap()))).id;

  /** A user name starting with `prefix` owned by `nodeId`. */
  const userOn = (nodeId, prefix) => {
    for (let i = 0; i < 100000; i++) {
      const user = `${prefix}-${i}`;
      if (ownerOf(user) === nodeId) return user;
    }
    throw new Error(`no user ${prefix}-* owned by ${nodeId}`);
  };

  /**
   * A page on the chat origin running a bare js-client for `user`; `window.bare` records what it
   * reports. Resolves once connected, unless `connected: false`.
   */
  const open = async (
    user,
    { transport, channels, conflationIntervalMs, connected = true } = {},
  ) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const consoleLines = [];
    page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
    const bare = {
      page,
      context,
      user,
      console: consoleLines,
      close: () => context.close(),
      get: () => page.evaluate(() => window.bare.snapshot()),
      waitUntil: (predicate, arg) =>
        page.waitForFunction(predicate, arg, { timeout: 60000 }),
      texts: async () => (await bare.get()).messages.map((m) => m.data),
      connected: () => connectedOf(bare, transport),
    };
    pages.push(bare);
    await page.exposeFunction("mintToken", () => mint(user, { channels }));
    await page.goto(`${cluster.chatUrl}/`);
    await page.evaluate(
      async ({ user, token, map, transport, conflationIntervalMs }) => {
        const { createClient } = await import("/js/index.js");
        const b = (window.bare = {
          messages: [],
          disconnects: [],
          errors: [],
          states: [],
          resets: [],
          tokenRequests: 0,
          snapshot: () => JSON.parse(JSON.stringify({ ...b, client: null })),
        });
        const client = createClient({
          userId: user,
          token,
          map,
          transport,
          conflationIntervalMs,
          storage: null,
          getToken: async () => {
            b.tokenRequests += 1;
            return window.mintToken();
          },
        });
        client.on("message", (m) =>
          b.messages.push({ id: m.id, channel: m.channel, data: m.data }),
        );
        client.on("disconnect", (e) => b.disconnects.push(e));
        client.on("reset", (r) => b.resets.push(r));
        client.on("error", (e) =>
          b.errors.push({
            code: e.code,
            fatal: e.fatal,
            until: e.until,
            message: e.message,
          }),
        );
        client.on("state", (state, detail) =>
          b.states.push({
            state,
            node: detail.node,
            transport: detail.transport,
            willRetry: detail.willRetry,
          }),
        );
        b.client = client;
        client.connect();
      },
      {
        user,
        token: mint(user, { channels }),
        map: cluster.publicMap(),
        transport,
        conflationIntervalMs,
      },
    );
    if (connected) await bare.connected();
    return bare;
  };

  /** Resolves once the page's last state is connected (by `transport`, if given). */
  const connectedOf = (bare, transport) =>
    bare.waitUntil((t) => {
      const s = window.bare.states.at(-1);
      return s?.state === "connected" && (!t || s.transport === t);
    }, transport);

  const publish = async (nodeId, messages) => {
    const r = await cluster.internal(nodeId, "POST", "/v1/publish", {
      messages,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  /** A channel publish goes to every node, as router-lib sends it. */
  const publishToChannel = (channel, datas) =>
    Promise.all(
      NODES.map((id) =>
        publish(
          id,
          datas.map((data) => ({ channel, data })),
        ),
      ),
    );
  const publishToUser = (user, messages) =>
    publish(
      ownerOf(user),
      messages.map((m) => ({ users: [user], ...m })),
    );

  const conflatedTotal = async (nodeId, transport) => {
    const node = cluster.nodes.get(nodeId);
    const text = await (
      await fetch(`http://127.0.0.1:${node.internalPort}/metrics`)
    ).text();
    const tag = transport === "websocket" ? "websocket" : transport;
    const line = text
      .split("\n")
      .find((l) =>
        l.startsWith(`halley_messages_conflated_total{transport="${tag}"} `),
      );
    assert.ok(line, `no halley_messages_conflated_total for ${tag}`);
    return Number(line.split(" ")[1]);
  };

  /** Runs a scenario; on failure adds the pages' consoles and the processes' logs. */
  const scenario = (name, body) =>
    test(name, async () => {
      try {
        await body();
      } catch (err) {
        const consoles = [];
        for (const p of pages) {
          const state = await p.get?.().catch(() => null);
          consoles.push(
            `--- page ${p.user}\n${p.console.join("\n")}\n${JSON.stringify(state)}`,
          );
        }
        const logs = ["chat", ...NODES.map((id) => `node-${id}`)]
          .map(
            (n) =>
              `--- ${n}.log\n${cluster.log(n).split("\n").slice(-30).join("\n")}`,
          )
          .join("\n");
        err.message += `\n${consoles.join("\n")}\n${logs}`;
        throw err;
      } finally {
        await Promise.all(pages.splice(0).map((p) => p.close()));
      }
    });

  before(async () => {
    const [c, b] = await Promise.allSettled([
      Cluster.start(NODES, {
        nodeArgs: ["--latest-value-channels", "ticker:*"],
      }),
      launchBrowser(),
    ]);
    cluster = c.value;
    browser = b.value;
    for (const r of [c, b]) {
      if (r.status === "rejected") throw r.reason;
    }
  });

  after(async () => {
    await browser?.close();
    await cluster?.close();
  });

  for (const [i, transport] of TRANSPORTS.entries()) {
    scenario(
      `${transport}: the app disconnects the user; the page gets the disconnect event and stops`,
      async () => {
        const nodeId = NODES[i % 2];
        const user = userOn(nodeId, `kick-${transport}`);
        const page = await open(user, { transport });
        await publishToUser(user, [{ data: "before" }]);
        await page.waitUntil(() => window.bare.messages.length === 1);
        // A long-poll client between two requests holds no connection: ask until one was ended.
        await waitFor("the disconnect to end a connection", async () => {
          const r = await cluster.internal(
            nodeId,
            "POST",
            `/v1/users/${user}/disconnect`,
            { reason: "maintenance" },
          );
          assert.equal(r.status, 200, JSON.stringify(r.body));
          return r.body.disconnected >= 1;
        });
        await page.waitUntil(
          () =>
            window.bare.disconnects.length === 1 &&
            window.bare.states.at(-1)?.state === "disconnected",
        );
        const seen = await page.get();
        assert.equal(seen.disconnects[0].code, "disconnected");
        assert.equal(seen.disconnects[0].reason, "maintenance");
        assert.equal(seen.states.at(-1).willRetry, false);
        // It stopped: the node holds no connection for the user, so a message is only buffered.
        const presence = await cluster.internal(
          nodeId,
          "GET",
          `/v1/users/${user}/presence`,
        );
        assert.equal(presence.body.connections, 0, JSON.stringify(presence));
        const result = await publishToUser(user, [{ data: "after" }]);
        assert.deepEqual(result.results[0].buffered, [user]);
        assert.deepEqual(await page.texts(), ["before"]);
      },
    );
  }

  scenario(
    "websocket: a blocked user is cut and refused until unblocked; the page surfaces user_blocked and until",
    async () => {
      const user = userOn("a", "blocked");
      const page = await open(user, { transport: "websocket" });
      const until = Date.now() + 120000;
      const r = await cluster.internal("a", "POST", `/v1/users/${user}/block`, {
        until,
        reason: "spam",
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.disconnected, 1);
      await page.waitUntil(
        () => window.bare.states.at(-1)?.state === "disconnected",
      );
      const seen = await page.get();
      assert.deepEqual(
        [seen.disconnects[0].code, seen.disconnects[0].until],
        ["user_blocked", until],
      );
      assert.equal(seen.states.at(-1).willRetry, false);

      // A new page of the blocked user is refused at connect: 403 user_blocked, fatal, with until.
      for (const transport of TRANSPORTS) {
        const again = await open(user, { transport, connected: false });
        await again.waitUntil(() =>
          window.bare.errors.some((e) => e.fatal && e.code === "user_blocked"),
        );
        const error = (await again.get()).errors.find(
          (e) => e.code === "user_blocked",
        );
        assert.equal(error.until, until, transport);
        assert.equal((await again.get()).messages.length, 0);
      }

      const lifted = await cluster.internal(
        "a",
        "POST",
        `/v1/users/${user}/unblock`,
      );
      assert.equal(lifted.status, 200);
      const after = await open(user, { transport: "websocket" });
      await publishToUser(user, [{ data: "welcome back" }]);
      await after.waitUntil(() =>
        window.bare.messages.some((m) => m.data === "welcome back"),
      );
    },
  );

  for (const transport of ["websocket", "sse"]) {
    scenario(
      `${transport}: tokens issued before an instant are revoked; the page gets a new token through getToken and resumes`,
      async () => {
        const user = userOn("b", `revoked-${transport}`);
        const page = await open(user, { transport });
        const mintedAt = Date.now(); // the page's token was minted before it connected
        await publishToUser(user, [{ data: "one" }]);
        await page.waitUntil(() => window.bare.messages.length === 1);
        // iat has whole seconds: revoke from the start of a second after the page's token was
        // minted, so that the replacement (minted in that second or later) is not revoked too.
        await waitFor(
          "a second after the token",
          () => Date.now() >= mintedAt + 1000,
        );
        const issuedBefore = Math.floor(Date.now() / 1000) * 1000;
        const r = await cluster.internal(
          "b",
          "POST",
          `/v1/users/${user}/revoke`,
          {
            issuedBefore,
          },
        );
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.disconnected, 1);
        await page.waitUntil(
          () =>
            window.bare.disconnects.some((d) => d.code === "token_revoked") &&
            window.bare.tokenRequests >= 1 &&
            window.bare.states.at(-1)?.state === "connected",
        );
        await publishToUser(user, [{ data: "two" }]);
        await page.waitUntil(() => window.bare.messages.length === 2);
        const seen = await page.get();
        assert.deepEqual(
          seen.messages.map((m) => m.data),
          ["one", "two"],
        );
        assert.deepEqual(seen.resets, []);
        assert.equal(seen.errors.filter((e) => e.fatal).length, 0);
      },
    );
  }

  for (const transport of TRANSPORTS) {
    scenario(
      `${transport}: a latest-value channel hands its last message to a new subscriber first`,
      async () => {
        const channel = `ticker:${transport}`;
        await publishToChannel(channel, ["1.01", "1.02", "1.03"]);
        for (const nodeId of NODES) {
          const user = userOn(nodeId, `latest-${transport}`);
          const page = await open(user, { transport, channels: [channel] });
          await page.waitUntil(() => window.bare.messages.length >= 1);
          await publishToChannel(channel, [`1.04 ${nodeId}`]);
          await page.waitUntil(() => window.bare.messages.length >= 2);
          const seen = await page.get();
          assert.deepEqual(
            seen.messages.map((m) => [m.channel, m.data]),
            [
              [channel, nodeId === "a" ? "1.03" : "1.04 a"],
              [channel, `1.04 ${nodeId}`],
            ],
            nodeId,
          );
          await page.close();
        }
      },
    );
  }

  scenario(
    "websocket: an API subscription to a latest-value channel delivers its last message to the open page",
    async () => {
      await publishToChannel("ticker:usd", ["0.91", "0.92"]);
      const user = userOn("b", "subscriber");
      const page = await open(user, { transport: "websocket" });
      const r = await cluster.internal(
        "b",
        "PUT",
        `/v1/users/${user}/channels/ticker:usd`,
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await page.waitUntil(() => window.bare.messages.length >= 1);
      await publishToChannel("ticker:usd", ["0.93"]);
      await page.waitUntil(() => window.bare.messages.length >= 2);
      assert.deepEqual(await page.texts(), ["0.92", "0.93"]);
    },
  );

  scenario(
    "channel presence: router-lib merges both nodes' members of a room, with counts, and they leave when their pages close",
    async () => {
      const asker = await fetch(`${cluster.chatUrl}/api/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "presence-asker" }),
      });
      assert.equal(asker.status, 200);
      const cookie = asker.headers.get("set-cookie").split(";")[0];
      const members = async () => {
        const r = await fetch(`${cluster.chatUrl}/api/rooms/random/members`, {
          headers: { cookie },
        });
        assert.equal(r.status, 200, await r.clone().text());
        return r.json();
      };
      const onA = userOn("a", "member");
      const onB = userOn("b", "member");
      const a1 = await openChat(browser, cluster.chatUrl, onA, {
        transport: "websocket",
      });
      pages.push(a1);
      const a2 = await openChat(browser, cluster.chatUrl, onA, {
        transport: "longpoll",
      });
      pages.push(a2);
      const b1 = await openChat(browser, cluster.chatUrl, onB, {
        transport: "sse",
      });
      pages.push(b1);
      const expected = [
        { user: onA, node: "a", connections: 2 },
        { user: onB, node: "b", connections: 1 },
      ];
      const mine = (m) => m.members.filter((x) => x.user.startsWith("member-"));
      const seen = await waitFor("both nodes' members", async () => {
        const m = await members();
        return JSON.stringify(mine(m)) === JSON.stringify(expected) && m;
      });
      assert.deepEqual([...seen.answered].sort(), NODES);
      assert.deepEqual(seen.missing, {});
      assert.ok(seen.users >= 2 && seen.connections >= 3, JSON.stringify(seen));

      await b1.close();
      await waitFor("the closed page's user to leave", async () => {
        const m = await members();
        return JSON.stringify(mine(m)) === JSON.stringify([expected[0]]) && m;
      });
    },
  );

  for (const [i, transport] of TRANSPORTS.entries()) {
    scenario(
      `${transport}: with conflationIntervalMs the page gets at most one message per key per interval, the newest last, and every unkeyed one in order`,
      async () => {
        const intervalMs = 500;
        const nodeId = NODES[i % 2];
        const user = userOn(nodeId, `conflate-${transport}`);
        const page = await open(user, {
          transport,
          conflationIntervalMs: intervalMs,
        });
        const conflatedBefore = await conflatedTotal(nodeId, transport);
        const rounds = 60;
        const start = Date.now();
        for (let round = 0; round < rounds; round++) {
          const messages = [
            { data: `eur ${round}`, conflationKey: "eur" },
            { data: `usd ${round}`, conflationKey: "usd" },
          ];
          if (round % 10 === 0) messages.push({ data: `marker ${round / 10}` });
          await publishToUser(user, messages);
          await pace(20);
        }
        await publishToUser(user, [{ data: "end" }]);
        await page.waitUntil(() =>
          window.bare.messages.some((m) => m.data === "end"),
        );
        const elapsedMs = Date.now() - start;
        const seen = (await page.get()).messages.map((m) => m.data);
        assert.deepEqual(
          seen.filter((d) => d.startsWith("marker") || d === "end"),
          [0, 1, 2, 3, 4, 5].map((n) => `marker ${n}`).concat("end"),
        );
        // The node writes a key's message at least intervalMs after the previous one.
        const most = Math.floor(elapsedMs / intervalMs) + 1;
        for (const key of ["eur", "usd"]) {
          const got = seen.filter((d) => d.startsWith(`${key} `));
          assert.equal(got.at(-1), `${key} ${rounds - 1}`, "the newest wins");
          assert.ok(
            got.length <= most,
            `${key}: ${got.length} in ${elapsedMs} ms (at most ${most}): ${got}`,
          );
        }
        const conflated =
          (await conflatedTotal(nodeId, transport)) - conflatedBefore;
        assert.ok(conflated > 0, `conflated counted: ${conflated}`);
        assert.deepEqual((await page.get()).resets, []);
      },
    );
  }
});
