// The comparison server of the fan-out benchmark: what a team would write with Node and the `ws`
// package to do the same job as our dev server's /ws/typed-chat, no more and no less.
//
// Protocol subset (docs/protocol.md): `welcome {userId, name}` first; `join {room}` → the joiner
// gets `joined {room, users, members}`, the others `user:joined`; `message {room, text}` → every
// member, sender included, gets `message {room, userId, name, text, timestamp}` (serialised once,
// sent to each); `leave`; `ping` → `pong`; a closed socket leaves its rooms. Bad JSON gets
// `error {code:"malformed"}`. Like the dev server it disables Nagle (ws does by default) and has
// no per-message compression.
//
//   node bench/node-ws/server.mjs [--port 0]   prints "listening on http://127.0.0.1:PORT"

import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));
const { WebSocketServer } = require('ws');

const portFlag = process.argv.indexOf('--port');
const port = portFlag > 0 ? Number(process.argv[portFlag + 1]) : 0;

const rooms = new Map(); // room name → Set of clients
let nextUser = 0;

const http = createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(req.url === '/healthz' ? '{"status":"ok"}' : '{}');
});
const wss = new WebSocketServer({ server: http, path: '/ws/typed-chat', perMessageDeflate: false });

function send(client, message) {
  client.ws.send(JSON.stringify(message));
}

function broadcast(room, message, except) {
  const members = rooms.get(room);
  if (!members) return;
  const text = JSON.stringify(message);
  for (const member of members) {
    if (member !== except) member.ws.send(text);
  }
}

function leave(client, room) {
  const members = rooms.get(room);
  if (!members || !members.delete(client)) return false;
  if (members.size === 0) rooms.delete(room);
  client.rooms.delete(room);
  broadcast(room, { type: 'user:left', room, userId: client.userId });
  return true;
}

wss.on('connection', (ws, req) => {
  nextUser += 1;
  const query = new URL(req.url, 'http://localhost').searchParams;
  const name = (query.get('name') || '').trim().slice(0, 32) || `Guest ${nextUser}`;
  const client = { ws, userId: `u${nextUser}`, name, rooms: new Set() };
  send(client, { type: 'welcome', userId: client.userId, name });

  ws.on('message', (data, isBinary) => {
    let msg;
    try {
      msg = isBinary ? null : JSON.parse(data.toString());
    } catch {
      msg = null;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') {
      send(client, { type: 'error', code: 'malformed', message: 'expected a JSON object with a string "type"' });
      return;
    }
    const room = typeof msg.room === 'string' ? msg.room : '';
    switch (msg.type) {
      case 'join': {
        if (!/^[A-Za-z0-9_-]{1,32}$/.test(room)) {
          send(client, { type: 'error', code: 'invalid', message: 'bad room' });
          return;
        }
        let members = rooms.get(room);
        if (!members) rooms.set(room, (members = new Set()));
        if (!members.has(client)) {
          members.add(client);
          client.rooms.add(room);
          broadcast(room, { type: 'user:joined', room, userId: client.userId, name: client.name }, client);
        }
        const list = [...members];
        send(client, {
          type: 'joined',
          room,
          users: list.map((m) => m.userId),
          members: list.map((m) => ({ userId: m.userId, name: m.name })),
        });
        return;
      }
      case 'leave':
        if (leave(client, room)) send(client, { type: 'left', room, userId: client.userId });
        else send(client, { type: 'error', code: 'not_in_room', message: 'join it first' });
        return;
      case 'message': {
        const text = typeof msg.text === 'string' ? msg.text.trim() : '';
        if (!client.rooms.has(room)) {
          send(client, { type: 'error', code: 'not_in_room', message: 'join it first' });
        } else if (!text || text.length > 2000) {
          send(client, { type: 'error', code: 'invalid', message: 'bad text' });
        } else {
          broadcast(room, { type: 'message', room, userId: client.userId, name: client.name, text, timestamp: Date.now() });
        }
        return;
      }
      case 'ping':
        send(client, { ...msg, type: 'pong' });
        return;
      default:
        send(client, { type: 'error', code: 'unknown_type', message: `unknown type ${msg.type}` });
    }
  });

  ws.on('close', () => {
    for (const room of [...client.rooms]) leave(client, room);
  });
});

http.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${http.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
