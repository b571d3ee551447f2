// The socket.io 4 server of the fan-out benchmark: what a team would write with socket.io to do
// the job of our dev server's /ws/typed-chat in that benchmark, with socket.io's default settings.
//
//   node bench/fanout/socketio-server.mjs [--port 0]   prints "listening on http://127.0.0.1:PORT"
//
// - `new Server(http)` with nothing changed but `serveClient: false`: both transports offered
//   (the load generators ask for the WebSocket one), no per-message compression (the default),
//   the in-memory adapter, no connection state recovery (not a default).
// - Events: `join {room}` → the socket joins the room; ack `{room, members}` (the room's size);
//   `message {room, text}` → `io.to(room).emit("message", {room, userId, name, text, timestamp})`,
//   the sender included, as our server and bench/node-ws/server.mjs do. A message for a room the
//   socket is not in gets an ack `{error}` when it asked for one, and is dropped.
// - `GET /healthz` → `{"status":"ok"}`.

import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { listen, onJoin } from '../socketio-rooms.mjs';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));
const { Server } = require('socket.io');

const portFlag = process.argv.indexOf('--port');
const port = portFlag > 0 ? Number(process.argv[portFlag + 1]) : 0;

let nextUser = 0;

const http = createServer((req, res) => {
  const ok = req.method === 'GET' && req.url === '/healthz';
  res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
  res.end(ok ? '{"status":"ok"}' : '{}');
});

const io = new Server(http, { serveClient: false });

io.on('connection', (socket) => {
  nextUser += 1;
  const userId = `u${nextUser}`;
  const name = String(socket.handshake.query.name || '').trim().slice(0, 32) || `Guest ${nextUser}`;
  onJoin(socket, (room) => ({ members: io.of('/').adapter.rooms.get(room)?.size ?? 0 }));
  socket.on('message', (msg, ack) => {
    const room = msg && typeof msg.room === 'string' ? msg.room : '';
    if (!socket.rooms.has(room) || typeof msg.text !== 'string') {
      if (typeof ack === 'function') ack({ error: 'not_in_room', message: 'join the room first' });
      return;
    }
    io.to(room).emit('message', { room, userId, name, text: msg.text, timestamp: Date.now() });
  });
});

listen(http, io, port);
