// A real local Halley cluster for the browser tests, as processes: one JVM per node (each behind
// a proxy.js so tests can break its network) and one for the chat server, all from the chat
// example's jar, on free 127.0.0.1 ports. Waits on readiness endpoints, never on fixed sleeps.

import { spawn } from "node:child_process";
import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startProxy } from "./proxy.js";

const ROOT = resolve(import.meta.dirname, "../..");
export const CHAT_JAR = join(ROOT, "examples/chat/target/halley-chat.jar");
export const API_KEY = "dev-api-key-not-secret"; // the launcher's development default
export const TOKEN_SECRET = "dev-token-secret-not-secret-0123456789"; // likewise
const JVM = [
  "-XX:+UseSerialGC",
  "-XX:TieredStopAtLevel=1",
  "-Xss512k",
  "-Xmx256m",
];

// The kernel's ephemeral range (local ports of outgoing connections and of bind(0)). The processes
// get their ports from below it: a port found free and bound seconds or minutes later (a node's
// JVM starting, the short-token chat started mid-suite, a restart on the same port) must not be
// taken meanwhile by the local end of some connection, which on a machine busy with other test
// suites happened (the short-token chat: BindException, 1 of 4 suite runs).
const EPHEMERAL_LOW = (() => {
  try {
    return Number(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(
        /\s+/,
      )[0],
    );
  } catch {
    return 32768;
  }
})();
const LOW = Math.max(1024, EPHEMERAL_LOW - 12000);

/** A 127.0.0.1 port below the ephemeral range that is free now (tries up to 100 random ones). */
export async function freePort() {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOW + Math.floor(Math.random() * (EPHEMERAL_LOW - LOW));
    const server = net.createServer();
    const bound = await new Promise((r) => {
      server.once("error", () => r(false));
      server.listen(port, "127.0.0.1", () => r(true));
    });
    if (bound) {
      await new Promise((r) => server.close(r));
      return port;
    }
  }
  throw new Error(
    `no free port in ${LOW}..${EPHEMERAL_LOW - 1} after 100 tries`,
  );
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(what, check, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      if (err.fatal) throw err;
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last ? `: ${last.message}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, delay));
  }
}

export class Cluster {
  dir = mkdtempSync(join(tmpdir(), "halley-it-"));
  mapFile = join(this.dir, "cluster.json");
  nodes = new Map(); // id -> { publicPort, internalPort, proxy, process }
  version = 1;
  chat;
  chatUrl;

  /** Extra arguments of every node process (e.g. `--latest-value-channels`). */
  nodeArgs = [];

  static async start(ids = ["a", "b", "c"], { nodeArgs = [] } = {}) {
    if (!existsSync(CHAT_JAR))
      throw new Error(
        `${CHAT_JAR} is missing: build it first (./mvnw -pl examples/chat -am package)`,
      );
    const cluster = new Cluster();
    cluster.nodeArgs = nodeArgs;
    cluster.chatPort = await freePort();
    cluster.chatUrl = `http://127.0.0.1:${cluster.chatPort}`;
    cluster.shortTokenChatPort = await freePort(); // for startShortTokenChat(); nodes allow it too
    cluster.shortTokenChatUrl = `http://127.0.0.1:${cluster.shortTokenChatPort}`;
    try {
      for (const id of ids) await cluster.#allocate(id);
      cluster.#writeMap();
      await Promise.all([
        ...ids.map((id) => cluster.#startNode(id)),
        cluster.#startChat(),
      ]);
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  /** The full map document (with internal URLs) as the tests last wrote it. */
  map() {
    return JSON.parse(readFileSync(this.mapFile, "utf8"));
  }

  /** The public map, as a page sees it. */
  publicMap() {
    const map = this.map();
    return {
      version: map.version,
      nodes: map.nodes.map(({ id, publicUrl, weight }) => ({
        id,
        publicUrl,
        weight,
      })),
    };
  }

  proxy(id) {
    return this.nodes.get(id).proxy;
  }

  /** Kills the node's process (SIGKILL: no drain) and starts it again on the same ports. */
  async restartNode(id) {
    const node = this.nodes.get(id);
    await stop(node.process, "SIGKILL");
    await this.#startNode(id);
  }

  /** Stops the chat server (SIGTERM) and starts it again on the same port. */
  async restartChat() {
    await stop(this.chat, "SIGTERM");
    await this.#startChat();
  }

  /**
   * Adds a node: writes a new map version with it and starts it; the other processes re-read the
   * file (--map-refresh-ms) and switch to it.
   */
  async addNode(id) {
    await this.#allocate(id);
    this.version += 1;
    this.#writeMap(); // the chat server re-reads it (--map-refresh-ms)
    await this.#startNode(id);
    for (const [other, node] of this.nodes) {
      const url = `http://127.0.0.1:${node.publicPort}/v1/map`;
      await waitFor(
        `node ${other} to load map version ${this.version}`,
        async () => (await (await fetch(url)).json()).version === this.version,
      );
    }
    await waitFor(
      "the chat server to load the new map",
      async () =>
        (await (await fetch(`${this.chatUrl}/api/map`)).json()).version ===
        this.version,
    );
  }

  /**
   * Adds a node by a live reshard (docs/operations.md), the steps `./halley reshard` drives: the
   * node starts on the active map (which does not list it), the map with it is installed as the
   * pending map on every node, the test waits until every publisher each node has seen (the chat
   * server's router-lib) declares both versions, activates it (the new node first), waits until the
   * old owners handed their moved clients over, and only then writes the map file (what an
   * operator's config push does after the reshard). Returns the log of the steps.
   */
  async reshardAdd(id) {
    const log = [];
    const from = this.map();
    await this.#allocate(id);
    this.version += 1;
    const to = this.#mapDocument();
    await this.#startNode(id);
    const ids = [...this.nodes.keys()];
    // The new owner first (activation order): an old owner's position relayed to a node that
    // has no pending map yet is refused (misdirected) and that user's handoff would reset.
    for (const n of [id, ...ids.filter((n) => n !== id)]) {
      const r = await this.admin(n, "POST", "/v1/admin/map/pending", to);
      if (r.status !== 200)
        throw new Error(
          `${n}: pending ${to.version}: ${JSON.stringify(r.body)}`,
        );
    }
    log.push(`pending ${to.version} on ${ids}`);
    const want = JSON.stringify([from.version, to.version]);
    await waitFor(`every publisher to declare ${want}`, async () => {
      let seen = 0;
      for (const n of ids) {
        const state = (await this.admin(n, "GET", "/v1/admin/map/state")).body;
        for (const p of state.publishers ?? []) {
          if (JSON.stringify(p.versions) !== want) return false;
          seen += 1;
        }
      }
      return seen > 0;
    });
    log.push(`publishers declare ${want}`);
    for (const n of [id, ...ids.filter((n) => n !== id)]) {
      const r = await this.admin(n, "POST", "/v1/admin/map/activate", {
        version: to.version,
      });
      if (r.status !== 200)
        throw new Error(
          `${n}: activate ${to.version}: ${JSON.stringify(r.body)}`,
        );
    }
    log.push(`active ${to.version}`);
    await waitFor(
      "the old owners' finishing streams to be handed over",
      async () => {
        for (const n of ids) {
          const state = (await this.admin(n, "GET", "/v1/admin/map/state"))
            .body;
          if (state.active !== to.version || state.handoffs?.finishing !== 0)
            return false;
        }
        return true;
      },
    );
    log.push("finishing streams drained");
    this.#writeMap();
    await waitFor(
      "the chat server to load the new map",
      async () =>
        (await (await fetch(`${this.chatUrl}/api/map`)).json()).version ===
        this.version,
    );
    return log;
  }

  /** A call to a node's internal listener with the API key; resolves to `{status, body}`. */
  async admin(id, method, path, body) {
    const node = this.nodes.get(id);
    const response = await fetch(
      `http://127.0.0.1:${node.internalPort}${path}`,
      {
        method,
        headers: {
          authorization: `Bearer ${API_KEY}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      },
    );
    const text = await response.text();
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: response.status, body: parsed };
  }

  async close() {
    await Promise.all([
      ...[...this.nodes.values()].map((n) => stop(n.process, "SIGTERM")),
      stop(this.chat, "SIGTERM"),
      stop(this.shortTokenChat, "SIGTERM"),
    ]);
    await Promise.all([...this.nodes.values()].map((n) => n.proxy.close()));
  }

  /** Calls node `id`'s internal API with the API key; resolves to `{status, body}`. */
  async internal(id, method, path, body) {
    const node = this.nodes.get(id);
    const response = await fetch(
      `http://127.0.0.1:${node.internalPort}${path}`,
      {
        method,
        headers: {
          authorization: `Bearer ${API_KEY}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      },
    );
    const text = await response.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, body: json };
  }

  /** Log file of a process, for failure reports. */
  log(name) {
    const file = join(this.dir, `${name}.log`);
    return existsSync(file) ? readFileSync(file, "utf8") : "";
  }

  async #allocate(id) {
    const publicPort = await freePort();
    const internalPort = await freePort();
    const proxy = await startProxy(publicPort);
    this.nodes.set(id, { publicPort, internalPort, proxy });
  }

  /** The map document of every allocated node at `this.version`. */
  #mapDocument() {
    const nodes = [...this.nodes].map(([id, n]) => ({
      id,
      publicUrl: `http://127.0.0.1:${n.proxy.port}`,
      internalUrl: `http://127.0.0.1:${n.internalPort}`,
      weight: 1,
    }));
    return { version: this.version, nodes };
  }

  #writeMap() {
    writeFileSync(this.mapFile, JSON.stringify(this.#mapDocument(), null, 2));
  }

  async #startNode(id) {
    const node = this.nodes.get(id);
    node.process = this.#spawn(`node-${id}`, [
      "--map-file",
      this.mapFile, // for a node joining by a reshard: the active map, without it
      "--nodes",
      id,
      "--no-chat",
      "--listen",
      `${id}=${node.publicPort}:${node.internalPort}`,
      "--allowed-origin",
      this.chatUrl,
      "--allowed-origin",
      this.shortTokenChatUrl,
      "--map-refresh-ms",
      "300",
      ...this.nodeArgs,
    ]);
    const readyz = `http://127.0.0.1:${node.internalPort}/readyz`;
    const headers = { authorization: `Bearer ${API_KEY}` };
    await waitFor(`node ${id} to be ready`, async () => {
      if (node.process.exitCode !== null)
        throw fatal(
          `node ${id} exited: ${this.log(`node-${id}`).slice(-2000)}`,
        );
      return (await fetch(readyz, { headers })).ok;
    });
  }

  async #startChat() {
    this.chat = await this.#chatProcess("chat", this.chatUrl, []);
  }

  /**
   * A second chat server on the same cluster whose tokens live `ttlSeconds`, for token expiry.
   * Returns its URL; close() stops it.
   */
  async startShortTokenChat(ttlSeconds) {
    this.shortTokenChat = await this.#chatProcess(
      "chat-short-token",
      this.shortTokenChatUrl,
      ["--token-ttl-seconds", String(ttlSeconds)],
    );
    return this.shortTokenChatUrl;
  }

  async #chatProcess(name, url, extra) {
    const port = new URL(url).port;
    const child = this.#spawn(name, [
      "--map-file",
      this.mapFile,
      "--nodes",
      "none",
      "--chat-port",
      port,
      "--map-refresh-ms",
      "300",
      ...extra,
    ]);
    await waitFor(`the chat server ${name}`, async () => {
      if (child.exitCode !== null)
        throw fatal(`${name} exited: ${this.log(name).slice(-2000)}`);
      return (await fetch(`${url}/api/map`)).ok;
    });
    return child;
  }

  #spawn(name, args) {
    const log = createWriteStream(join(this.dir, `${name}.log`), {
      flags: "a",
    });
    const child = spawn("java", [...JVM, "-jar", CHAT_JAR, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    child.exited = new Promise((r) => child.on("exit", r));
    const reap = () => child.kill("SIGKILL"); // never leave a JVM behind, even if a test crashes
    process.on("exit", reap);
    child.exited.then(() => process.off("exit", reap));
    return child;
  }
}

function fatal(message) {
  const err = new Error(message);
  err.fatal = true;
  return err;
}

async function stop(child, signal) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
  await child.exited;
  clearTimeout(timer);
}
