// Debian's chromium driven by playwright-core: never a downloaded browser. Playwright gives each
// launch a fresh temporary --user-data-dir, and each user below gets a fresh context (cookies).

import { chromium } from "playwright-core";
import { existsSync } from "node:fs";

export const CHROMIUM = process.env.HALLEY_CHROMIUM ?? "/usr/bin/chromium";

export async function launchBrowser() {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Logs `user` into the chat in a fresh context; resolves once the page is connected. */
export async function openChat(
  browser,
  chatUrl,
  user,
  { transport, viewport, query = {} } = {},
) {
  const context = await browser.newContext({
    viewport: viewport ?? { width: 900, height: 640 },
  });
  const page = await context.newPage();
  const console = [];
  page.on("console", (m) => console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.push(`pageerror: ${e.message}`));
  const params = new URLSearchParams({
    ...(transport ? { transport } : {}),
    ...query,
  });
  await page.goto(`${chatUrl}/${params.size ? `?${params}` : ""}`);
  await page.fill("#name", user);
  await page.click("#login button");
  const chat = {
    page,
    context,
    console,
    user,
    status: () =>
      page.evaluate(() => ({ ...document.getElementById("status").dataset })),
    /** Waits until the page is connected (optionally to `node`, by `transport`). */
    connected: (node, via) =>
      page.waitForFunction(
        ([n, t]) => {
          const s = document.getElementById("status").dataset;
          return (
            s.state === "connected" &&
            (!n || s.node === n) &&
            (!t || s.transport === t)
          );
        },
        [node, via],
        { timeout: 60000 },
      ),
    /** Texts of live messages received so far, in order (duplicates kept). */
    texts: () => page.evaluate(() => window.chat.live.map((m) => m.text)),
    waitForText: (text) =>
      page.waitForFunction(
        (t) => window.chat.live.some((m) => m.text === t),
        text,
        { timeout: 60000 },
      ),
    /** Waits until this page has received every one of `texts` (in any order). */
    waitForTexts: (texts) =>
      page.waitForFunction(
        (ts) => ts.every((t) => window.chat.live.some((m) => m.text === t)),
        texts,
        { timeout: 60000 },
      ),
    /**
     * Posts and waits until the chat server answered: the page clears the field when the post was
     * accepted, or shows an error. (Filling the field while an earlier post's answer is still on
     * its way would race with the page clearing it.)
     */
    post: async (text) => {
      await page.fill("#text", text);
      await page.click("#post button");
      await page.waitForFunction(
        () =>
          document.getElementById("text").value === "" ||
          !document.getElementById("error").hidden,
        null,
        { timeout: 60000 },
      );
    },
    close: () => context.close(),
  };
  try {
    await chat.connected();
  } catch (err) {
    err.message += `\n--- page ${user} (never connected)\n${console.join("\n")}`;
    await context.close();
    throw err;
  }
  return chat;
}
