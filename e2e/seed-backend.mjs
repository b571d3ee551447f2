// A minimal backend written from the seed document alone (websockets-patterns.md, whose message
// shapes are the wire protocol: `type`-tagged JSON, camelCase), not from our dev server: it shows
// whether the pages speak the seed's protocol or only our server's. Test-only; never copied into
// generated apps.
//
// What it does, and where in the seed each shape comes from:
//   static files   the app's dist/, any unknown path answered with index.html (a single-page app)
//   /ws/chat       "Basic WebSocket Connection": the client sends {type:"message", text}; every
//                  client, the sender included, gets {type:"message", userId, text, timestamp}
//                  (the seed's ServerMessage `message`, without a room)
//   /ws/typed-chat "Typed Messages": join/leave/message/typing in; out `joined {room, users}` to the
//                  joiner, `user:joined {room, userId}` to the others ("Message Handlers"),
//                  `left {room, userId}` to the whole room (the leaver included; also when a
//                  connection drops), `message {room, userId, text, timestamp}` to the room,
//                  `typing {room, userId, isTyping}` to the others, `error {message}`
//   /ws/presence   "Presence System": the client sends `presence:update {roomId?, cursor}`; the
//                  others get `presence:join Presence` on connect, `presence:update Presence`,
//                  `presence:leave {userId}` on close, with Presence = {userId, name, cursor?,
//                  lastSeen}; a newcomer gets a `presence:join` for everyone already here (the seed
//                  has no snapshot). The name is the connection's `?name=`, else `Guest N`.
//   every socket   "Heartbeat/Ping-Pong": {type:"ping", ...} is answered {type:"pong", ...} (the
//                  seed leaves the pong's other fields open; this one echoes the ping's)
//   /sse/notifications  "SSE for Server-to-Client Updates": the feed reads `onmessage`, so events
//                  are unnamed (no `event:` line), `data:` is the published JSON as given (e.g.
//                  {message} alone), with an `id:` line only when the publisher asks for one
//   POST /api/notifications[?id=ID]  publishes its JSON body on the stream (202)
//
// No welcome, no names in chat, no error codes, no resume: none of that is in the seed.
//
//   import { startSeedBackend } from './seed-backend.mjs';
//   const backend = await startSeedBackend({ staticDir });  // backend.url, .publish(data, { id })
//   node e2e/seed-backend.mjs --static-dir DIR [--port N]   // prints "listening on http://..."

import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// ws from tools/node_modules (installed by scripts/setup.sh), like playwright-core in harness.mjs.
const { WebSocketServer, WebSocket } = createRequire(join(ROOT, 'tools/package.json'))('ws');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

function send(ws, message) {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

/** Parses a text frame as a `type`-tagged object; answers pings; null for anything else. */
function receive(ws, data, isBinary) {
  let message;
  try {
    message = isBinary ? null : JSON.parse(data.toString());
  } catch {
    message = null;
  }
  if (!message || typeof message !== 'object' || Array.isArray(message) || typeof message.type !== 'string') {
    send(ws, { type: 'error', message: 'expected a JSON object with a string type' });
    return null;
  }
  if (message.type === 'ping') {
    send(ws, { ...message, type: 'pong' });
    return null;
  }
  return message;
}

/**
 * Starts the backend on 127.0.0.1:`port` (0: any free port). Returns
 * `{ url, port, publish(data, { id }), close() }`.
 */
export async function startSeedBackend({ staticDir, port = 0, host = '127.0.0.1' } = {}) {
  const dist = staticDir ? resolve(staticDir) : null;
  let nextUser = 0;
  const newUserId = () => `u${(nextUser += 1)}`;
  const streams = new Set(); // SSE responses

  function publish(data, { id } = {}) {
    const frame = `${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;
    for (const res of streams) res.write(frame);
    return streams.size;
  }

  // --- /ws/chat
  const chat = new WebSocketServer({ noServer: true });
  chat.on('connection', (ws) => {
    const userId = newUserId();
    ws.on('message', (data, isBinary) => {
      const m = receive(ws, data, isBinary);
      if (!m) return;
      if (m.type === 'message' && typeof m.text === 'string' && m.text.trim()) {
        const out = { type: 'message', userId, text: m.text, timestamp: Date.now() };
        for (const client of chat.clients) send(client, out);
      } else {
        send(ws, { type: 'error', message: `cannot handle ${m.type}` });
      }
    });
  });

  // --- /ws/typed-chat
  const typed = new WebSocketServer({ noServer: true });
  const rooms = new Map(); // room -> Map(ws -> userId)
  const toRoom = (room, message, except = null) => {
    for (const client of rooms.get(room)?.keys() ?? []) if (client !== except) send(client, message);
  };
  const leave = (ws, userId, room) => {
    const members = rooms.get(room);
    if (!members?.has(ws)) return false;
    toRoom(room, { type: 'left', room, userId }); // the leaver included
    members.delete(ws);
    if (members.size === 0) rooms.delete(room);
    return true;
  };
  typed.on('connection', (ws) => {
    const userId = newUserId();
    ws.on('message', (data, isBinary) => {
      const m = receive(ws, data, isBinary);
      if (!m) return;
      const room = typeof m.room === 'string' && m.room ? m.room : null;
      if (!room) return send(ws, { type: 'error', message: `${m.type} needs a room` });
      const inRoom = rooms.get(room)?.has(ws);
      switch (m.type) {
        case 'join': {
          if (!rooms.has(room)) rooms.set(room, new Map());
          rooms.get(room).set(ws, userId);
          send(ws, { type: 'joined', room, users: [...rooms.get(room).values()] });
          toRoom(room, { type: 'user:joined', room, userId }, ws);
          return;
        }
        case 'leave':
          if (!leave(ws, userId, room)) send(ws, { type: 'error', message: `not in ${room}` });
          return;
        case 'message':
          if (!inRoom) return send(ws, { type: 'error', message: `not in ${room}` });
          if (typeof m.text !== 'string') return send(ws, { type: 'error', message: 'message needs a text' });
          return toRoom(room, { type: 'message', room, userId, text: m.text, timestamp: Date.now() });
        case 'typing':
          if (!inRoom) return send(ws, { type: 'error', message: `not in ${room}` });
          return toRoom(room, { type: 'typing', room, userId, isTyping: Boolean(m.isTyping) }, ws);
        default:
          return send(ws, { type: 'error', message: `unknown type ${m.type}` });
      }
    });
    ws.on('close', () => {
      for (const room of [...rooms.keys()]) leave(ws, userId, room);
    });
  });

  // --- /ws/presence
  const presence = new WebSocketServer({ noServer: true });
  const here = new Map(); // ws -> Presence
  const toOthers = (ws, message) => {
    for (const client of presence.clients) if (client !== ws) send(client, message);
  };
  presence.on('connection', (ws, request) => {
    const userId = newUserId();
    const name = new URL(request.url, 'http://x').searchParams.get('name')?.trim() || `Guest ${nextUser}`;
    const me = { userId, name, lastSeen: Date.now() };
    for (const other of here.values()) send(ws, { type: 'presence:join', ...other });
    here.set(ws, me);
    toOthers(ws, { type: 'presence:join', ...me });
    ws.on('message', (data, isBinary) => {
      const m = receive(ws, data, isBinary);
      if (!m) return;
      if (m.type !== 'presence:update') return send(ws, { type: 'error', message: `unknown type ${m.type}` });
      const { cursor } = m;
      if (cursor && Number.isFinite(cursor.x) && Number.isFinite(cursor.y)) me.cursor = { x: cursor.x, y: cursor.y };
      me.lastSeen = Date.now();
      toOthers(ws, { type: 'presence:update', ...me });
    });
    ws.on('close', () => {
      here.delete(ws);
      toOthers(ws, { type: 'presence:leave', userId });
    });
  });

  const sockets = { '/ws/chat': chat, '/ws/typed-chat': typed, '/ws/presence': presence };

  async function serveStatic(req, res, path) {
    if (!dist) return res.writeHead(404).end('no static dir');
    let file = resolve(dist, `.${decodeURIComponent(path)}`);
    if (file !== dist && !file.startsWith(dist + sep)) return res.writeHead(403).end();
    const isFile = await stat(file).then((s) => s.isFile(), () => false);
    if (!isFile) file = join(dist, 'index.html'); // the app routes every other path itself
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404).end('not found');
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/sse/notifications' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write(': connected\n\n'); // sends the headers now: the browser's EventSource opens
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    if (url.pathname === '/api/notifications' && req.method === 'POST') {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        let data;
        try {
          data = JSON.parse(body);
        } catch {
          return res.writeHead(400).end('body is not JSON');
        }
        const id = url.searchParams.get('id') ?? undefined;
        const listeners = publish(data, { id });
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ listeners }));
      });
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      serveStatic(req, res, url.pathname).catch(() => res.writeHead(500).end());
      return;
    }
    res.writeHead(405).end();
  });
  server.on('upgrade', (req, socket, head) => {
    const wss = sockets[new URL(req.url, 'http://x').pathname];
    if (!wss) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  await new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, done);
  });
  const bound = server.address().port;
  return {
    url: `http://${host}:${bound}`,
    port: bound,
    publish,
    /** SSE streams currently open. */
    streams: () => streams.size,
    async close() {
      for (const res of streams) res.end();
      for (const wss of Object.values(sockets)) {
        for (const client of wss.clients) client.terminate();
        wss.close();
      }
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
}

// As a program: node e2e/seed-backend.mjs --static-dir DIR [--port N]
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name) => {
    const at = process.argv.indexOf(name);
    return at > 0 ? process.argv[at + 1] : undefined;
  };
  const backend = await startSeedBackend({ staticDir: arg('--static-dir'), port: Number(arg('--port') ?? 0) });
  console.log(`listening on ${backend.url}`);
  const stop = () => backend.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
