// The fan-out benchmark's second load generator, in Node (npm `ws` and `socket.io-client`): the
// same scenario as server/examples/fanout_bench.rs, so a figure that holds with one generator can
// be checked with a yardstick written by someone else's tools.
//
//   node bench/fanout/loadgen.mjs --protocol typed|socketio --url http://127.0.0.1:PORT \
//       [--clients 1000] [--messages 200] [--rate 0] [--reps 3] [--workers 1] [--label L] [--timeout-s 60] [--server-pid P]
//
// Protocols: `typed` speaks docs/protocol.md's typed-chat subset on /ws/typed-chat (our dev
// server, bench/node-ws/server.mjs); `socketio` speaks socket.io 4 (bench/fanout/socketio-server.mjs)
// over its WebSocket transport, one connection per client.
//
// The clients live in --workers worker threads (an equal share each; the sender, client 0, in
// the first); the main thread only runs the scenario and keeps the clock. One JavaScript thread
// receives about 750,000 deliveries/s here, less than a fast server sends: with one worker the
// generator, not the server, sets the pace of a burst (`loadgen_busy` near 1 says so).
//
// Each run, in a fresh room with fresh connections:
//  1. N clients connect and join the room (32 handshakes at a time in all). On `typed` it waits
//     until every client has heard of every member (`joined` + `user:joined`) or join traffic
//     has been quiet for 500 ms, so the O(N²) join announcements are not counted as fan-out.
//  2. Client 0 sends M messages, text "<n> <µs since the run's base>": all at once (`--rate 0`,
//     a burst) or paced at R messages/s. Every member, the sender included, must receive each.
//  3. Per delivery: receipt time − send time (wall-clock ms, the same clock in every thread:
//     `performance.timeOrigin + performance.now()`). Deliveries/s = deliveries / (last receipt −
//     first send). A run ends when every delivery arrived or nothing arrived for 5 s.
//  4. Per message (paced runs read these): `first_ms`, the median over messages of its first
//     receipt's latency (how soon the server starts a broadcast), and `drain_ms`, the median
//     over messages of last receipt − first receipt. When the server writes faster than this
//     generator reads, `drain_ms` is the generator's own time to take in one broadcast, a floor
//     under every server's p99 (bench/notes.md, "Fan-out", 2026-12-05).
//  5. Who waited for a core, from Linux's per-thread `schedstat` between the first send and
//     the last receipt: `loadgen_wait_ms`, the time this generator's worker threads were
//     runnable but not running (summed over them), and with `--server-pid`, the server's CPU
//     time (`server_cpu_ms`) and its own wait (`server_wait_ms`), summed over its threads. On a
//     machine the server and the generator share, a generator that waits for a core reports
//     latency no server caused (bench/notes.md, "Fan-out", 2026-12-05, evening); `null` where
//     /proc has no `schedstat`.
// `loadgen_busy` is the event-loop utilisation of each worker while the messages flow (near 1:
// that thread set the pace). Each run prints a human line and a `RESULT {json}` line (the same
// fields as fanout_bench's, plus `generator`, `workers`, `loadgen_busy`, a list, and the fields of step 5); the exit
// status is 1 when a run lost deliveries or failed.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import { serveSteps, startWorkers as spawnWorkers, withTimeout } from '../workers.mjs';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));

const args = process.argv.slice(2);
function flag(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const protocol = flag('protocol', '');
const baseUrl = flag('url', '').replace(/\/+$/, '');
const clients = Number(flag('clients', 1000));
const messages = Number(flag('messages', 200));
const rate = Number(flag('rate', 0));
const reps = Number(flag('reps', 3));
const label = flag('label', protocol);
const timeoutMs = Number(flag('timeout-s', 60)) * 1000;
const workers = Number(flag('workers', 1));
const serverPid = Number(flag('server-pid', 0));
const PARALLEL = 32;
const QUIET_MS = 500;
const IDLE_GAP_MS = 5000;
if (!['typed', 'socketio'].includes(protocol) || !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(baseUrl)
    || !(clients >= 1) || !(messages >= 1) || !(rate >= 0) || !(reps >= 1) || !Number.isInteger(workers) || workers < 1 || workers > clients
    || !Number.isInteger(serverPid) || serverPid < 0) {
  console.error('usage: loadgen.mjs --protocol typed|socketio --url http://127.0.0.1:PORT [--clients N] [--messages M] [--rate R] [--reps K] [--workers W ≤ N] [--server-pid P] (loopback only)');
  process.exit(2);
}

const now = () => performance.now();
/** Wall-clock ms, comparable between threads (each thread's performance.now() has its own origin). */
const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Linux's scheduler counters for the threads under `dir` (`/proc/PID/task`), or for one thread
 * (`/proc/thread-self`): `[cpu_ns, wait_ns]`, time run and time spent runnable waiting for a core
 * (`schedstat`'s first two fields), summed; `null` where /proc does not have them.
 */
function schedstat(dir) {
  try {
    const paths = dir.endsWith('/task') ? readdirSync(dir).map((t) => `${dir}/${t}/schedstat`) : [`${dir}/schedstat`];
    const sum = [0, 0];
    for (const path of paths) {
      try {
        const [cpu, wait] = readFileSync(path, 'utf8').split(' ').map(Number);
        sum[0] += cpu;
        sum[1] += wait;
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
    return sum;
  } catch {
    return null;
  }
}

/** Resolves when `check()` is true (polled every 5 ms), rejects after `ms` naming `what`. */
async function until(check, ms, what) {
  const end = now() + ms;
  while (!check()) {
    if (now() > end) throw new Error(`timed out after ${Math.round(ms / 1000)} s waiting for ${what}`);
    await sleep(5);
  }
}


// This worker's share of one run: the latencies and the counters its clients bump (`base`: the
// run's wall-clock origin, set by the main thread).
let run = null;

/** Reads "<n> <µs>" starting at `at` in `buf` (a Buffer or string) and counts the delivery. */
function delivered(buf, at) {
  const r = run;
  if (!r) return;
  const code = (i) => (typeof buf === 'string' ? buf.charCodeAt(i) : buf[i]);
  let i = at;
  let n = 0;
  for (; i < buf.length && code(i) !== 32; i += 1) n = n * 10 + (code(i) - 48);
  i += 1;
  let sentUs = 0;
  let digits = 0;
  for (; i < buf.length; i += 1) {
    const c = code(i);
    if (c < 48 || c > 57) break;
    sentUs = sentUs * 10 + (c - 48);
    digits += 1;
  }
  if (!digits || !(n >= 0 && n < messages)) return;
  const now = wall();
  r.latencies[r.count] = now - (r.base + sentUs / 1000);
  r.message[r.count] = n;
  r.count += 1;
  r.lastReceipt = now;
}

// ---------------------------------------------------------------------------------------------
// `typed`: docs/protocol.md on /ws/typed-chat. Frames are scanned, not parsed, as the Rust
// generator does: the generator's one thread is for receiving, not for JSON.
const WebSocket = protocol === 'typed' ? require('ws') : null;
const MESSAGE = Buffer.from('{"type":"message"');
const USER_JOINED = Buffer.from('{"type":"user:joined"');
const TEXT = Buffer.from('"text":"');

class TypedClient {
  constructor(index) {
    this.index = index;
    this.seen = 0; // members heard of, itself included
    this.closed = false;
  }

  connect(room) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws/typed-chat?name=b${this.index}`, { perMessageDeflate: false });
      this.ws = ws;
      let joined = false;
      const timer = setTimeout(() => reject(new Error(`client ${this.index}: no joined within ${timeoutMs} ms`)), timeoutMs);
      ws.on('error', (e) => { if (!joined) { clearTimeout(timer); reject(e); } });
      ws.on('close', () => {
        this.closed = true;
        if (run && run.sending) run.closedEarly += 1;
        if (!joined) { clearTimeout(timer); reject(new Error(`client ${this.index}: closed while joining`)); }
      });
      ws.on('open', () => ws.send(JSON.stringify({ type: 'join', room })));
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        run.frames += 1;
        if (data.length > MESSAGE.length && data.compare(MESSAGE, 0, MESSAGE.length, 0, MESSAGE.length) === 0) {
          const at = data.indexOf(TEXT);
          if (at >= 0) delivered(data, at + TEXT.length);
          return;
        }
        if (data.compare(USER_JOINED, 0, USER_JOINED.length, 0, USER_JOINED.length) === 0) {
          this.seen += 1;
          return;
        }
        if (!joined && data.indexOf('"type":"joined"') >= 0) {
          joined = true;
          clearTimeout(timer);
          this.seen += data.toString().split('"userId":').length - 1;
          resolve();
        }
      });
    });
  }

  settled() { return this.seen >= clients; }

  send(room, text) { this.ws.send(JSON.stringify({ type: 'message', room, text })); }

  close() {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', resolve);
      this.ws.close();
      setTimeout(() => { this.ws.terminate(); resolve(); }, 1000);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// `socketio`: socket.io 4's client, WebSocket transport, one connection per client (forceNew).
const ioClient = protocol === 'socketio' ? require('socket.io-client').io : null;

class SocketIoClient {
  constructor(index) {
    this.index = index;
    this.closed = false;
  }

  async connect(room) {
    const socket = ioClient(baseUrl, {
      transports: ['websocket'], forceNew: true, reconnection: false, timeout: timeoutMs, query: { name: `b${this.index}` },
    });
    this.socket = socket;
    socket.on('message', (m) => {
      run.frames += 1;
      if (m && typeof m.text === 'string') delivered(m.text, 0);
    });
    socket.on('disconnect', () => {
      if (run && run.sending && !this.closed) run.closedEarly += 1;
      this.closed = true;
    });
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    const ack = await socket.timeout(timeoutMs).emitWithAck('join', { room });
    if (ack.error) throw new Error(`client ${this.index}: join: ${ack.error}`);
  }

  settled() { return true; } // socket.io announces no joins

  send(room, text) { this.socket.emit('message', { room, text }); }

  close() {
    this.closed = true;
    this.socket.disconnect();
    return Promise.resolve();
  }
}

// ---------------------------------------------------------------------------------------------
// -- worker side: a share of the clients; answers the main thread's steps, one at a time.
function workerMain() {
  const Client = protocol === 'typed' ? TypedClient : SocketIoClient;
  let members = [];
  let elu = null;
  let sched = null;
  // Frames seen before a run is armed (joins) count here too; the run's arrays come with `arm`.
  run = { base: 0, latencies: new Float64Array(0), message: new Int32Array(0), count: 0, frames: 0, closedEarly: 0, lastReceipt: 0, sending: false };
  const steps = {
    async setup({ room, from, count, parallel }) {
      members = Array.from({ length: count }, (_, i) => new Client(from + i));
      let next = 0;
      await withTimeout(Promise.all(Array.from({ length: Math.min(parallel, count) }, async () => {
        while (next < members.length) await members[next++].connect(room);
      })), timeoutMs, 'connecting and joining');
      // Everyone here heard of everyone, or join traffic quiet for a while.
      let frames = run.frames;
      let quietSince = now();
      await until(() => {
        if (members.every((m) => m.settled())) return true;
        if (run.frames !== frames) { frames = run.frames; quietSince = now(); }
        return now() - quietSince >= QUIET_MS;
      }, timeoutMs, 'join traffic to settle');
      return { unsettled: members.filter((m) => !m.settled()).length };
    },
    async arm({ base }) {
      const size = members.length * messages;
      Object.assign(run, {
        base, latencies: new Float64Array(size), message: new Int32Array(size), count: 0, closedEarly: 0, lastReceipt: 0, sending: true,
      });
      elu = performance.eventLoopUtilization();
      sched = schedstat('/proc/thread-self');
      return {};
    },
    // Client 0 sends every message (burst or paced); answers when the last one is sent.
    async send({ room }) {
      const sender = members[0];
      const text = (n) => `${n} ${Math.round((wall() - run.base) * 1000)}`;
      const start = wall();
      if (rate === 0) {
        for (let n = 0; n < messages; n += 1) sender.send(room, text(n));
      } else {
        const interval = 1000 / rate;
        let sent = 0;
        await new Promise((resolve) => {
          const tick = () => {
            const due = Math.min(messages, Math.floor((wall() - start) / interval) + 1);
            while (sent < due) sender.send(room, text(sent++));
            if (sent >= messages) return resolve();
            setTimeout(tick, Math.max(0, start + sent * interval - wall()));
          };
          tick();
        });
      }
      return { start };
    },
    async progress() { return { count: run.count }; },
    async collect() {
      run.sending = false;
      const busy = elu ? performance.eventLoopUtilization(elu).utilization : 0;
      const after = schedstat('/proc/thread-self');
      const waitNs = sched && after ? after[1] - sched[1] : null;
      return { latencies: run.latencies.subarray(0, run.count), message: run.message.subarray(0, run.count), lastReceipt: run.lastReceipt, closedEarly: run.closedEarly, busy, waitNs };
    },
    async close() {
      await Promise.all(members.map((m) => (m.ws || m.socket ? m.close() : null)));
      members = [];
      return {};
    },
  };
  serveSteps(steps);
}

// -- main side: the scenario and the clock.
function startWorkers(n) {
  return spawnWorkers(fileURLToPath(import.meta.url), n, 2 * timeoutMs + 5000);
}

/** One run in room `room`; returns its figures. */
async function once(pool, room) {
  const expected = clients * messages;
  const all = (step, data) => Promise.all(pool.map((w) => w.call(step, data)));
  try {
    const share = Math.ceil(clients / pool.length);
    const parallel = Math.max(1, Math.floor(PARALLEL / pool.length));
    const setups = await Promise.all(pool.map((w, i) => w.call('setup', {
      room, from: i * share, count: Math.max(0, Math.min(share, clients - i * share)), parallel,
    })));
    const unsettled = setups.reduce((a, s) => a + s.unsettled, 0);
    if (unsettled) console.error(`warning: ${unsettled} of ${clients} clients never heard of the whole room`);

    await all('arm', { base: wall() });
    const server0 = serverPid ? schedstat(`/proc/${serverPid}/task`) : null;
    const sending = pool[0].call('send', { room });
    const end = now() + timeoutMs;
    let count = 0;
    let seen = -1;
    let lastChange = now();
    while (count < expected && now() < end) {
      count = (await all('progress')).reduce((a, p) => a + p.count, 0);
      if (count !== seen) { seen = count; lastChange = now(); }
      if (now() - lastChange > IDLE_GAP_MS) break;
      await sleep(2);
    }
    const { start } = await sending;
    const server1 = server0 ? schedstat(`/proc/${serverPid}/task`) : null;
    const outs = await all('collect');
    // Per message: its first and last receipt (latency), over every worker's clients.
    const first = new Float64Array(messages).fill(Infinity);
    const last = new Float64Array(messages).fill(-Infinity);
    for (const o of outs) {
      for (let i = 0; i < o.latencies.length; i += 1) {
        const n = o.message[i];
        if (o.latencies[i] < first[n]) first[n] = o.latencies[i];
        if (o.latencies[i] > last[n]) last[n] = o.latencies[i];
      }
    }
    const heard = [...first.keys()].filter((n) => first[n] !== Infinity);
    const median = (values) => {
      const sorted = Float64Array.from(values).sort();
      const mid = sorted.length >> 1;
      if (!sorted.length) return NaN;
      return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    };
    const lat = new Float64Array(outs.reduce((a, o) => a + o.latencies.length, 0));
    let at = 0;
    for (const o of outs) { lat.set(o.latencies, at); at += o.latencies.length; }
    lat.sort();
    const pct = (p) => (lat.length ? lat[Math.round((p / 100) * (lat.length - 1))] : NaN);
    const lastReceipt = Math.max(...outs.map((o) => o.lastReceipt));
    return {
      delivered: lat.length,
      expected,
      closedEarly: outs.reduce((a, o) => a + o.closedEarly, 0),
      elapsedS: Math.max(lastReceipt - start, 1e-6) / 1000,
      p50: pct(50),
      p99: pct(99),
      max: pct(100),
      first: median(heard.map((n) => first[n])),
      drain: median(heard.map((n) => last[n] - first[n])),
      busy: outs.map((o) => Math.round(o.busy * 100) / 100),
      genWaitMs: outs.every((o) => o.waitNs !== null) ? outs.reduce((a, o) => a + o.waitNs, 0) / 1e6 : null,
      serverCpuMs: server0 && server1 ? (server1[0] - server0[0]) / 1e6 : null,
      serverWaitMs: server0 && server1 ? (server1[1] - server0[1]) / 1e6 : null,
    };
  } finally {
    await all('close').catch(() => {});
    // Leaving is announced to everyone still there: let that pass before the next run.
    await sleep(200 + clients);
  }
}

async function main() {
  console.log(`fanout loadgen (node, ${protocol}) [${label}]: ${clients} clients in ${workers} worker thread(s), ${messages} messages per run (${rate ? `${rate} msg/s` : 'all at once'}), ${reps} run(s)`);
  const pool = startWorkers(workers);
  let failed = false;
  for (let rep = 1; rep <= reps; rep += 1) {
    const room = `nbench-${process.pid}-${rep}`;
    try {
      const r = await once(pool, room);
      const perSecond = r.delivered / r.elapsedS;
      console.log(`  run ${rep}: delivered ${r.delivered}/${r.expected} in ${r.elapsedS.toFixed(3)} s = ${perSecond.toFixed(0)} msg/s; latency p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms; per message first receipt ${r.first.toFixed(2)} ms, drain ${r.drain.toFixed(2)} ms (medians) (${r.closedEarly} closed early; load generator busy ${JSON.stringify(r.busy)}${r.genWaitMs === null ? '' : `, waited for a core ${r.genWaitMs.toFixed(1)} ms`}${r.serverCpuMs === null ? '' : `; server CPU ${r.serverCpuMs.toFixed(0)} ms, waited for a core ${r.serverWaitMs.toFixed(1)} ms`})`);
      console.log(`RESULT ${JSON.stringify({
        label, generator: 'node', workers, rep, clients, senders: 1, messages, rate, delivered: r.delivered, expected: r.expected,
        closed_early: r.closedEarly, elapsed_s: r.elapsedS, msgs_per_s: perSecond, p50_ms: r.p50, p99_ms: r.p99, max_ms: r.max, first_ms: r.first, drain_ms: r.drain,
        loadgen_busy: r.busy, loadgen_wait_ms: r.genWaitMs, server_cpu_ms: r.serverCpuMs, server_wait_ms: r.serverWaitMs,
      })}`);
      failed ||= r.delivered < r.expected;
    } catch (e) {
      console.log(`  run ${rep}: failed: ${e.message}`);
      console.log(`RESULT ${JSON.stringify({ label, generator: 'node', workers, rep, error: e.message })}`);
      failed = true;
    }
  }
  process.exit(failed ? 1 : 0);
}

if (isMainThread) await main();
else workerMain();
