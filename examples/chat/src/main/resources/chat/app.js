// The chat page: logs in through the app server, connects with js-client, shows rooms.
// For tests and curious readers, `window.chat` holds what the client reported, in order.

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const forcedTransport = params.get("transport") || undefined;
const helloTimeoutMs = Number(params.get("helloTimeoutMs")) || undefined; // tests shorten it

const chat = (window.chat = {
  live: [],
  direct: [],
  resets: [],
  states: [],
  errors: [],
  online: [],
  tokenRequests: 0,
  client: null,
});
const rooms = new Map(); // room -> Map(seq -> message), merged from history and live messages
let currentRoom;
let onlineTimer;
const ONLINE_REFRESH_MS = 3000;

async function api(method, path, body, { keepSession = false } = {}) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(json.message || `HTTP ${response.status}`);
    error.code = json.error;
    error.status = response.status;
    if (json.error === "not_logged_in" && !keepSession) {
      if (chat.client) backToLogin();
      error.handled = chat.sessionEnded; // the login form says why
    }
    throw error;
  }
  return json;
}

// The session is gone (it expired, or the server's session key changed): say so and show the
// login form, rather than a page that looks connected but cannot post.
function backToLogin(why = "Your session has ended: log in again.") {
  chat.client?.close();
  chat.client = null;
  clearInterval(onlineTimer);
  chat.sessionEnded = true;
  $("chat").hidden = true;
  $("login").hidden = false;
  showError(why);
  loadSuggestions();
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function setStatus(state, detail = {}) {
  const status = $("status");
  status.dataset.state = state;
  status.dataset.node = detail.node ?? "";
  status.dataset.transport = detail.transport ?? "";
  if (state === "connected") {
    status.textContent = `connected to node ${detail.node} (${detail.url}) via ${detail.transport}`;
  } else if (state === "connecting") {
    status.textContent = "connecting…";
  } else {
    status.textContent = detail.willRetry
      ? `disconnected; retrying in ${Math.round((detail.delayMs ?? 0) / 100) / 10} s`
      : `disconnected${detail.error ? `: ${detail.error.message}` : ""}`;
  }
}

function addMessage(message) {
  const room = rooms.get(message.room);
  if (!room) return;
  if (typeof message.seq !== "number") {
    // Published straight to the room's channel (e.g. the curl that ./halley run prints): no
    // chat sequence number, so it goes after what the page has seen.
    const last = Math.max(0, ...[...room.values()].map((m) => m.seq));
    message = { from: "(api)", at: new Date().toISOString(), ...message, seq: last + 0.001 };
  }
  const fresh = !room.has(message.seq);
  room.set(message.seq, message);
  if (message.room !== currentRoom) renderRooms();
  else if (fresh && message.seq > lastShownSeq()) appendMessage(message); // the usual case
  else renderMessages(); // out of order or a repeat: the list again, sorted
}

/** The seq of the last message in the list (-Infinity when empty). */
function lastShownSeq() {
  const last = $("messages").lastElementChild;
  return last ? Number(last.dataset.seq) : -Infinity;
}

/** Adds one message after the others (a new message, in order: no re-render of the room). */
function appendMessage(m) {
  const list = $("messages");
  list.append(messageItem(m));
  list.scrollTop = list.scrollHeight;
}

function renderRooms() {
  const nav = $("rooms");
  nav.replaceChildren(
    ...[...rooms.keys()].map((name) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `#${name}`;
      button.dataset.room = name;
      button.setAttribute("aria-current", String(name === currentRoom));
      button.onclick = () => selectRoom(name);
      return button;
    }),
  );
}

function renderMessages() {
  const list = $("messages");
  const messages = [...rooms.get(currentRoom).values()].sort((a, b) => a.seq - b.seq);
  list.replaceChildren(...messages.map(messageItem));
  list.scrollTop = list.scrollHeight;
}

function messageItem(m) {
  const li = document.createElement("li");
  li.dataset.seq = m.seq;
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = m.from;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = typeof m.text === "string" ? m.text : JSON.stringify(m);
  const at = document.createElement("time");
  at.className = "at";
  at.textContent = new Date(m.at).toLocaleTimeString();
  li.append(from, text, at);
  return li;
}

function selectRoom(name) {
  currentRoom = name;
  renderRooms();
  renderMessages();
}

async function loadHistory() {
  for (const name of rooms.keys()) {
    const { messages } = await api("GET", `/api/rooms/${encodeURIComponent(name)}/messages`);
    for (const m of messages) rooms.get(name).set(m.seq, m);
  }
  renderMessages();
}

function renderOnline(users) {
  chat.online = users;
  $("online").replaceChildren(
    ...users.map(({ user, node }) => {
      const li = document.createElement("li");
      li.textContent = `${user} (node ${node})`;
      return li;
    }),
  );
}

async function refreshOnline() {
  try {
    // keepSession: a background refresh never ends the page's session by itself (getToken and the
    // user's own actions do, each with its own message)
    renderOnline((await api("GET", "/api/online", undefined, { keepSession: true })).users);
  } catch {
    // shown again at the next refresh; a lost session is handled by api()
  }
}

async function loadSuggestions() {
  try {
    const { names } = await api("GET", "/api/suggestions");
    $("suggestions").replaceChildren(
      ...names.map(({ name, node }) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "suggestion";
        button.dataset.name = name;
        button.textContent = `${name} (node ${node})`;
        button.onclick = () => {
          $("name").value = name;
          $("name").focus();
        };
        return button;
      }),
    );
    $("suggestions-line").hidden = names.length === 0;
  } catch {
    $("suggestions-line").hidden = true;
  }
}

async function enterChat() {
  const info = await api("GET", "/api/connect");
  chat.sessionEnded = false;
  for (const name of info.rooms) rooms.set(name, new Map());
  currentRoom = info.rooms[0];
  $("login").hidden = true;
  $("chat").hidden = false;
  $("whoami").textContent = `You are ${info.user}. Your owner node is computed in this page from the map (version ${info.mapVersion}).`;
  renderRooms();

  const { createClient } = await import("/js/index.js");
  const client = createClient({
    userId: info.user,
    token: info.token,
    map: info.map,
    getToken: async () => {
      chat.tokenRequests += 1;
      // throws once logged out: the client stops with token_refused (handled below)
      return (await api("GET", "/api/token", undefined, { keepSession: true })).token;
    },
    getMap: () => api("GET", "/api/map"),
    transport: forcedTransport,
    helloTimeoutMs,
  });
  chat.client = client;
  chat.user = info.user;
  client.on("state", (state, detail) => {
    chat.states.push({ state, node: detail.node, transport: detail.transport });
    setStatus(state, { ...detail, url: detail.url });
    if (state === "connected") refreshOnline();
  });
  client.on("message", (message) => {
    const data = message.data !== null && typeof message.data === "object" ? message.data : { text: message.data };
    chat.live.push({ id: message.id, channel: message.channel, ...data });
    if (message.channel?.startsWith("room:")) {
      addMessage({ ...data, room: message.channel.slice("room:".length) });
    } else if (!message.channel) {
      chat.direct.push({ id: message.id, ...data });
      $("direct").textContent = `Message for you: ${typeof data.text === "string" ? data.text : JSON.stringify(data)}`;
      $("direct").hidden = false;
    }
  });
  client.on("reset", async (reset) => {
    chat.resets.push(reset);
    $("notice").textContent = `The stream was reset (${reset.reason}); history reloaded.`;
    $("notice").hidden = false;
    await loadHistory().catch((e) => e.handled || showError(e.message));
  });
  client.on("error", (error) => {
    chat.errors.push({ code: error.code, message: error.message, fatal: error.fatal });
    if (error.fatal && error.code === "token_refused") backToLogin(error.message);
    else if (error.fatal) showError(error.message);
  });
  client.connect();
  clearInterval(onlineTimer);
  onlineTimer = setInterval(refreshOnline, ONLINE_REFRESH_MS);
  await loadHistory();
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  try {
    await api("POST", "/api/login", { name: $("name").value.trim() });
    await enterChat();
  } catch (error) {
    showError(error.message);
  }
});

$("post").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("text");
  const text = input.value;
  if (!text.trim()) return;
  try {
    await api("POST", `/api/rooms/${encodeURIComponent(currentRoom)}/messages`, { text });
    input.value = "";
    showError("");
  } catch (error) {
    if (!error.handled) showError(error.message);
  }
});

// Already logged in (a reload)? Go straight in.
api("GET", "/api/session").then(
  ({ user }) => {
    if (user) return enterChat().catch((e) => showError(e.message));
    $("name").focus();
    return loadSuggestions();
  },
  (e) => showError(e.message),
);
