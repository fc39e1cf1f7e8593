// The client's state machine: find the owner, open a transport, deliver events, and decide what
// to do when the connection ends (resume, back off, fall back, move, refresh the token, or stop).
// Transports know framing; decide.js knows the protocol's rules. Clock, random, storage and the
// browser APIs are injectable so unit tests run without sleeping or a network.

import {
  Action,
  CloseCode,
  ErrorCode,
  EventType,
  actionForStatus,
} from "./codes.js";
import { backoffDelay } from "./backoff.js";
import { FALLBACK, decide, errorFrom, movedTarget } from "./decide.js";
import { Emitter } from "./emitter.js";
import { HalleyError } from "./errors.js";
import { readErrorBody, transportUrl } from "./event.js";
import { owner } from "./hash.js";
import { checkOptions, defaultStorage, toMap } from "./options.js";
import * as websocket from "./transports/websocket.js";
import * as sse from "./transports/sse.js";
import * as longpoll from "./transports/longpoll.js";

export { DEFAULTS } from "./options.js";

/** Failed attempts at a `moved` target (its map unfetchable) before the map is fetched again. */
export const MOVED_TARGET_ATTEMPTS = 2;

const TOKEN_TIMED_OUT = "timed out";
export { decide } from "./decide.js";

const TRANSPORT_MODULES = { websocket, sse, longpoll };

export class Client {
  #o;
  #deps;
  #emitter = new Emitter();
  #state = "disconnected";
  #started = false;
  #closed = false;
  #map;
  #token;
  #freshToken = false;
  #lastEventId;
  /** `{ handoff, lastEventId }` from the last `moved` that carried one; used while it matches. */
  #handoff;
  #node;
  #url;
  #overrideUrl;
  #transport;
  #transportIndex = 0;
  #attempt = 0;
  #wsStrikes = 0;
  #moves = 0;
  #overrideFailures = 0;
  #done = false;
  #handle;
  #cancel;

  constructor(options) {
    this.#o = checkOptions(options);
    const d = options.deps ?? {};
    this.#deps = {
      fetch: d.fetch ?? ((...args) => globalThis.fetch(...args)),
      WebSocket: d.WebSocket,
      setTimeout: d.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms)),
      clearTimeout: d.clearTimeout ?? ((id) => globalThis.clearTimeout(id)),
      random: d.random ?? Math.random,
      now: d.now ?? (() => Date.now()),
      storage:
        options.storage === undefined ? defaultStorage() : options.storage,
    };
    this.#token = options.token;
    this.#lastEventId = options.lastEventId;
    if (options.map !== undefined) this.#map = toMap(options.map);
    const remembered = this.#o.transport ? undefined : this.#remembered();
    this.#transportIndex = Math.max(
      0,
      this.#o.transports.indexOf(remembered ?? this.#o.transports[0]),
    );
  }

  /** Adds a listener; returns a function that removes it. */
  on(type, listener) {
    return this.#emitter.on(type, listener);
  }

  /** Adds a listener for messages of one channel; returns a function that removes it. */
  onChannel(channel, listener) {
    return this.#emitter.on(`channel:${channel}`, listener);
  }

  get state() {
    return this.#state;
  }

  get info() {
    return {
      state: this.#state,
      node: this.#node,
      url: this.#url,
      transport: this.#state === "connected" ? this.#transport : undefined,
      lastEventId: this.#lastEventId,
    };
  }

  /** Starts connecting; calling it again does nothing. Returns the client. */
  connect() {
    if (this.#started || this.#closed) return this;
    this.#started = true;
    this.#run().catch((err) =>
      this.#stop(
        new HalleyError(ErrorCode.PROTOCOL_ERROR, String(err?.stack ?? err), {
          fatal: true,
          cause: err,
        }),
      ),
    );
    return this;
  }

  /** Closes the connection for good; no listener is called after the `disconnected` state. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle?.close();
    this.#cancel?.();
    this.#final(undefined);
  }

  async #run() {
    while (!this.#closed) {
      this.#setState("connecting");
      const next = await this.#once();
      if (this.#closed) return;
      if (next === null) continue;
      await this.#sleep(next);
    }
  }

  /** One attempt: prepare, connect, wait for the end, then decide. Returns the delay before the next one, or null for at once. */
  async #once() {
    if (!this.#map) {
      const error = await this.#loadMap();
      if (error) return this.#retryLater(error);
    }
    if (this.#token === undefined) {
      const got = await this.#refreshToken("no token yet");
      if (got === TOKEN_TIMED_OUT) return this.#retryLater(undefined);
      if (!got) return null;
    }
    if (this.#closed) return null; // close() while the map or token was being fetched
    if (this.#overrideUrl && this.#overrideFailures >= MOVED_TARGET_ATTEMPTS) {
      // The node we were moved to stays unreachable: the operator may have rolled the map back.
      // Fetch the map again (from the owner under the map we have) and follow it.
      this.#overrideUrl = undefined;
      this.#overrideFailures = 0;
      const error = await this.#loadMap(
        owner(this.#o.userId, this.#map).publicUrl,
      );
      if (error) this.#emitError(error);
      if (this.#closed) return null;
    }
    const node = owner(this.#o.userId, this.#map);
    this.#node = this.#overrideUrl ? undefined : node.id;
    this.#url = this.#overrideUrl ?? node.publicUrl;
    this.#transport =
      this.#o.transport ?? this.#o.transports[this.#transportIndex];
    const usedOverride = this.#overrideUrl !== undefined;
    const result = await this.#open(this.#transport, this.#url);
    if (this.#closed) return null;
    if (result.ready) this.#attempt = 0;
    if (usedOverride && !result.ready) this.#overrideFailures += 1;
    let action = decide(result, { forced: this.#o.transport !== undefined });
    if (action === Action.PROBE) action = await this.#probe(result);
    return this.#act(action, result);
  }

  async #act(action, result) {
    const serverError = errorFrom(result);
    switch (action) {
      case Action.STOP:
        if (result.code === CloseCode.NORMAL) this.#stop(undefined);
        else
          this.#stop(
            serverError ??
              new HalleyError(
                ErrorCode.BAD_REQUEST,
                "the node refused the connection",
                { fatal: true },
              ),
          );
        return null;
      case Action.TOKEN: {
        if (this.#freshToken && !result.ready) {
          this.#stop(
            new HalleyError(
              ErrorCode.TOKEN_REFUSED,
              `a fresh token from getToken was rejected: ${serverError?.message ?? "401"}`,
              { status: serverError?.status, fatal: true },
            ),
          );
          return null;
        }
        if (!this.#o.getToken) {
          this.#stop(
            new HalleyError(
              ErrorCode.TOKEN_REFUSED,
              `the token was rejected and there is no getToken to ask for another: ${serverError?.message ?? "401"}`,
              { status: serverError?.status, fatal: true },
            ),
          );
          return null;
        }
        const got = await this.#refreshToken(
          result.control?.type === EventType.TOKEN_EXPIRED
            ? "token expired"
            : (serverError?.message ?? "401"),
        );
        return got === TOKEN_TIMED_OUT ? this.#retryLater(undefined) : null;
      }
      case Action.MOVED: {
        const target = movedTarget(result);
        if (result.control?.type === EventType.MOVED) {
          // The old owner's handoff goes verbatim to the new owner with the position it is about
          // (docs/protocol.md, "Resharding"); a `moved` without one (or a 421) resumes as before.
          const h = result.control.handoff;
          this.#handoff =
            typeof h === "string" && h !== "" && this.#lastEventId
              ? { handoff: h, lastEventId: this.#lastEventId }
              : undefined;
        }
        const error = await this.#loadMap(target.url);
        if (error) this.#emitError(error);
        if (
          target.url &&
          (error || (target.mapVersion ?? 0) > this.#map.version)
        ) {
          if (this.#overrideUrl !== target.url) this.#overrideFailures = 0;
          this.#overrideUrl = target.url;
        }
        this.#moves += 1;
        // Go at once; back off only if nodes keep sending us around without a connection.
        return result.ready || this.#moves <= 2
          ? null
          : this.#retryLater(undefined);
      }
      case Action.RECONNECT: {
        const delayMs = Math.min(
          Math.max(0, Number(result.control?.delayMs) || 0),
          this.#o.maxReconnectDelayMs,
        );
        this.#setState("disconnected", { willRetry: true, delayMs });
        return delayMs;
      }
      case FALLBACK: {
        this.#wsStrikes = 0;
        this.#transportIndex =
          (this.#transportIndex + 1) % this.#o.transports.length;
        if (this.#transportIndex !== 0) return null; // next transport at once
        return this.#retryLater(
          new HalleyError(
            ErrorCode.TRANSPORT_UNAVAILABLE,
            "every transport failed; retrying from the first",
            { status: result.status },
          ),
        );
      }
      default:
        return this.#retryLater(serverError);
    }
  }

  /** Opens one transport and resolves when it ends, with `{ ready, control, ...result }`. */
  #open(name, baseUrl) {
    return new Promise((resolve) => {
      let ready = false;
      let control;
      let timer;
      let settled = false;
      let heartbeatMs = this.#o.heartbeatMs;
      const finish = (result) => {
        if (settled) return;
        settled = true;
        this.#deps.clearTimeout(timer);
        this.#cancel = undefined;
        resolve({ ...result, ready, control });
      };
      const arm = (ms, onTimeout) => {
        this.#deps.clearTimeout(timer);
        timer = this.#deps.setTimeout(() => {
          this.#handle?.close();
          finish(onTimeout());
        }, ms);
      };
      const idleMs = () =>
        name === "longpoll"
          ? this.#o.longPollTimeoutMs + 15000
          : 2 * heartbeatMs + 5000;
      const activity = () =>
        ready && arm(idleMs(), () => ({ opened: true, idle: true }));
      const markReady = (hello) => {
        ready = true;
        this.#wsStrikes = 0;
        this.#moves = 0;
        if (hello?.node) this.#node = hello.node;
        if (hello?.heartbeatMs > 0) heartbeatMs = hello.heartbeatMs;
        if (!this.#o.transport) this.#remember(name);
        this.#freshToken = false;
        activity();
        this.#setState("connected", {
          node: this.#node,
          url: this.#url,
          transport: name,
          epoch: hello?.epoch,
        });
        this.#overrideUrl = undefined;
        this.#overrideFailures = 0;
      };
      const handlers = {
        onDebug: (message) =>
          this.#emitter.emit("debug", { transport: name, message }),
        onOpen: () => name === "longpoll" && markReady(undefined),
        onActivity: activity,
        onPosition: (id) => {
          if (id) this.#lastEventId = id;
          activity();
        },
        onEvent: (event) => {
          if (settled) return;
          activity();
          switch (event.type) {
            case EventType.HELLO:
              if (typeof event.lastEventId === "string" && event.lastEventId)
                this.#lastEventId = event.lastEventId;
              if (!ready) markReady(event);
              break;
            case EventType.MESSAGE: {
              this.#lastEventId = event.id;
              const message = { id: event.id, data: event.data };
              if (event.channel !== undefined) message.channel = event.channel;
              if (typeof event.key === "string") message.key = event.key;
              this.#emitter.emit("message", message);
              if (event.channel !== undefined)
                this.#emitter.emit(`channel:${event.channel}`, message);
              break;
            }
            case EventType.RESET:
              this.#lastEventId = event.id;
              this.#emitter.emit("reset", {
                id: event.id,
                reason: event.reason,
              });
              break;
            case EventType.MOVED:
            case EventType.RECONNECT:
            case EventType.TOKEN_EXPIRED:
              control = event;
              break;
            case EventType.DISCONNECT:
              control = event;
              this.#emitter.emit("disconnect", {
                code: event.code,
                reason: event.reason,
                until: event.until,
              });
              break;
            default: // ping and unknown types: activity only
          }
        },
        onEnd: finish,
      };
      this.#cancel = () => finish({ cancelled: true });
      arm(this.#o.helloTimeoutMs, () => ({ opened: false, timeout: true }));
      const module = TRANSPORT_MODULES[name];
      const deps = { fetch: this.#deps.fetch, WebSocket: this.#deps.WebSocket };
      const params = {
        baseUrl,
        token: this.#token,
        lastEventId: this.#lastEventId,
        handoff: this.#currentHandoff(),
        timeoutMs: this.#o.longPollTimeoutMs,
        conflationIntervalMs: this.#o.conflationIntervalMs,
      };
      this.#handle = module.connect(params, handlers, deps);
    });
  }

  /**
   * The handoff of the last `moved`, while the client still resumes from the position it came
   * with: once a new owner answered (hello, a message, a reset or a poll batch moved the
   * position on), it is spent and forgotten.
   */
  #currentHandoff() {
    if (this.#handoff && this.#handoff.lastEventId !== this.#lastEventId)
      this.#handoff = undefined;
    return this.#handoff?.handoff;
  }

  /**
   * The WebSocket never opened and the browser hides the HTTP status, so ask the node over plain
   * HTTP (`GET /v1/poll` answers at once). A 200 means the node is fine and WebSocket is blocked
   * on the way: after two such strikes in a row, fall back. The probe sends no `lastEventId`, so
   * the node answers from the current position instead of replaying the buffer to be thrown away.
   */
  async #probe(result) {
    let response;
    try {
      response = await this.#deps.fetch(
        transportUrl(this.#url, "/v1/poll", { token: this.#token }),
        { cache: "no-store" },
      );
    } catch {
      return Action.BACKOFF; // the node is down or unreachable
    }
    if (!response.ok) {
      result.status = response.status;
      result.body = await readErrorBody(response);
      return actionForStatus(response.status);
    }
    response.body?.cancel?.().catch?.(() => {});
    this.#wsStrikes += 1;
    if (this.#o.transport) {
      this.#emitError(
        new HalleyError(
          ErrorCode.TRANSPORT_UNAVAILABLE,
          `${this.#transport} is forced but cannot connect to ${this.#url}`,
        ),
      );
      return Action.BACKOFF;
    }
    return this.#wsStrikes >= 2 ? FALLBACK : Action.BACKOFF;
  }

  async #loadMap(hintUrl) {
    const { getMap, mapUrl } = this.#o;
    const url =
      mapUrl ??
      ((hintUrl ?? this.#url)
        ? transportUrl(hintUrl ?? this.#url, "/v1/map", {})
        : undefined);
    try {
      if (getMap) this.#map = toMap(await getMap());
      else if (url) {
        const response = await this.#deps.fetch(url, { cache: "no-store" });
        if (!response.ok)
          throw new Error(`GET ${url}: HTTP ${response.status}`);
        this.#map = toMap(await response.text());
      } else throw new Error("no map, mapUrl or getMap");
      return undefined;
    } catch (err) {
      return new HalleyError(
        ErrorCode.MAP_UNAVAILABLE,
        `cannot load the cluster map: ${err?.message ?? err}`,
        { cause: err },
      );
    }
  }

  /**
   * Asks getToken, waiting up to getTokenTimeoutMs. Returns true with a new token; on refusal stops
   * for good and returns false; on timeout reports token_timeout and returns TOKEN_TIMED_OUT (the
   * caller retries with backoff).
   */
  async #refreshToken(why) {
    let token;
    let timer;
    try {
      const timeout = new Promise((resolve) => {
        timer = this.#deps.setTimeout(
          () => resolve(TOKEN_TIMED_OUT),
          this.#o.getTokenTimeoutMs,
        );
      });
      token = await Promise.race([
        Promise.resolve(this.#o.getToken({ reason: why })),
        timeout,
      ]);
      this.#deps.clearTimeout(timer);
      if (token === TOKEN_TIMED_OUT) {
        if (!this.#closed)
          this.#emitError(
            new HalleyError(
              ErrorCode.TOKEN_TIMEOUT,
              `getToken did not answer within ${this.#o.getTokenTimeoutMs} ms`,
            ),
          );
        return TOKEN_TIMED_OUT;
      }
    } catch (err) {
      this.#deps.clearTimeout(timer);
      this.#stop(
        new HalleyError(
          ErrorCode.TOKEN_REFUSED,
          `getToken failed: ${err?.message ?? err}`,
          { fatal: true, cause: err },
        ),
      );
      return false;
    }
    if (this.#closed) return false;
    if (typeof token !== "string" || token === "") {
      this.#stop(
        new HalleyError(
          ErrorCode.TOKEN_REFUSED,
          `getToken returned no token: ${token}`,
          { fatal: true },
        ),
      );
      return false;
    }
    this.#token = token;
    this.#freshToken = true;
    return true;
  }

  #retryLater(error) {
    const delayMs = backoffDelay(
      this.#attempt,
      this.#o.backoff,
      this.#deps.random,
    );
    this.#attempt += 1;
    if (error) this.#emitError(error);
    this.#setState("disconnected", { willRetry: true, delayMs, error });
    return delayMs;
  }

  #sleep(ms) {
    if (ms === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.#deps.setTimeout(() => {
        this.#cancel = undefined;
        resolve();
      }, ms);
      this.#cancel = () => {
        this.#deps.clearTimeout(timer);
        resolve();
      };
    });
  }

  #stop(error) {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle?.close();
    this.#cancel?.();
    if (error) {
      error.fatal = true; // the client stops: whatever the refusal was, it is final now
      this.#emitError(error);
    }
    this.#final(error);
  }

  #final(error) {
    if (this.#done) return;
    this.#state = "disconnected";
    this.#done = true;
    this.#emitter.emit("state", "disconnected", { willRetry: false, error });
  }

  #emitError(error) {
    if (!this.#done) this.#emitter.emit("error", error);
  }

  #setState(state, detail = {}) {
    if (this.#done || this.#closed || state === this.#state) return;
    this.#state = state;
    this.#emitter.emit("state", state, detail);
  }

  /** The stored `{transport, since}`, or undefined (none, unreadable, or another format). */
  #stored() {
    try {
      const v = JSON.parse(this.#deps.storage?.getItem(this.#o.storageKey));
      return v && this.#o.transports.includes(v.transport) ? v : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The transport that worked last time, unless it was chosen more than rememberTransportMs ago:
   * then the client starts from the first transport again (a slow deploy does not demote a
   * browser to long-polling for good).
   */
  #remembered() {
    const v = this.#stored();
    if (!v || !(this.#deps.now() - v.since < this.#o.rememberTransportMs))
      return undefined;
    return v.transport;
  }

  #remember(name) {
    try {
      const before = this.#stored();
      // Keep the time it was first chosen, so it is re-probed after rememberTransportMs.
      const since =
        before?.transport === name && Number.isFinite(before.since)
          ? before.since
          : this.#deps.now();
      this.#deps.storage?.setItem(
        this.#o.storageKey,
        JSON.stringify({ transport: name, since }),
      );
    } catch {}
  }
}
