// Load generator of the soak part (scripts/bench.sh soak): N clients for S seconds through nginx in
// front of two dev-server instances sharing one redis-server, with faults on the way.
//
//   node bench/soak/soak.mjs --url http://127.0.0.1:NGINX --instances http://127.0.0.1:A,http://127.0.0.1:B \
//       [--clients 500] [--seconds 120] [--seed 1] [--chat-rate 20] [--typed-rate 20] \
//       [--redis-stop 'CMD'] [--redis-start 'CMD'] [--redis-down-s 5] [--slow-pause-s 20]
//
// Clients (roles drawn from --seed, so two runs with the same seed and size do the same things):
//  - chat (half): `/ws/chat`, each message sent with a `clientId`;
//  - typed-chat (three tenths): `/ws/typed-chat`, each joins 2 of 5 rooms (t0..t4);
//  - presence (the rest): `/ws/presence?room=p0..p4`, `presence:update` with a cursor every 1-4 s
//    and `{type:"ping"}` every 10 s (the TTL closes silent presence sockets after 30 s).
// Roles: *steady* (never disconnected by us, never paused, never send bad frames), *churn*
// (disconnect at random — half a close frame, half a dropped TCP connection — and reconnect
// 0.5-3 s later, chat with `?since=EPOCH:SEQ`, typed-chat rejoining with `since`), *slow* (stop
// reading their socket for --slow-pause-s once), *bad* (send malformed JSON, an unknown type, a
// non-object; two of them an oversized frame, which the server answers with close 1009).
// Senders: a random open steady or churn client of each kind, paced at --chat-rate msg/s on
// /ws/chat and --typed-rate msg/s over the rooms; the text carries the send time.
// Faults in the middle: at 50 % of the run --redis-stop runs, --redis-down-s later --redis-start;
// the time until both instances' /healthz say "ok" again is measured. While Redis is down chat
// messages are refused with `error {code:"unavailable"}` (counted; never acked, so not expected).
//
// Lost (must be 0): for every *steady* client that stayed connected from before the first
// message until the end, every message acked to any sender (`ack {clientId, seq}`) in a stream it
// is in (the chat; its two rooms) must have reached it, checked by seq (and its clientId). After
// the sending stops it waits up to 15 s for the stragglers. A steady client that was closed
// anyway is reported (steady_disconnected) and left out of the check.
// Latency: send time (in the text) → receipt, every first receipt at a steady client.
//
// Prints progress to stderr and one `RESULT {json}` line. Every wait has a deadline; a watchdog
// ends the process at --seconds + 100 s.

import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));
const WebSocket = require('ws');

const args = process.argv.slice(2);
function flag(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const baseUrl = flag('url', '').replace(/\/+$/, '');
const instances = flag('instances', '').split(',').filter(Boolean).map((u) => u.replace(/\/+$/, ''));
const total = Number(flag('clients', 500));
const seconds = Number(flag('seconds', 120));
const seed = Number(flag('seed', 1));
const chatRate = Number(flag('chat-rate', 20));
const typedRate = Number(flag('typed-rate', 20));
const redisStop = flag('redis-stop', '');
const redisStart = flag('redis-start', '');
const redisDownS = Number(flag('redis-down-s', 5));
const slowPauseS = Number(flag('slow-pause-s', 20));
const loopback = /^http:\/\/127\.0\.0\.1:\d+$/;
if (!loopback.test(baseUrl) || !instances.every((u) => loopback.test(u))) {
  console.error('usage: soak.mjs --url http://127.0.0.1:PORT --instances http://127.0.0.1:A,http://127.0.0.1:B [...] (127.0.0.1 only)');
  process.exit(2);
}

const watchdog = setTimeout(() => {
  console.error('[soak] watchdog: the run overran its deadline, exiting');
  process.exit(3);
}, (seconds + 100) * 1000);
watchdog.unref();

const wallMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[soak]', ...a);

// Seeded randomness (mulberry32): roles, rooms, fault times, senders.
function mulberry32(a) {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(seed);
const between = (lo, hi) => lo + (hi - lo) * rand();
const pick = (list) => list[Math.floor(rand() * list.length)];
const runTag = `${Date.now().toString(36)}${process.pid.toString(36)}`;

// ---------------------------------------------------------------------------------------------
// Roles
const chatN = Math.round(total * 0.5);
const typedN = Math.round(total * 0.3);
const presN = total - chatN - typedN;
const ROOMS = ['t0', 't1', 't2', 't3', 't4'];
const PRES_ROOMS = ['p0', 'p1', 'p2', 'p3', 'p4'];

const clients = [];
function addClients(kind, n, plan) {
  const list = [];
  for (let i = 0; i < n; i++) list.push({ kind, idx: i });
  // Deterministic shuffle, then roles in order.
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  let k = 0;
  for (const [role, count] of plan) {
    for (let c = 0; c < count && k < list.length; c++, k++) list[k].role = role;
  }
  for (; k < list.length; k++) list[k].role = 'steady';
  list.sort((a, b) => a.idx - b.idx);
  for (const c of list) clients.push(c);
}
const churnOf = (n, share) => Math.max(2, Math.round(n * share));
addClients('chat', chatN, [['churn', churnOf(chatN, 0.15)], ['slow', 3], ['bad', 3], ['oversize', 1]]);
addClients('typed', typedN, [['churn', churnOf(typedN, 0.15)], ['slow', 1], ['bad', 1], ['oversize', 1]]);
addClients('presence', presN, [['churn', churnOf(presN, 0.2)]]);
clients.forEach((c, i) => {
  c.id = i;
  c.name = `${c.kind}-${c.role}-${c.idx}`;
  c.ws = null;
  c.open = false;
  c.ready = false;
  c.ever = false; // connected at least once
  c.closedUnexpectedly = 0;
  c.closeCodes = {};
  c.errors = {};
  c.instance = null;
  c.seen = new Map(); // stream → Set(seq)   (first receipts)
  c.maxSeq = new Map(); // stream → highest seq
  c.epoch = new Map(); // stream → epoch
  c.dups = 0;
  c.outOfOrder = 0;
  c.sent = 0;
  c.inflight = []; // clientIds sent on the current socket, not yet acked or refused
  c.rooms = c.kind === 'typed' ? (() => { const a = pick(ROOMS); let b = pick(ROOMS); while (b === a) b = pick(ROOMS); return [a, b]; })() : [];
  c.presRoom = c.kind === 'presence' ? PRES_ROOMS[c.idx % PRES_ROOMS.length] : null;
  c.presNext = 0;
  c.pingNext = 0;
});

// ---------------------------------------------------------------------------------------------
// Accounting
const acked = new Map(); // stream → Map(seq → clientId)
const ackedAt = new Map(); // stream → Map(seq → wall ms of the ack)
const ackedBy = new Map(); // "stream#seq" → the sender's instance
const seqCollisions = [];
const pending = new Map(); // clientId → {stream, sentAt, client}
const counts = {
  sent: { chat: 0, typed: 0 }, acked: { chat: 0, typed: 0 }, unavailable: { chat: 0, typed: 0 },
  errorsByCode: {}, presenceUpdatesSent: 0, presenceFramesReceived: 0, pingsSent: 0,
  connects: 0, connectFailures: 0, reconnects: 0, churnDisconnects: 0,
  replays: { recovered: 0, notRecovered: {} },
  badFramesSent: 0, oversizeSent: 0,
};
const latencies = [];
let phase = 'connect'; // connect → run → drain → done
let runStart = 0;
const redis = { stoppedAt: null, startedAt: null, healthyAt: null, stopOk: null, startOk: null, degradedSeen: false, okAt: {} };
const slowLog = [];
const replaySamples = [];
const instanceTags = {}; // instance URL → tag
let senderClosed = { chat: 0, typed: 0 }; // sends whose socket closed before the answer
const stopping = new Set();

function stream(kind, room) { return kind === 'chat' ? 'chat' : `room:${room}`; }

function onFrame(c, data) {
  let m;
  try { m = JSON.parse(data.toString()); } catch { c.errors.unparsable = (c.errors.unparsable || 0) + 1; return; }
  switch (m.type) {
    case 'welcome':
      c.instance = String(m.userId || '').split('@')[1] || '?';
      if (c.kind === 'chat' && m.epoch && !c.epoch.has('chat')) c.epoch.set('chat', m.epoch);
      if (c.kind === 'typed') {
        for (const room of c.rooms) {
          const s = stream('typed', room);
          const msg = { type: 'join', room };
          if (c.maxSeq.has(s) && c.epoch.has(s)) msg.since = `${c.epoch.get(s)}:${c.maxSeq.get(s)}`;
          c.lastSince = msg.since ?? null;
          send(c, msg);
        }
        c.roomsReady = new Set();
      }
      break;
    case 'joined':
      if (m.epoch && !c.epoch.has(stream('typed', m.room))) c.epoch.set(stream('typed', m.room), m.epoch);
      break;
    case 'replayed':
      if (c.reconnecting) {
        if (m.recovered) counts.replays.recovered++;
        else {
          counts.replays.notRecovered[m.reason] = (counts.replays.notRecovered[m.reason] || 0) + 1;
          if (replaySamples.length < 8) replaySamples.push({ client: c.name, at_s: +((wallMs() - runStart) / 1000).toFixed(1), since: c.lastSince, reason: m.reason, epoch: m.epoch, from: m.from, to: m.to });
        }
      }
      // The position after a replay is EPOCH:to (docs/protocol.md); a replay that could not read
      // the history (Redis away) leaves the client's position as it was.
      if (m.epoch && m.reason !== 'unavailable') {
        const s = c.kind === 'chat' ? 'chat' : stream('typed', m.room);
        if (c.epoch.get(s) !== m.epoch) c.maxSeq.delete(s);
        c.epoch.set(s, m.epoch);
        if (typeof m.to === 'number' && m.to > (c.maxSeq.get(s) ?? 0)) c.maxSeq.set(s, m.to);
      }
      if (c.kind === 'chat') c.ready = true;
      else {
        c.roomsReady.add(m.room);
        if (c.roomsReady.size === c.rooms.length) c.ready = true;
      }
      break;
    case 'message': {
      const s = stream(c.kind, m.room);
      const seq = m.seq;
      if (typeof seq !== 'number') break;
      let set = c.seen.get(s);
      if (!set) c.seen.set(s, (set = new Set()));
      if (set.has(seq)) { c.dups++; break; }
      set.add(seq);
      const max = c.maxSeq.get(s) ?? 0;
      if (seq < max) c.outOfOrder++;
      else c.maxSeq.set(s, seq);
      if (c.role === 'steady' && phase !== 'connect' && typeof m.text === 'string' && m.text.startsWith('soak ')) {
        const sentAt = Number(m.text.slice(m.text.lastIndexOf(' ') + 1));
        if (Number.isFinite(sentAt)) latencies.push(wallMs() - sentAt);
      }
      break;
    }
    case 'ack': {
      const p = pending.get(m.clientId);
      if (!p) break;
      pending.delete(m.clientId);
      const at = c.inflight.indexOf(m.clientId);
      if (at >= 0) c.inflight.splice(at, 1);
      let map = acked.get(p.stream);
      if (!map) { acked.set(p.stream, (map = new Map())); ackedAt.set(p.stream, new Map()); }
      const prior = map.get(m.seq);
      if (prior !== undefined && prior !== m.clientId) seqCollisions.push({ stream: p.stream, seq: m.seq });
      map.set(m.seq, m.clientId);
      ackedAt.get(p.stream).set(m.seq, wallMs());
      ackedBy.set(`${p.stream}#${m.seq}`, c.instance);
      counts.acked[p.kind]++;
      break;
    }
    case 'error':
      counts.errorsByCode[m.code] = (counts.errorsByCode[m.code] || 0) + 1;
      c.errors[m.code] = (c.errors[m.code] || 0) + 1;
      if (m.code === 'unavailable') {
        counts.unavailable[c.kind === 'chat' ? 'chat' : 'typed']++;
        // A connection's frames are answered in order: the refusal is for its oldest unanswered send.
        const id = c.inflight.shift();
        if (id !== undefined) pending.delete(id);
      }
      break;
    case 'presence:snapshot':
      c.ready = true;
      counts.presenceFramesReceived++;
      break;
    default:
      if (c.kind === 'presence' || String(m.type).startsWith('user:')) counts.presenceFramesReceived++;
  }
}

function send(c, obj) {
  if (!c.ws || c.ws.readyState !== WebSocket.OPEN) return false;
  c.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  return true;
}

function url(c) {
  const ws = baseUrl.replace(/^http/, 'ws');
  if (c.kind === 'chat') {
    let u = `${ws}/ws/chat?name=${encodeURIComponent(c.name)}`;
    c.lastSince = c.maxSeq.has('chat') && c.epoch.has('chat') ? `${c.epoch.get('chat')}:${c.maxSeq.get('chat')}` : null;
    if (c.lastSince) u += `&since=${encodeURIComponent(c.lastSince)}`;
    return u;
  }
  if (c.kind === 'typed') return `${ws}/ws/typed-chat?name=${encodeURIComponent(c.name)}`;
  return `${ws}/ws/presence?room=${c.presRoom}&name=${encodeURIComponent(c.name)}`;
}

/** Opens c's socket; resolves true once welcome (and for chat/typed the replay) is through, false on failure or after 15 s. */
function connect(c) {
  c.ready = false;
  c.reconnecting = c.ever;
  const ws = new WebSocket(url(c), { perMessageDeflate: false, handshakeTimeout: 10000 });
  c.ws = ws;
  counts.connects++;
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(timer);
      if (!ok) counts.connectFailures++;
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), 15000);
    const poll = setInterval(() => { if (c.ready) finish(true); }, 20);
    ws.on('open', () => { c.open = true; c.ever = true; c.openedAt = wallMs(); });
    ws.on('message', (data) => onFrame(c, data));
    ws.on('error', () => {});
    ws.on('close', (code) => {
      if (c.ws !== ws) return;
      c.open = false;
      c.ready = false;
      c.closeCodes[code] = (c.closeCodes[code] || 0) + 1;
      for (const id of c.inflight) {
        const p = pending.get(id);
        if (p) { senderClosed[p.kind]++; pending.delete(id); }
      }
      c.inflight = [];
      if (!stopping.has(c) && phase !== 'done') {
        c.closedUnexpectedly++;
        if (c.role === 'steady') log(`steady client ${c.name} closed with ${code} at ${((wallMs() - runStart) / 1000).toFixed(1)} s`);
        // Anyone but a steady client comes back after 2 s (a real client would too).
        if (c.role !== 'steady' && phase === 'run') setTimeout(() => { if (phase === 'run' && !c.open) reconnect(c); }, 2000);
      }
      finish(false);
    });
  });
}

async function reconnect(c) {
  counts.reconnects++;
  await connect(c);
}

// ---------------------------------------------------------------------------------------------
// Faults
function scheduleChurn(c) {
  const at = between(3, Math.max(4, seconds * 0.3));
  setTimeout(async () => {
    if (phase !== 'run') return;
    if (c.open) {
      stopping.add(c);
      counts.churnDisconnects++;
      const ws = c.ws;
      if (rand() < 0.5) ws.close(1000, 'soak churn'); else ws.terminate();
      await Promise.race([new Promise((r) => ws.once('close', r)), sleep(5000)]);
      stopping.delete(c);
      c.open = false;
      await sleep(between(500, 3000));
    }
    if (phase === 'run') { await reconnect(c); scheduleChurn(c); }
  }, at * 1000);
}

function scheduleSlow(c) {
  const at = between(seconds * 0.1, Math.max(seconds * 0.1 + 1, seconds * 0.8 - slowPauseS));
  setTimeout(async () => {
    if (phase !== 'run' || !c.open) return;
    const sock = c.ws._socket;
    const entry = { client: c.name, kind: c.kind, at_s: +((wallMs() - runStart) / 1000).toFixed(1), pause_s: slowPauseS, closed: null };
    slowLog.push(entry);
    const ws = c.ws;
    const before = Object.values(c.closeCodes).reduce((a, b) => a + b, 0);
    sock.pause();
    await sleep(slowPauseS * 1000);
    if (!sock.destroyed) sock.resume();
    await sleep(2000);
    const codes = Object.entries(c.closeCodes);
    entry.closed = Object.values(c.closeCodes).reduce((a, b) => a + b, 0) > before ? codes.map(([k, v]) => `${k}×${v}`).join(',') : (ws.readyState === WebSocket.OPEN ? 'open' : 'closing');
  }, at * 1000);
}

function scheduleBad(c) {
  for (const frac of [0.2, 0.7]) {
    setTimeout(() => {
      if (phase !== 'run') return;
      for (const frame of ['{not json', '{"type":"bogus","x":1}', '[1,2,3]', '"just a string"', '{"type":42}']) {
        if (send(c, frame)) counts.badFramesSent++;
      }
      if (c.kind === 'typed') send(c, { type: 'message', room: 'never-joined', text: 'x' });
    }, (seconds * frac + between(0, 2)) * 1000);
  }
}

function scheduleOversize(c) {
  setTimeout(() => {
    if (phase !== 'run') return;
    const room = c.rooms[0];
    const text = 'x'.repeat(70 * 1024);
    if (send(c, c.kind === 'chat' ? { type: 'message', text } : { type: 'message', room, text })) counts.oversizeSent++;
  }, (seconds * 0.35 + between(0, 2)) * 1000);
}

function sh(cmd) {
  return new Promise((resolve) => {
    execFile('sh', ['-c', cmd], { timeout: 15000 }, (err, stdout, stderr) => {
      if (err) log(`command failed: ${cmd}: ${err.message} ${stderr}`);
      resolve(!err);
    });
  });
}

async function health(u) {
  try {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 2000);
    const r = await fetch(`${u}/healthz`, { signal: ctl.signal });
    clearTimeout(t);
    return (await r.json()).status;
  } catch { return 'unreachable'; }
}

async function redisRestart() {
  if (!redisStop || !redisStart) return;
  await sleep(seconds * 500);
  if (phase !== 'run') return;
  log('stopping redis-server');
  redis.stoppedAt = wallMs();
  redis.stopOk = await sh(redisStop);
  const downUntil = redis.stoppedAt + redisDownS * 1000;
  while (wallMs() < downUntil) {
    if ((await Promise.all(instances.map(health))).includes('degraded')) redis.degradedSeen = true;
    await sleep(250);
  }
  log('starting redis-server again');
  redis.startedAt = wallMs();
  redis.startOk = await sh(redisStart);
  const deadline = wallMs() + 30000;
  while (wallMs() < deadline) {
    const states = await Promise.all(instances.map(health));
    states.forEach((st, i) => { if (st === 'ok' && !redis.okAt[instances[i]]) redis.okAt[instances[i]] = wallMs(); });
    if (states.every((s) => s === 'ok')) { redis.healthyAt = wallMs(); break; }
    await sleep(100);
  }
  log(redis.healthyAt ? `both instances healthy ${((redis.healthyAt - redis.startedAt) / 1000).toFixed(2)} s after the restart` : 'instances not healthy 30 s after the restart');
}

// ---------------------------------------------------------------------------------------------
// Traffic
let msgCounter = 0;
function sendChat(kind) {
  const candidates = clients.filter((c) => c.kind === kind && (c.role === 'steady' || c.role === 'churn') && c.ready);
  if (!candidates.length) return;
  const c = pick(candidates);
  const room = kind === 'typed' ? pick(c.rooms) : undefined;
  const clientId = `${runTag}-${c.id}-${++msgCounter}`;
  const text = `soak ${c.id} ${msgCounter} ${wallMs().toFixed(2)}`;
  const msg = kind === 'chat' ? { type: 'message', text, clientId } : { type: 'message', room, text, clientId };
  if (send(c, msg)) {
    pending.set(clientId, { stream: stream(kind, room), kind, sentAt: wallMs(), client: c.id });
    c.inflight.push(clientId);
    counts.sent[kind]++;
    c.sent++;
  }
}

function presenceTick(now) {
  for (const c of clients) {
    if (c.kind !== 'presence' || !c.ready) continue;
    if (now >= c.presNext) {
      send(c, { type: 'presence:update', cursor: { x: +rand().toFixed(4), y: +rand().toFixed(4) } });
      counts.presenceUpdatesSent++;
      c.presNext = now + between(1000, 4000);
    }
    if (now >= c.pingNext) {
      send(c, { type: 'ping', id: c.id });
      counts.pingsSent++;
      c.pingNext = now + 10000;
    }
  }
}

function steadyCheck() {
  let lost = 0, expected = 0, delivered = 0;
  const lostByInstance = {}, lostByStream = {}, lostSeqs = new Map();
  const steady = clients.filter((c) => c.role === 'steady' && c.kind !== 'presence');
  const intact = steady.filter((c) => c.closedUnexpectedly === 0 && c.open);
  for (const c of intact) {
    const streams = c.kind === 'chat' ? ['chat'] : c.rooms.map((r) => stream('typed', r));
    for (const s of streams) {
      const map = acked.get(s);
      if (!map) continue;
      const seen = c.seen.get(s) || new Set();
      for (const seq of map.keys()) {
        expected++;
        if (seen.has(seq)) delivered++;
        else {
          lost++;
          lostByInstance[c.instance] = (lostByInstance[c.instance] || 0) + 1;
          lostByStream[s] = (lostByStream[s] || 0) + 1;
          const k = `${s}#${seq}`;
          lostSeqs.set(k, (lostSeqs.get(k) || 0) + 1);
        }
      }
    }
  }
  return { steady, intact, lost, expected, delivered, lostByInstance, lostByStream, lostSeqs };
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ---------------------------------------------------------------------------------------------
async function main() {
  const eld = monitorEventLoopDelay({ resolution: 10 });
  log(`${total} clients: ${chatN} chat, ${typedN} typed-chat, ${presN} presence; ${seconds} s; seed ${seed}; via ${baseUrl}`);
  // Which instance tag (the `@…` of user ids) each instance URL has: one direct socket each.
  for (const u of instances) {
    instanceTags[u] = await new Promise((resolve) => {
      const ws = new WebSocket(`${u.replace(/^http/, 'ws')}/ws/chat?name=probe`, { perMessageDeflate: false });
      const t = setTimeout(() => { ws.terminate(); resolve('?'); }, 5000);
      ws.on('message', (d) => { clearTimeout(t); try { resolve(String(JSON.parse(d.toString()).userId).split('@')[1] || '?'); } catch { resolve('?'); } ws.close(); });
      ws.on('error', () => { clearTimeout(t); resolve('?'); });
    });
  }
  // Connect everyone, 25 handshakes at a time; a client that fails gets 3 more tries.
  const t0 = wallMs();
  for (let i = 0; i < clients.length; i += 25) {
    await Promise.all(clients.slice(i, i + 25).map(async (c) => {
      for (let attempt = 0; attempt < 4; attempt++) {
        if (await connect(c)) return;
        await sleep(500);
      }
    }));
    if (wallMs() - t0 > 30000) break;
  }
  const notReady = clients.filter((c) => !c.ready);
  log(`connected in ${((wallMs() - t0) / 1000).toFixed(1)} s; not ready: ${notReady.length}`);
  const byInstance = {};
  for (const c of clients) byInstance[c.instance] = (byInstance[c.instance] || 0) + 1;

  // Run
  phase = 'run';
  runStart = wallMs();
  eld.enable();
  const elu0 = performance.eventLoopUtilization();
  for (const c of clients) {
    if (c.role === 'churn') scheduleChurn(c);
    if (c.role === 'slow') scheduleSlow(c);
    if (c.role === 'bad') scheduleBad(c);
    if (c.role === 'oversize') scheduleOversize(c);
    c.presNext = runStart + between(0, 2000);
    c.pingNext = runStart + between(0, 10000);
  }
  const restart = redisRestart();
  let chatDebt = 0, typedDebt = 0, last = performance.now();
  const tick = setInterval(() => {
    const now = performance.now();
    const dt = (now - last) / 1000;
    last = now;
    chatDebt += chatRate * dt;
    typedDebt += typedRate * dt;
    while (chatDebt >= 1) { chatDebt--; sendChat('chat'); }
    while (typedDebt >= 1) { typedDebt--; sendChat('typed'); }
    presenceTick(wallMs());
  }, 50);
  const progress = setInterval(() => {
    const open = clients.filter((c) => c.open).length;
    log(`t=${((wallMs() - runStart) / 1000).toFixed(0)} s: open ${open}/${total}, sent ${counts.sent.chat}+${counts.sent.typed}, acked ${counts.acked.chat}+${counts.acked.typed}, unavailable ${counts.unavailable.chat + counts.unavailable.typed}, pending ${pending.size}`);
  }, 10000);
  await sleep(seconds * 1000);
  clearInterval(tick);
  phase = 'drain';
  await Promise.race([restart, sleep(35000)]);
  // Presence clients keep pinging while we drain (no TTL close).
  const keepAlive = setInterval(() => presenceTick(wallMs()), 500);
  // Drain: the last acks and deliveries, up to 15 s.
  const drainStart = wallMs();
  while (wallMs() - drainStart < 15000) {
    if (pending.size === 0 && steadyCheck().lost === 0) break;
    await sleep(200);
  }
  const drainMs = wallMs() - drainStart;
  await sleep(300);
  clearInterval(keepAlive);
  clearInterval(progress);
  const elu = performance.eventLoopUtilization(elu0);
  eld.disable();
  const check = steadyCheck();
  const steadyDisconnected = check.steady.filter((c) => c.closedUnexpectedly > 0 || !c.open);
  const presenceSteadyDisconnected = clients.filter((c) => c.kind === 'presence' && c.role === 'steady' && (c.closedUnexpectedly > 0 || !c.open));
  phase = 'done';
  for (const c of clients) { stopping.add(c); try { c.ws?.close(1000, 'soak done'); } catch { /* closed */ } }
  await sleep(500);
  for (const c of clients) { try { c.ws?.terminate(); } catch { /* gone */ } }

  latencies.sort((a, b) => a - b);
  const unresolved = { chat: 0, typed: 0 };
  for (const p of pending.values()) unresolved[p.kind]++;
  // Where lost messages sit relative to the Redis restart (ack time).
  const lostNearRestart = { before: 0, during: 0, within10sAfter: 0, later: 0 };
  for (const [k, n] of check.lostSeqs) {
    const [s, seqText] = k.split('#');
    const at = ackedAt.get(s)?.get(Number(seqText));
    if (!redis.stoppedAt || at === undefined) { lostNearRestart.later += n; continue; }
    if (at < redis.stoppedAt) lostNearRestart.before += n;
    else if (at < (redis.healthyAt ?? redis.startedAt)) lostNearRestart.during += n;
    else if (at < (redis.healthyAt ?? redis.startedAt) + 10000) lostNearRestart.within10sAfter += n;
    else lostNearRestart.later += n;
  }
  const closeCodes = (role) => {
    const out = {};
    for (const c of clients) if (!role || c.role === role) for (const [k, v] of Object.entries(c.closeCodes)) out[k] = (out[k] || 0) + v;
    return out;
  };
  const rel = (t) => (t ? +((t - runStart) / 1000).toFixed(2) : null);
  // Each lost message: when it was acked, by which instance's client, how many steady clients missed it.
  const lostMessages = [...check.lostSeqs].slice(0, 20).map(([k, missing]) => {
    const [s, seqText] = k.split('#');
    const receivers = check.intact.filter((c) => (c.kind === 'chat' ? s === 'chat' : c.rooms.some((r) => stream('typed', r) === s)));
    const missedOn = {};
    for (const c of receivers) if (!(c.seen.get(s) || new Set()).has(Number(seqText))) missedOn[c.instance] = (missedOn[c.instance] || 0) + 1;
    return { stream: s, seq: Number(seqText), acked_s: rel(ackedAt.get(s)?.get(Number(seqText))), sender_instance: ackedBy.get(k), missing, of: receivers.length, missed_on: missedOn };
  });
  const result = {
    clients: total, seconds, seed, chat_rate: chatRate, typed_rate: typedRate, instance_tags: instanceTags,
    roles: Object.fromEntries(['chat', 'typed', 'presence'].map((k) => [k, clients.filter((c) => c.kind === k).reduce((o, c) => ({ ...o, [c.role]: (o[c.role] || 0) + 1 }), {})])),
    clients_by_instance: byInstance,
    not_ready_at_start: notReady.length,
    sent: counts.sent, acked: counts.acked, unavailable: counts.unavailable, unresolved, sender_closed: senderClosed,
    errors_by_code: counts.errorsByCode,
    steady: {
      clients: check.steady.length, checked: check.intact.length,
      disconnected: steadyDisconnected.length, disconnected_names: steadyDisconnected.slice(0, 10).map((c) => `${c.name}@${c.instance} ${JSON.stringify(c.closeCodes)}`),
      expected_deliveries: check.expected, delivered: check.delivered, lost: check.lost,
      lost_by_instance: check.lostByInstance, lost_by_stream: check.lostByStream,
      lost_distinct_messages: check.lostSeqs.size, lost_vs_restart: lostNearRestart, lost_messages: lostMessages,
      duplicates: check.steady.reduce((a, c) => a + c.dups, 0),
      out_of_order: check.steady.reduce((a, c) => a + c.outOfOrder, 0),
      seq_collisions: seqCollisions.length,
    },
    latency_ms: { n: latencies.length, p50: pct(latencies, 50), p99: pct(latencies, 99), p999: pct(latencies, 99.9), max: latencies.length ? latencies[latencies.length - 1] : null },
    churn: { disconnects: counts.churnDisconnects, reconnects: counts.reconnects, replays_recovered: counts.replays.recovered, replays_not_recovered: counts.replays.notRecovered, not_recovered_samples: replaySamples, connect_failures: counts.connectFailures },
    slow: slowLog,
    bad: { frames_sent: counts.badFramesSent, oversize_sent: counts.oversizeSent, close_codes_bad: closeCodes('bad'), close_codes_oversize: closeCodes('oversize') },
    close_codes_all: closeCodes(),
    presence: { steady: clients.filter((c) => c.kind === 'presence' && c.role === 'steady').length, steady_disconnected: presenceSteadyDisconnected.length, updates_sent: counts.presenceUpdatesSent, pings_sent: counts.pingsSent, frames_received: counts.presenceFramesReceived },
    redis: { stop_s: rel(redis.stoppedAt), start_s: rel(redis.startedAt), healthy_s: rel(redis.healthyAt),
             healthy_after_start_s: redis.healthyAt ? +((redis.healthyAt - redis.startedAt) / 1000).toFixed(2) : null,
             degraded_seen: redis.degradedSeen, stop_ok: redis.stopOk, start_ok: redis.startOk,
             ok_s_by_instance: Object.fromEntries(Object.entries(redis.okAt).map(([u, t]) => [u, rel(t)])) },
    drain_ms: Math.round(drainMs),
    loadgen: { elu: +elu.utilization.toFixed(3), loop_delay_p99_ms: +(eld.percentile(99) / 1e6).toFixed(1) },
  };
  log(`steady: ${check.intact.length} checked, ${check.lost} lost of ${check.expected}; p99 ${result.latency_ms.p99?.toFixed(1)} ms`);
  console.log(`RESULT ${JSON.stringify(result)}`);
  process.exit(0);
}

main().catch((e) => {
  console.error('[soak] failed:', e);
  console.log(`RESULT ${JSON.stringify({ clients: total, seconds, error: String(e && e.message || e) })}`);
  process.exit(1);
});
