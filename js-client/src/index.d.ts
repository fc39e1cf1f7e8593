// Type definitions for @halley/js-client. The wire protocol is docs/protocol.md.

/** A transport name, in the default fallback order. */
export type TransportName = "websocket" | "sse" | "longpoll";

/** The client's state: trying to connect, connected (hello seen), or not connected. */
export type State = "connecting" | "connected" | "disconnected";

/** A node of the cluster map's public view (`GET /v1/map`). */
export interface MapNode {
  id: string;
  publicUrl: string;
  weight?: number;
}

/** The cluster map as served by `GET /v1/map` (a full map with internal URLs works too). */
export interface ClusterMapDocument {
  version: number;
  nodes: MapNode[];
}

/** A node of a map that parseMap returned: frozen, with its weight filled in (default 1). */
export interface ParsedMapNode {
  readonly id: string;
  readonly publicUrl: string;
  readonly weight: number;
}

/**
 * A map that parseMap validated: frozen, nodes in document order, without internal URLs. Only
 * parseMap makes one (the brand keeps a hand-built object from passing for one).
 */
export interface ClusterMap {
  readonly version: number;
  readonly nodes: readonly ParsedMapNode[];
  readonly [parsedMap]: true;
}
declare const parsedMap: unique symbol;

/** The token: a JWT (`token`), a function that gets one (`getToken`), or both. */
export type TokenSource =
  | { token: string; getToken?: GetToken }
  | { token?: undefined; getToken: GetToken };

/**
 * Called for a first token when `token` is absent, and again whenever the node rejects the token
 * (401, close code 4001). Throw or return nothing to refuse: the client then stops with
 * `token_refused`. It also stops if a fresh token is rejected before any connection succeeds.
 */
export type GetToken = (context: {
  reason: string;
}) => string | Promise<string>;

/** A map as the client accepts it: a parsed map, a document, or its JSON text. */
export type MapInput = ClusterMap | ClusterMapDocument | string;

/** Fetches the map (e.g. from the app's own connect endpoint). */
export type GetMap = () => MapInput | Promise<MapInput>;

/**
 * Where the map comes from: at least one of `map` (given at once), `mapUrl` (fetched) or `getMap`
 * (called). When the map is stale (421, `moved`), the client fetches it again: from getMap, from
 * mapUrl, or else from `GET /v1/map` on the node that redirected it.
 */
export type MapSource =
  | { map: MapInput; mapUrl?: string; getMap?: GetMap }
  | { map?: undefined; mapUrl: string; getMap?: GetMap }
  | { map?: undefined; mapUrl?: undefined; getMap: GetMap };

/** The client's options: the common ones, a token source and a map source. */
export type Options = CommonOptions & TokenSource & MapSource;

export interface CommonOptions {
  /** The user ID; its owner node is `owner(userId, map)`. */
  userId: string;
  /** Forces one transport: no fallback, the client retries it with backoff. */
  transport?: TransportName;
  /** Fallback order; default `["websocket", "sse", "longpoll"]`. */
  transports?: TransportName[];
  /** Resume point (an event ID from an earlier session). */
  lastEventId?: string;
  /**
   * Full-jitter backoff: the delay before retry n (0-based) is uniform in
   * `[0, min(maxDelayMs, baseDelayMs * 2^n))`. Defaults: baseDelayMs 500, maxDelayMs 30000.
   * The count restarts after every successful connection.
   */
  backoff?: { baseDelayMs?: number; maxDelayMs?: number };
  /**
   * Milliseconds to wait for the first event (WebSocket, SSE: `hello`; long-poll: the first
   * answer) before deciding that the transport is blocked and falling back; default 10000.
   */
  helloTimeoutMs?: number;
  /** Milliseconds a node holds a long-poll request (`timeoutMs`); default 25000. */
  longPollTimeoutMs?: number;
  /**
   * The frequency limit: at most one message per conflation key per this many milliseconds, the
   * newest (`conflationIntervalMs` on every transport; docs/protocol.md "Frequency limit"); 0 (the
   * default) for none. An integer below `helloTimeoutMs`, at most the node's
   * `conflationIntervalMaxMs` (10000 by default).
   */
  conflationIntervalMs?: number;
  /**
   * Heartbeat interval assumed until `hello` says otherwise, in milliseconds; default 30000.
   * A connection silent for 2 heartbeats + 5 s (long-poll: timeout + 15 s) is dropped and resumed.
   */
  heartbeatMs?: number;
  /** Upper bound for a draining node's `reconnect` delay, milliseconds; default 60000. */
  maxReconnectDelayMs?: number;
  /**
   * How long `getToken` may take, milliseconds; default 10000. On timeout the client reports
   * `token_timeout` and retries with backoff.
   */
  getTokenTimeoutMs?: number;
  /**
   * How long a remembered transport is used before the first transport is tried again,
   * milliseconds from when it was first chosen; default 3600000 (one hour).
   */
  rememberTransportMs?: number;
  /**
   * Where the transport that worked is remembered, so the next connection starts with it;
   * default `sessionStorage` when available. `null` disables remembering.
   */
  storage?: Pick<Storage, "getItem" | "setItem"> | null;
  /** Storage key; default `"halley.transport"`. */
  storageKey?: string;
}

/** A message event. `data` is the JSON value the app published. */
export interface Message {
  /** The event ID (opaque; the client resumes from it). */
  id: string;
  data: unknown;
  /** Set for channel messages. */
  channel?: string;
  /**
   * The message's key (its idempotency key, router-lib's `PublishResult.id()`), when the node sent
   * one: the same on every node, so an app can tell one message from another across a move.
   */
  key?: string;
}

/** The resume point was not covered (`gap`) or the node restarted (`epoch`): reload app state. */
export interface Reset {
  id: string;
  reason: "gap" | "epoch" | string;
}

export interface StateDetail {
  /** Set with `connected`. */
  node?: string;
  url?: string;
  transport?: TransportName;
  epoch?: string;
  /** Set with `disconnected`: false after close() or a fatal error. */
  willRetry?: boolean;
  /** Milliseconds until the next attempt, when one is scheduled. */
  delayMs?: number;
  error?: HalleyError;
}

export interface ClientInfo {
  state: State;
  /** The node ID connected to (or targeted). */
  node?: string;
  url?: string;
  /** The transport in use while connected. */
  transport?: TransportName;
  lastEventId?: string;
}

/** A diagnostic: why the client did something it would otherwise do silently. */
export interface DebugEvent {
  /** The transport concerned, when there is one. */
  transport?: TransportName;
  message: string;
}

/** A `disconnect` event: the app ended the connection (docs/protocol.md, "Access"). */
export interface Disconnect {
  /** `disconnected` and `user_blocked` stop the client; `token_revoked` asks getToken once. */
  code: "disconnected" | "user_blocked" | "token_revoked" | string;
  /** The app's text, when it gave one. */
  reason?: string;
  /** For `user_blocked`: epoch milliseconds when the block ends. */
  until?: number;
}

export interface EventMap {
  /** Diagnostics, e.g. that there is no WebSocket implementation (Node < 22) before falling back. */
  debug: (event: DebugEvent) => void;
  message: (message: Message) => void;
  reset: (reset: Reset) => void;
  /** The app disconnected, blocked or revoked this user's connection; the client then decides. */
  disconnect: (disconnect: Disconnect) => void;
  state: (state: State, detail: StateDetail) => void;
  error: (error: HalleyError) => void;
}

export declare class Client {
  constructor(options: Options);
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof EventMap>(type: K, listener: EventMap[K]): () => void;
  /** Adds a listener for the messages of one channel; returns a function that removes it. */
  onChannel(channel: string, listener: (message: Message) => void): () => void;
  /** Starts connecting; calling it again does nothing. */
  connect(): this;
  /** Closes for good; the last event is the `disconnected` state with `willRetry: false`. */
  close(): void;
  readonly state: State;
  readonly info: ClientInfo;
}

/** Creates a client (not yet connected: add listeners, then call connect()). */
export declare function createClient(options: Options): Client;

/** An error reported through `error` listeners and `disconnected` states. */
export declare class HalleyError extends Error {
  /** An ErrorCode value, a close code name (e.g. `slow_consumer`), or `http_<status>`. */
  readonly code: string;
  /** The HTTP status or WebSocket close code, when the server sent one. */
  readonly status?: number;
  /** True when the client stopped; false when it keeps reconnecting. */
  readonly fatal: boolean;
  /** For `user_blocked`: epoch milliseconds when the block ends. */
  readonly until?: number;
}

export declare const CloseCode: Readonly<{
  NORMAL: 1000;
  ABNORMAL: 1006;
  PROTOCOL_ERROR: 1002;
  INVALID_PAYLOAD: 1007;
  MESSAGE_TOO_BIG: 1009;
  BAD_REQUEST: 4000;
  UNAUTHORIZED: 4001;
  FORBIDDEN: 4003;
  SLOW_CONSUMER: 4008;
  MOVED: 4009;
  RECONNECT: 4010;
  SERVER_ERROR: 4011;
  TOO_MANY_CONNECTIONS: 4029;
  DISCONNECTED: 4030;
  USER_BLOCKED: 4031;
  TOKEN_REVOKED: 4032;
}>;

export declare const ErrorCode: Readonly<Record<string, string>> & {
  readonly TOKEN_REFUSED: "token_refused";
  readonly TOKEN_TIMEOUT: "token_timeout";
  readonly MAP_UNAVAILABLE: "map_unavailable";
  readonly TRANSPORT_UNAVAILABLE: "transport_unavailable";
  readonly PROTOCOL_ERROR: "protocol_error";
  readonly USER_BLOCKED: "user_blocked";
  readonly TOKEN_REVOKED: "token_revoked";
  readonly DISCONNECTED: "disconnected";
};

export declare const EventType: Readonly<{
  HELLO: "hello";
  MESSAGE: "message";
  RESET: "reset";
  MOVED: "moved";
  RECONNECT: "reconnect";
  PING: "ping";
  DISCONNECT: "disconnect";
  TOKEN_EXPIRED: "token_expired";
}>;

export declare const TRANSPORTS: readonly TransportName[];

export declare const DEFAULT_BACKOFF: Readonly<{
  baseDelayMs: number;
  maxDelayMs: number;
}>;

/**
 * The node that owns `userId` under `map` (docs/hashing.md). Pass what parseMap returned: its
 * replica table is computed once. A document is validated on every call (and never cached, so a
 * mutated document cannot give stale owners). Throws TypeError for an invalid map or a user ID
 * that is not valid Unicode (an unpaired surrogate).
 */
export declare function owner(
  userId: string,
  map: ClusterMap | ClusterMapDocument,
): ParsedMapNode;

/**
 * Parses and validates a cluster map (docs/cluster-map.md): JSON text, or an already decoded
 * object (which cannot tell `2.0` from `2`: pass the text when you have it). Throws TypeError
 * naming the bad value.
 */
export declare function parseMap(
  json: string | ClusterMapDocument | object,
): ClusterMap;
