// Load generator of the recovery benchmark: one scenario, one harness, two protocol adapters
// (our dev server's /ws/typed-chat, socket.io 4 with connectionStateRecovery).
//
//   node bench/recovery/loadgen.mjs --target ours|ours-chat|socketio --url http://127.0.0.1:PORT \
//       [--clients 1000] [--messages 100] [--reps 5] [--label L] [--delay-ms 100] [--jitter 0.5] \
//       [--workers 1] [--timeout-s 60]
//
// The clients live in --workers worker threads (an equal share each; the main thread runs the
// scenario and the clock). One is the default: on a 2-core machine a second one takes more from
// the server than it gives the load generator (measured: both servers slower with 2).
//
// Each run, in a fresh room (`bench-<run>-<pid>`), with fresh connections:
//  1. N clients connect and join the room (at most 50 handshakes at a time per worker); it waits
//     until join traffic has been quiet for 500 ms (our server tells every member of every join).
//  2. Client 0 sends one message; every client must receive it. That gives each client a
//     position (ours: EPOCH:SEQ; socket.io: the offset of the last packet, without which
//     socket.io cannot recover a session).
//  3. Server-side drop: `POST /api/test/drop-sockets {"endpoint":"typed-chat"}` closes every
//     socket (both servers: TCP closed, no close frame). The harness waits until every client
//     has seen its connection close. No client reconnects by itself.
//  4. While they are down, a sender (a fresh connection made after the drop, so the drop cannot
//     take it; not measured) joins the room and sends M messages at once, waits for the M acks
//     (each ack means the server has stored and numbered the message), and leaves.
//  5. Every client reconnects after a delay drawn like socket.io's first reconnect delay
//     (reconnectionDelay 100 ms, randomizationFactor 0.5: 50-150 ms), through its library's
//     real reconnect path: ours rejoins with `since: EPOCH:SEQ` (its highest contiguous seq);
//     socket.io's `socket.connect()` sends its session id and last offset in the CONNECT packet.
//  6. Measured: from the first reconnect attempt until every client has all M messages (ms),
//     deliveries/s = N × M / that time; then 300 ms more of listening before counting
//     duplicates and out-of-order arrivals. A client "recovered" when it has all M and its
//     server said so (ours: `replayed {recovered: true}`; socket.io: `socket.recovered`).
//
// Every wait has a deadline (--timeout-s, 60 s by default); a run that misses one reports what
// it has, with an "error". Each run prints a human line and a `RESULT {json}` line; the exit
// status is 1 when a run failed or lost, duplicated or reordered anything.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import { serveSteps, startWorkers as spawnWorkers, withTimeout } from '../workers.mjs';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));

// ---------------------------------------------------------------------------------------------
// Options
const args = process.argv.slice(2);
function flag(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const target = flag('target', '');
const baseUrl = flag('url', '').replace(/\/+$/, '');
const clients = Number(flag('clients', 1000));
const messages = Number(flag('messages', 100));
const reps = Number(flag('reps', 5));
const label = flag('label', target);
const delayMs = Number(flag('delay-ms', 100));
const jitter = Number(flag('jitter', 0.5));
const timeoutMs = Number(flag('timeout-s', 60)) * 1000;
const parallel = Number(flag('parallel', 50));
const roomPrefix = flag('room', 'bench');
const workers = Math.max(1, Number(flag('workers', 1)));
if (!['ours', 'ours-chat', 'socketio'].includes(target) || !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(baseUrl)) {
  console.error('usage: loadgen.mjs --target ours|ours-chat|socketio --url http://127.0.0.1:PORT [...] (loopback only)');
  process.exit(2);
}

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[recovery ${label}]`, ...a);

/** Resolves when `check()` is true (polled every 5 ms), rejects after `ms` with `what`. */
async function until(check, ms, what) {
  const end = now() + ms;
  while (!check()) {
    if (now() > end) throw new Error(`timed out after ${Math.round(ms / 1000)} s waiting for ${what}`);
    await sleep(5);
  }
}


/** socket.io's reconnect delay (backo2, first attempt): min × (1 ± rand × jitter). */
function reconnectDelay() {
  const rand = Math.random();
  const deviation = Math.floor(rand * jitter * delayMs);
  return (Math.floor(rand * 10) & 1) === 0 ? delayMs - deviation : delayMs + deviation;
}

// Every frame any client receives counts as traffic (for "join traffic quiet").
let framesSeen = 0;
let presenceFrames = 0;

// ---------------------------------------------------------------------------------------------
// Adapter: our dev server, /ws/typed-chat (docs/protocol.md).
//  welcome → join {room[, since]} → joined {epoch, seq} [→ message… (replay) → replayed]
//  message {room, text, clientId} → message {…, seq} to every member, ack {clientId, seq} to sender.
//  `ours-chat`: the same on /ws/chat, the one global stream (no rooms, no members, no presence,
//  like a socket.io room): position from `welcome {epoch, seq}`, resume with `?since=EPOCH:SEQ`.
const chatMode = target === 'ours-chat';
const WebSocket = target === 'ours' || chatMode ? require('ws') : null;

class OursClient {
  constructor(name, hooks) {
    this.name = name;
    this.hooks = hooks;
    this.ws = null;
    this.epoch = null;
    this.room = null;
    this.waiters = new Map(); // key → resolve
    this.acks = new Map(); // clientId → {resolve, reject}
  }

  /** Opens the socket (on /ws/chat resuming from `since`); resolves on `welcome`. */
  open(since) {
    const path = chatMode ? '/ws/chat' : '/ws/typed-chat';
    let url = `${baseUrl.replace(/^http/, 'ws')}${path}?name=${encodeURIComponent(this.name)}`;
    if (chatMode && since) url += `&since=${encodeURIComponent(since)}`;
    // On /ws/chat the arrival replay ends with `replayed`: wait for it like a join's.
    if (chatMode) this.replayDone = new Promise((resolve) => this.waiters.set('replayed', resolve));
    const ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws = ws;
    const welcome = new Promise((resolve, reject) => {
      this.waiters.set('welcome', resolve);
      ws.once('error', reject);
      ws.once('close', () => reject(new Error('closed before welcome')));
    });
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => this.frame(data, isBinary));
    ws.on('close', (code) => {
      if (this.ws === ws) this.hooks.down?.(`close ${code}`);
    });
    return welcome;
  }

  frame(data, isBinary) {
    framesSeen += 1;
    if (isBinary) return;
    // Presence frames (`user:joined`/`user:left`, O(clients²) around joins) are not needed for
    // this benchmark: counted, not decoded, so the load generator's one core goes to the rest.
    if (data.length > 14 && data.toString('latin1', 0, 14) === '{"type":"user:') {
      presenceFrames += 1;
      return;
    }
    let m;
    try {
      m = JSON.parse(data.toString());
    } catch {
      return;
    }
    switch (m.type) {
      case 'message':
        // /ws/chat: a first connect's replay is the newest history (earlier runs), not this run's.
        if (chatMode && !this.rejoining && !this.arrived) break;
        if ((chatMode || m.room === this.room) && typeof m.seq === 'number') this.hooks.message?.(m.seq);
        break;
      case 'welcome':
        if (chatMode && this.rejoining) this.hooks.rejoined?.();
        this.waiters.get(m.type)?.(m);
        this.waiters.delete(m.type);
        break;
      case 'joined':
        // Back in the room: taken here, not after the join's await, which resolves only once
        // the frames read with this one (the replay) have been handled.
        if (m.type === 'joined' && this.rejoining) this.hooks.rejoined?.();
        this.waiters.get(m.type)?.(m);
        this.waiters.delete(m.type);
        break;
      case 'replayed':
        this.arrived = true;
        this.hooks.replayed?.(m.recovered === true, m.reason);
        this.waiters.get('replayed')?.(m);
        this.waiters.delete('replayed');
        break;
      case 'ack': {
        const pending = this.acks.get(m.clientId);
        this.acks.delete(m.clientId);
        pending?.resolve(m.seq);
        break;
      }
      case 'error': {
        log(`${this.name}: server error`, JSON.stringify(m));
        // A refused message is never acked: fail the sends now rather than at the deadline.
        for (const pending of this.acks.values()) pending.reject(new Error(`server error ${m.code}: ${m.message}`));
        this.acks.clear();
        break;
      }
      default:
    }
  }

  /** Joins `room` (with `since` when given); resolves with the room's seq from `joined`. */
  async join(room, since) {
    this.room = room;
    if (chatMode) {
      // The stream is the socket's: its position came with the welcome, its replay follows.
      await this.replayDone;
      return this.welcomeSeq;
    }
    const joined = new Promise((resolve) => this.waiters.set('joined', resolve));
    this.ws.send(JSON.stringify(since ? { type: 'join', room, since } : { type: 'join', room }));
    const m = await joined;
    this.epoch = m.epoch;
    return m.seq;
  }

  async connect(room) {
    const welcome = await this.open();
    if (chatMode) {
      this.epoch = welcome.epoch;
      this.welcomeSeq = welcome.seq;
    }
    return this.join(room);
  }

  /** Reconnects and rejoins from `position` (the highest contiguous seq this client has). */
  async reconnect(position) {
    this.rejoining = true;
    const since = `${this.epoch}:${position}`;
    await this.open(since);
    await this.join(this.room, since);
  }

  send(text, clientId) {
    const acked = new Promise((resolve, reject) => this.acks.set(clientId, { resolve, reject }));
    const frame = chatMode ? { type: 'message', text, clientId } : { type: 'message', room: this.room, text, clientId };
    this.ws.send(JSON.stringify(frame));
    return acked;
  }

  close() {
    const ws = this.ws;
    this.ws = null;
    ws?.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// Adapter: socket.io 4 (bench/recovery/socketio-server.mjs), WebSocket transport only.
//  emit join {room} (ack {seq}); emit message {room, text, clientId} (ack {seq}); on message {…, seq}.
//  Recovery is socket.io's own: the client keeps the session id and the last packet offset and
//  sends them when it connects again; the server replays what the session missed.
const ioClient = target === 'socketio' ? require('socket.io-client').io : null;

class SocketIoClient {
  constructor(name, hooks) {
    this.name = name;
    this.hooks = hooks;
    this.room = null;
    this.reconnecting = false;
    this.socket = ioClient(baseUrl, {
      transports: ['websocket'],
      forceNew: true, // one connection per client (io() would multiplex them all over one)
      autoConnect: false,
      // The harness reconnects each client itself, after socket.io's own first delay
      // (reconnectionDelay 100 ms, randomization 0.5), so no client can come back while the
      // sender is still sending; socket.connect() is the same path Manager.reconnect() takes.
      reconnection: false,
      reconnectionDelay: delayMs,
      randomizationFactor: jitter,
      timeout: timeoutMs,
      query: { name },
    });
    this.socket.on('message', (m) => {
      framesSeen += 1;
      if (m && m.room === this.room && typeof m.seq === 'number') this.hooks.message?.(m.seq);
    });
    this.socket.on('disconnect', (reason) => this.hooks.down?.(reason));
    this.socket.on('connect', () => {
      // socket.io sends the missed packets before CONNECT: this is after the replay.
      if (this.reconnecting) this.hooks.rejoined?.();
      if (this.reconnecting) this.hooks.replayed?.(this.socket.recovered === true, this.socket.recovered ? '' : 'not recovered');
    });
  }

  async connect(room) {
    this.room = room;
    await new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('connect_error', reject);
      this.socket.connect();
    });
    const ack = await this.socket.timeout(timeoutMs).emitWithAck('join', { room });
    if (ack.error) throw new Error(`join: ${ack.error}`);
    return ack.seq;
  }

  async reconnect() {
    this.reconnecting = true;
    await new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('connect_error', reject);
      this.socket.connect();
    });
  }

  async send(text, clientId) {
    const ack = await this.socket.timeout(timeoutMs).emitWithAck('message', { room: this.room, text, clientId });
    if (ack.error) throw new Error(`message: ${ack.error}`);
    return ack.seq;
  }

  close() {
    this.socket.disconnect();
  }
}

const Adapter = target === 'socketio' ? SocketIoClient : OursClient;

// ---------------------------------------------------------------------------------------------
// The harness (the same for both targets). The main thread runs the scenario (drop, sender,
// the clock) and `--workers` worker threads (this same file) hold the clients, an equal share
// each, so that one JavaScript thread decoding 100,000 deliveries is not all that is measured.

/** Wall-clock ms, comparable between threads (each thread's performance.now() has its own origin). */
const wall = () => performance.timeOrigin + performance.now();

/** One receiving client's view of the room: what it has, in which order, and when. */
class Member {
  constructor(index, room) {
    this.index = index;
    this.base = 0; // room seq at its first join: older messages are history, not this run's
    this.position = 0; // highest contiguous seq it has
    this.seen = new Set();
    this.duplicates = 0;
    this.outOfOrder = 0;
    this.down = false;
    this.downReason = '';
    this.recoveredFlag = null; // what the server said on reconnect
    this.recoveredReason = '';
    this.attemptAt = null;
    this.rejoinedAt = null; // back in the room (ours: `joined`; socket.io: `connect`)
    this.completeAt = null;
    this.room = room;
    this.client = new Adapter(`r${index}`, {
      message: (seq) => this.message(seq),
      down: (reason) => { this.down = true; this.downReason = reason; },
      replayed: (ok, reason) => { this.recoveredFlag = ok; this.recoveredReason = reason || ''; },
      rejoined: () => { this.rejoinedAt = wall(); },
    });
  }

  message(seq) {
    if (seq <= this.base) return;
    if (this.seen.has(seq)) {
      this.duplicates += 1;
      return;
    }
    if (seq !== this.position + 1) this.outOfOrder += 1;
    this.seen.add(seq);
    while (this.seen.has(this.position + 1)) this.position += 1;
    if (this.completeAt === null && last !== null && this.position >= last) this.completeAt = wall();
  }
}

let last = null; // seq of the last message the sender sent in the current run

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// -- worker side ----------------------------------------------------------------------------
/** A worker's share of the clients; answers the main thread's steps, one at a time. */
async function workerMain() {
  let members = [];
  const steps = {
    // 1. Connect and join (at most --parallel handshakes at a time per worker), then wait until
    // join traffic has been quiet for 500 ms.
    async setup({ room, from, count }) {
      last = null;
      members = Array.from({ length: count }, (_, i) => new Member(from + i, room));
      let next = 0;
      await withTimeout(Promise.all(Array.from({ length: Math.min(parallel, count) }, async () => {
        while (next < members.length) {
          const m = members[next++];
          m.base = await m.client.connect(room);
          m.position = m.base;
        }
      })), timeoutMs, 'connecting and joining');
      let frames = framesSeen;
      let quietSince = now();
      await until(() => {
        if (framesSeen !== frames) { frames = framesSeen; quietSince = now(); }
        return now() - quietSince >= 500;
      }, timeoutMs, 'join traffic to settle');
      return {};
    },
    async send({ text, clientId }) {
      return { seq: await withTimeout(members[0].client.send(text, clientId), timeoutMs, 'an ack') };
    },
    async positioned({ seq }) {
      await until(() => members.every((m) => m.position >= seq), timeoutMs, 'every client to get the first message');
      return {};
    },
    async down() {
      await until(() => members.every((m) => m.down), timeoutMs, 'every client to see its connection close');
      return { reasons: [...new Set(members.map((m) => m.downReason))], early: members.filter((m) => m.seen.size > 1).length };
    },
    // 5./6. Reconnect after socket.io's first delay, through the library's reconnect path; wait
    // until every client has all messages and its server's verdict; 300 ms more for strays.
    async reconnect({ first, last: lastSeq }) {
      last = lastSeq;
      const elu = performance.eventLoopUtilization();
      const failures = [];
      for (const m of members) {
        m.recoveredFlag = null; // the verdict of this reconnect (a first join may have had one)
        setTimeout(() => {
          m.attemptAt = wall();
          m.client.reconnect(m.position).catch((e) => failures.push(`client ${m.index}: ${e.message}`));
        }, reconnectDelay());
      }
      const presenceBefore = presenceFrames;
      let error = null;
      try {
        await until(() => failures.length > 0
          || members.every((m) => m.completeAt !== null && m.recoveredFlag !== null), timeoutMs, 'every client to recover all messages');
        if (failures.length) error = failures[0];
      } catch (e) {
        error = e.message;
      }
      const busy = performance.eventLoopUtilization(elu).utilization;
      const presence = presenceFrames - presenceBefore;
      await sleep(300);
      return {
        error,
        busy,
        presence,
        members: members.map((m) => {
          let lost = 0;
          for (let s = first; s <= lastSeq; s += 1) if (!m.seen.has(s)) lost += 1;
          return [m.attemptAt, m.completeAt, m.recoveredFlag, m.recoveredReason, lost, m.duplicates, m.outOfOrder, m.rejoinedAt];
        }),
      };
    },
    async close() {
      for (const m of members) {
        try { m.client.close(); } catch { /* already closed */ }
      }
      members = [];
      return {};
    },
  };
  serveSteps(steps);
}

// -- main side ------------------------------------------------------------------------------
function startWorkers(n) {
  return spawnWorkers(fileURLToPath(import.meta.url), n, 2 * timeoutMs + 5000);
}

async function runOnce(rep, pool) {
  const room = `${roomPrefix}-${rep}-${process.pid % 10000}`;
  const result = { label, target, rep, clients, messages, workers: pool.length };
  const all = (step, data) => Promise.all(pool.map((w) => w.call(step, data)));
  let sender = null;
  try {
    // 1. Everyone connects and joins.
    const t = now();
    const share = Math.ceil(clients / pool.length);
    await Promise.all(pool.map((w, i) => w.call('setup', {
      room, from: i * share, count: Math.max(0, Math.min(share, clients - i * share)),
    })));
    log(`run ${rep}: ${clients} clients in ${room} (${Math.round(now() - t)} ms)`);

    // 2. One message (from client 0) so that every client has a position.
    const { seq: warm } = await pool[0].call('send', { text: 'position', clientId: `warm-${rep}` });
    await all('positioned', { seq: warm });

    // 3. Server-side drop.
    const res = await fetch(`${baseUrl}/api/test/drop-sockets`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: chatMode ? 'chat' : 'typed-chat' }), signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`drop-sockets answered ${res.status}`);
    // socket.io server: {dropped}; ours: {listening}, the sockets the (asynchronous) order reached.
    const answer = await res.json();
    result.dropped = answer.dropped ?? answer.listening;
    const downs = await all('down');
    result.down_reasons = [...new Set(downs.flatMap((d) => d.reasons))];

    // 4. While they are down, the sender sends M messages (all acked = all stored).
    sender = new Adapter('sender', {});
    await withTimeout(sender.connect(room), timeoutMs, 'the sender to connect');
    const seqs = await withTimeout(Promise.all(Array.from({ length: messages },
      (_, i) => sender.send(`message ${i + 1} of ${messages}`, `s${rep}-${i + 1}`))), timeoutMs, 'the sender\'s acks');
    sender.close();
    sender = null;
    const first = Math.min(...seqs);
    const lastSeq = Math.max(...seqs);
    if (lastSeq - first + 1 !== messages || first !== warm + 1) {
      throw new Error(`the server numbered the ${messages} messages ${first}..${lastSeq} after ${warm}`);
    }
    // Nothing may have reached a client while it was down (the drop must have taken them all).
    const early = (await all('down')).reduce((a, d) => a + d.early, 0);
    if (early) throw new Error(`${early} clients received a message while they were down`);

    // 5./6. Everyone reconnects; until every client has all M.
    const outs = await all('reconnect', { first, last: lastSeq });
    const rows = outs.flatMap((o) => o.members);
    const error = outs.find((o) => o.error)?.error;
    const attempts = rows.map((r) => r[0]).filter((x) => x !== null);
    const t0 = Math.min(...attempts);
    const complete = rows.filter((r) => r[1] !== null);
    if (complete.length === rows.length) {
      const end = Math.max(...complete.map((r) => r[1]));
      result.time_ms = Math.round((end - t0) * 10) / 10;
      result.deliveries_per_s = Math.round((clients * messages) / ((end - t0) / 1000));
    }
    // From the first attempt until every client was back in the room (before its replay ends).
    const rejoined = rows.map((r) => r[7]).filter((x) => x !== null);
    if (rejoined.length === rows.length) result.rejoined_ms = Math.round((Math.max(...rejoined) - t0) * 10) / 10;
    const perClient = complete.map((r) => r[1] - r[0]);
    result.client_ms_p50 = perClient.length ? Math.round(percentile(perClient, 50)) : null;
    result.client_ms_p99 = perClient.length ? Math.round(percentile(perClient, 99)) : null;
    result.attempts_spread_ms = Math.round(Math.max(...attempts) - t0);
    result.recovered_clients = rows.filter((r) => r[1] !== null && r[2] === true).length;
    result.recovered_flags = rows.filter((r) => r[2] === true).length;
    result.complete_clients = complete.length;
    result.lost = rows.reduce((a, r) => a + r[4], 0);
    result.duplicates = rows.reduce((a, r) => a + r[5], 0);
    result.out_of_order = rows.reduce((a, r) => a + r[6], 0);
    const reasons = [...new Set(rows.filter((r) => r[2] === false).map((r) => r[3]))];
    if (reasons.length) result.not_recovered_reasons = reasons;
    // Presence frames (ours: `user:joined` for every rejoin, to every member already back)
    // received while the clients recovered; socket.io sends none.
    result.presence_frames = outs.reduce((a, o) => a + o.presence, 0);
    // How busy each worker's event loop was while its clients recovered (0-1): near 1 means the
    // load generator, not the server, set the pace.
    result.loadgen_busy = outs.map((o) => Math.round(o.busy * 100) / 100);
    if (error) result.error = error;
  } catch (e) {
    result.error = e.message;
  } finally {
    sender?.close();
    await all('close').catch(() => {});
  }
  return result;
}

async function main() {
  const watchdog = setTimeout(() => {
    console.error(`[recovery ${label}] watchdog: still running after ${reps} × 4 × the timeout; exiting`);
    process.exit(3);
  }, reps * 4 * timeoutMs + 30000);
  watchdog.unref();
  const pool = startWorkers(workers);
  let bad = false;
  for (let rep = 1; rep <= reps; rep += 1) {
    const r = await runOnce(rep, pool);
    const ok = !r.error && r.lost === 0 && r.duplicates === 0 && r.out_of_order === 0 && r.recovered_clients === clients;
    bad ||= !ok;
    log(`run ${rep}: ${r.time_ms ?? '—'} ms to full recovery (all back in the room after ${r.rejoined_ms ?? '—'} ms), `
      + `${r.deliveries_per_s ?? '—'} deliveries/s, `
      + `recovered ${r.recovered_clients ?? 0}/${clients}, lost ${r.lost ?? '—'}, duplicates ${r.duplicates ?? '—'}, `
      + `out of order ${r.out_of_order ?? '—'}; per client p50 ${r.client_ms_p50 ?? '—'} / p99 ${r.client_ms_p99 ?? '—'} ms; `
      + `load generator busy ${JSON.stringify(r.loadgen_busy ?? [])}`
      + (r.error ? `; ERROR ${r.error}` : ''));
    console.log(`RESULT ${JSON.stringify(r)}`);
    // Let the server take the closes (ours tells the remaining members of every leave).
    await sleep(1000);
  }
  process.exit(bad ? 1 : 0);
}

if (isMainThread) await main();
else await workerMain();
