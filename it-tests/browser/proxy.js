// A tiny HTTP proxy in front of one node's public listener, for the tests that break the network:
// it streams responses through unbuffered, and on demand refuses WebSocket upgrades (as some
// corporate proxies do), buffers event streams, cuts every open connection, or drops new ones
// until released.

import http from "node:http";
import net from "node:net";

export async function startProxy(targetPort, host = "127.0.0.1") {
  const sockets = new Set();
  const track = (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  const state = { refuseUpgrades: false, bufferStreams: false, down: false };

  const server = http.createServer((req, res) => {
    const upstream = http.request(
      {
        host,
        port: targetPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: false,
      },
      (answer) => {
        res.writeHead(answer.statusCode, answer.rawHeaders);
        res.flushHeaders();
        if (
          state.bufferStreams &&
          String(answer.headers["content-type"]).startsWith("text/event-stream")
        ) {
          // Like a proxy with response buffering on: nothing reaches the client before the end.
          const chunks = [];
          answer.on("data", (chunk) => chunks.push(chunk));
          answer.on("end", () => res.end(Buffer.concat(chunks)));
          return;
        }
        answer.pipe(res);
      },
    );
    upstream.on("socket", track);
    upstream.on("error", () => res.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on("connection", (socket) => {
    if (state.down) {
      socket.destroy();
      return;
    }
    track(socket);
  });
  server.on("upgrade", (req, socket, head) => {
    if (state.refuseUpgrades) {
      socket.end(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 24\r\nconnection: close\r\n\r\nupgrades are not allowed",
      );
      return;
    }
    const upstream = net.connect(targetPort, host, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(lines.join("\r\n") + "\r\n\r\n");
      if (head.length) upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    track(upstream);
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
    socket.on("close", () => upstream.destroy());
    upstream.on("close", () => socket.destroy());
  });
  await new Promise((resolve) => server.listen(0, host, resolve));

  return {
    port: server.address().port,
    /** Refuse (403) every WebSocket upgrade from now on, or stop refusing. */
    refuseUpgrades(on) {
      state.refuseUpgrades = on;
    },
    /** Hold event-stream bodies until the response ends (a buffering proxy), or stop holding. */
    bufferStreams(on) {
      state.bufferStreams = on;
    },
    /** Destroy every open connection, both sides; with `down`, also drop new ones until up(). */
    cut({ down = false } = {}) {
      state.down = down;
      for (const socket of sockets) socket.destroy();
    },
    up() {
      state.down = false;
    },
    /** Connections open through the proxy right now (client and upstream sides). */
    openSockets() {
      return sockets.size;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
