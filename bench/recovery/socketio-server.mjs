// The comparison server of the recovery benchmark: socket.io 4 with connection state recovery,
// doing what our dev server's /ws/typed-chat does in that benchmark and nothing more.
//
//   node bench/recovery/socketio-server.mjs [--port 0]   prints "listening on http://127.0.0.1:PORT"
//
// - WebSocket transport only (no long-polling), no per-message compression (socket.io's default).
// - `connectionStateRecovery: { maxDisconnectionDuration: 2 min, skipMiddlewares: true }`: the
//   in-memory adapter stores every room broadcast with an offset, and a client that comes back
//   within 2 min with its session id and last offset gets its rooms back and the packets it
//   missed (`socket.recovered` is then true on both sides).
// - Events: `join {room}` (ack `{room, seq}`: the room's latest seq), `message {room, text,
//   clientId}` → `io.to(room).emit("message", {room, userId, name, text, timestamp, seq})` (seq
//   +1 per message in the room, as in our protocol; the benchmark checks order, loss and
//   duplicates with it; socket.io's own recovery uses its offsets, not this seq) and ack
//   `{room, clientId, seq}` to the sender.
// - `POST /api/test/drop-sockets` → every connected socket's underlying connection is closed
//   abruptly (TCP closed, no close frame: ws `terminate()`, as our server's test endpoint does),
//   answers `{"dropped":N}`. Engine.io reports that as "transport close" on both sides, a reason
//   socket.io recovers from.
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

const seqs = new Map(); // room → latest seq
let nextUser = 0;
let recovered = 0;

const http = createServer((req, res) => {
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'GET' && req.url === '/healthz') return reply(200, { status: 'ok' });
  if (req.method === 'GET' && req.url === '/api/test/stats') {
    return reply(200, { sockets: io.of('/').sockets.size, recovered });
  }
  if (req.method === 'POST' && req.url === '/api/test/drop-sockets') {
    req.resume();
    req.on('end', () => {
      let dropped = 0;
      for (const socket of io.of('/').sockets.values()) {
        const ws = socket.conn.transport?.socket;
        if (ws && typeof ws.terminate === 'function') ws.terminate();
        else socket.conn.close();
        dropped += 1;
      }
      reply(200, { dropped });
    });
    return;
  }
  reply(404, {});
});

const io = new Server(http, {
  transports: ['websocket'],
  serveClient: false,
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true },
});

io.on('connection', (socket) => {
  if (socket.recovered) {
    // Rooms and socket.data came back with the session; the missed packets are already queued.
    recovered += 1;
  } else {
    nextUser += 1;
    const name = String(socket.handshake.query.name || '').trim().slice(0, 32) || `Guest ${nextUser}`;
    socket.data.userId = `u${nextUser}`;
    socket.data.name = name;
  }
  onJoin(socket, (room) => ({ seq: seqs.get(room) || 0 }));
  socket.on('message', (msg, ack) => {
    const room = msg && typeof msg.room === 'string' ? msg.room : '';
    if (!socket.rooms.has(room) || typeof msg.text !== 'string') {
      if (typeof ack === 'function') ack({ error: 'invalid', message: 'not in that room' });
      return;
    }
    const seq = (seqs.get(room) || 0) + 1;
    seqs.set(room, seq);
    io.to(room).emit('message', {
      room, userId: socket.data.userId, name: socket.data.name, text: msg.text, timestamp: Date.now(), seq,
    });
    if (typeof ack === 'function') ack({ room, clientId: msg.clientId, seq });
  });
});

listen(http, io, port);
