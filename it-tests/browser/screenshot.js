// Takes docs/img/chat.png: two users, owned by different nodes, chatting in one room, side by
// side. Uses the same cluster harness and browser as the tests: `npm run screenshot`.
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { Cluster } from "./cluster.js";
import { launchBrowser, openChat } from "./browser.js";
import { owner } from "../../js-client/src/hash.js";
import { parseMap } from "../../js-client/src/map.js";

const out = resolve(import.meta.dirname, "../../docs/img/chat.png");
const [cluster, browser] = await Promise.all([
  Cluster.start(["a", "b", "c"]),
  launchBrowser(),
]);
try {
  const map = parseMap(JSON.stringify(cluster.publicMap()));
  const names = [
    "ada",
    "grace",
    "alan",
    "edsger",
    "barbara",
    "linus",
    "ken",
    "dennis",
    "margaret",
    "donald",
  ];
  const named = (node) => names.find((u) => owner(u, map).id === node);
  const viewport = { width: 560, height: 520 };
  const ada = await openChat(browser, cluster.chatUrl, named("a"), {
    viewport,
  });
  const linus = await openChat(browser, cluster.chatUrl, named("b"), {
    viewport,
    transport: "sse",
  });
  const lines = [
    [ada, "Hi! I'm connected to node a over WebSocket."],
    [linus, "Hello from node b, over Server-Sent Events."],
    [ada, "Different nodes, same room: router-lib published to both."],
    [
      linus,
      "And if my node restarts, the page gets a reset and reloads the room.",
    ],
  ];
  for (const [chat, text] of lines) {
    await chat.post(text);
    await Promise.all([ada.waitForText(text), linus.waitForText(text)]);
  }
  const shots = [await ada.page.screenshot(), await linus.page.screenshot()];
  const page = await (
    await browser.newContext({ viewport: { width: 1140, height: 540 } })
  ).newPage();
  const img = (png) =>
    `<img src="data:image/png;base64,${png.toString("base64")}">`;
  await page.setContent(
    `<body style="margin:0;padding:10px;background:#c9ced8;display:flex;gap:10px">${shots.map(img).join("")}</body>`,
  );
  mkdirSync(resolve(out, ".."), { recursive: true });
  writeFileSync(out, await page.screenshot());
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await cluster.close();
}
