// Browser parts of the benchmark (run by scripts/bench.sh, which starts the servers):
//   node bench/browser.mjs ingest  URL OUT.json   ingest page (bench/ingest) served at URL
//   node bench/browser.mjs cursors URL OUT.json   the generated app served at URL (its dev server)
// Debian's headless Chromium through tools/node_modules/playwright-core (never a downloaded
// browser); every wait is bounded. Knobs (environment): BENCH_REPS (5), BENCH_INGEST_SIZES
// ("10000,100000"), BENCH_SEED_BUDGET_S (60), BENCH_PEERS (50), BENCH_PEER_HZ (20),
// BENCH_FRAME_SECONDS (10), BENCH_TRACE_DIR (unset: where to keep the cursors runs' traces).

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { launchBrowser } from '../e2e/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const num = (name, fallback) => Number(process.env[name] || fallback);
const REPS = num('BENCH_REPS', 5);

// The same Debian headless Chromium, with the same flags, as the end-to-end suite.
const launch = launchBrowser;

/** Resolves with `value` after `ms` without keeping the process alive. */
const deadline = (ms, value) => new Promise((done) => setTimeout(() => done(value), ms).unref());

/** Polls `check` (a page function) until truthy or `ms` passes; returns the value or null. */
async function poll(page, check, ms, arg) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // A page whose main thread is busy answers late: each evaluation is bounded too.
    const value = await Promise.race([page.evaluate(check, arg).catch(() => null), deadline(Math.max(100, end - Date.now()), null)]);
    if (value) return value;
    await sleep(50);
  }
  return null;
}

/** One ingest run in a fresh browser context; returns its figures. */
async function ingestOnce(browser, url, mode, n, budgetMs) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${url}/?mode=${mode}`, { timeout: 30000 });
    if (!(await poll(page, () => window.__bench && window.__bench.ready, 15000))) {
      throw new Error(`${mode}: page never connected`);
    }
    await page.evaluate((count) => { window.__bench.start(count).catch((e) => { window.__bench.error = String(e); }); }, n);
    const result = await poll(page, () => window.__bench.result || (window.__bench.error && { error: window.__bench.error }), budgetMs);
    if (result && result.error) throw new Error(`${mode}: ${result.error}`);
    if (!result) {
      const received = await Promise.race([page.evaluate(() => window.__bench.received), deadline(2000, null)]);
      return { mode, n, finished: false, budgetS: budgetMs / 1000, received };
    }
    // Anything still arriving after "done" would be duplicates; anything missing is lost.
    await sleep(300);
    const received = await page.evaluate(() => window.__bench.received);
    return { mode, n, finished: true, ms: result.ms, renders: result.renders, frames: result.frames, received, lost: Math.max(0, n - received) };
  } finally {
    await Promise.race([context.close(), deadline(10000)]);
  }
}

async function ingest(url, out) {
  const sizes = (process.env.BENCH_INGEST_SIZES || '10000,100000').split(',').map(Number);
  const seedBudget = num('BENCH_SEED_BUDGET_S', 60) * 1000;
  const browser = await launch();
  const runs = [];
  try {
    const one = async (n, mode, rep) => {
      const r = await ingestOnce(browser, url, mode, n, mode === 'seed' ? seedBudget : 120000);
      r.rep = rep;
      runs.push(r);
      const what = r.finished
        ? `${r.ms.toFixed(0)} ms, ${r.renders} renders / ${r.frames} frames, lost ${r.lost}`
        : `unfinished after ${r.budgetS} s (${r.received} rendered)`;
      console.error(`[bench] ingest ${n} ${mode} #${rep}: ${what}`);
      return r;
    };
    for (const n of sizes) {
      // Raw and hook alternate, so both see the machine in the same state (run-to-run drift on
      // a shared box is larger than the difference measured).
      for (let rep = 1; rep <= REPS; rep++) {
        for (const mode of rep % 2 ? ['raw', 'hook'] : ['hook', 'raw']) await one(n, mode, rep);
      }
      // The seed pattern is quadratic: once it misses the budget, more reps only burn time.
      for (let rep = 1; rep <= REPS; rep++) {
        if (!(await one(n, 'seed', rep)).finished) break;
      }
    }
  } finally {
    await browser.close();
  }
  writeFileSync(out, JSON.stringify({ runs }, null, 1));
}

/** 50 peers moving on /ws/presence at 20 Hz while the cursors page's frame times are recorded. */
const TRACE_CATEGORIES = ['toplevel', 'devtools.timeline', 'disabled-by-default-devtools.timeline.frame'];

/** The `p`th percentile of an ascending array (nearest rank), or null when empty. */
function quantile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.round((p / 100) * (sorted.length - 1)))];
}

/**
 * Main-thread work per frame from a Chromium trace, ascending, in ms: on the renderer main
 * thread with the most frames, the time covered by top-level tasks (`ThreadControllerImpl::RunTask`) between one
 * `BeginMainThreadFrame` and the next (tasks are clipped to the frame they overlap).
 */
function frameWork(events) {
  const mains = new Set(events
    .filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
    .map((e) => `${e.pid}:${e.tid}`));
  const frames = new Map();
  for (const e of events) {
    const key = `${e.pid}:${e.tid}`;
    if (e.name === 'BeginMainThreadFrame' && mains.has(key)) {
      if (!frames.has(key)) frames.set(key, []);
      frames.get(key).push(e.ts);
    }
  }
  let main = null;
  for (const [key, list] of frames) if (!main || list.length > frames.get(main).length) main = key;
  if (!main) return [];
  const starts = frames.get(main).sort((a, b) => a - b);
  const tasks = events
    .filter((e) => e.ph === 'X' && (e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask') && `${e.pid}:${e.tid}` === main && e.dur > 0)
    .map((e) => [e.ts, e.ts + e.dur])
    .sort((a, b) => a[0] - b[0]);
  const work = [];
  let t = 0;
  for (let i = 0; i + 1 < starts.length; i++) {
    const [from, to] = [starts[i], starts[i + 1]];
    while (t < tasks.length && tasks[t][1] <= from) t++;
    let busy = 0;
    for (let j = t; j < tasks.length && tasks[j][0] < to; j++) {
      busy += Math.max(0, Math.min(tasks[j][1], to) - Math.max(tasks[j][0], from));
    }
    work.push(busy / 1000);
  }
  return work.sort((a, b) => a - b);
}

async function cursors(url, out) {
  const peers = num('BENCH_PEERS', 50);
  const hz = num('BENCH_PEER_HZ', 20);
  const seconds = num('BENCH_FRAME_SECONDS', 10);
  const wsUrl = url.replace(/^http/, 'ws');
  let sent = 0;
  // Peers are connected afresh for every run: parsing a trace blocks this process for a moment,
  // long enough for the server to drop peers that stopped reading (slow-consumer rule). They run
  // in their own process at the lowest CPU priority (bench/peers.mjs): on this machine they share
  // two cores with the browser, and their own load must not be counted as the page's frame time.
  const startPeers = async () => {
    const child = spawn('nice', ['-n', '19', process.execPath, join(here, 'peers.mjs'), wsUrl, String(peers), String(hz)],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = [];
    let wake = () => {};
    createInterface({ input: child.stdout }).on('line', (line) => { lines.push(line); wake(); });
    // 'close', not 'exit': it fires after the child's stdout is read to the end ("sent N").
    let failed = null;
    child.once('error', (e) => { failed = e; wake(); });
    const exited = new Promise((done) => child.once('close', (code) => { done(code); wake(); }));
    let closed = false;
    exited.then(() => { closed = true; });
    const waitLine = async (prefix, ms) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const line = lines.find((l) => l.startsWith(prefix));
        if (line) return line;
        if (closed || failed) break;
        await Promise.race([new Promise((done) => { wake = done; }), sleep(200)]);
      }
      return null;
    };
    if (!(await waitLine('ready', 20000))) {
      child.kill('SIGKILL');
      throw new Error(`bench/peers.mjs did not connect ${peers} peers within 20 s${failed ? `: ${failed.message}` : ''}`);
    }
    return async () => {
      child.kill('SIGTERM');
      const line = await waitLine('sent ', 10000);
      if (line) sent += Number(line.slice('sent '.length));
      else child.kill('SIGKILL');
      await exited;
    };
  };
  const browser = await launch();
  const runs = [];
  let stopPeers = async () => {};
  try {
    for (let rep = 1; rep <= REPS; rep++) {
      stopPeers = await startPeers();
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(`${url}/cursors?name=viewer`, { timeout: 30000 });
      if (process.env.BENCH_EXTRA_CSS) await page.addStyleTag({ content: process.env.BENCH_EXTRA_CSS });
      const all = await poll(page, (count) => document.querySelectorAll('.board .cursor').length >= count, 20000, peers);
      if (!all) throw new Error(`the cursors page never showed ${peers} cursors`);
      // Main-thread work over the window (CDP Performance metrics), besides the frame intervals.
      const cdp = await context.newCDPSession(page);
      await cdp.send('Performance.enable');
      const metric = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
      const before = await metric();
      const deltas = await page.evaluate((ms) => new Promise((done) => {
        const times = [];
        const end = performance.now() + ms;
        const frame = (t) => {
          times.push(t);
          if (t < end) requestAnimationFrame(frame);
          else done(times.slice(1).map((x, i) => x - times[i]));
        };
        requestAnimationFrame(frame);
      }), seconds * 1000);
      const after = await metric();
      // Then a second window of the same length under a trace, for the main thread's work per
      // frame (not just its mean). Tracing itself costs main-thread time, so it never overlaps
      // the window whose frame intervals and dropped frames are reported.
      await browser.startTracing(page, { categories: TRACE_CATEGORIES });
      await sleep(seconds * 1000);
      const trace = await browser.stopTracing();
      // BENCH_TRACE_DIR keeps each run's trace (open it in chrome://tracing or Perfetto).
      if (process.env.BENCH_TRACE_DIR) writeFileSync(join(process.env.BENCH_TRACE_DIR, `cursors-${rep}.json`), trace);
      const work = frameWork(JSON.parse(trace.toString()).traceEvents || []);
      const busy = (name) => ((after[name] - before[name]) * 1000) / Math.max(1, deltas.length);
      const cursorsShown = await page.evaluate(() => document.querySelectorAll('.board .cursor').length);
      await context.close();
      const sorted = [...deltas].sort((a, b) => a - b);
      // A delta of k frame budgets (16.7 ms at 60 Hz) means k - 1 frames were dropped.
      const budget = 1000 / 60;
      const dropped = deltas.reduce((sum, d) => sum + Math.max(0, Math.round(d / budget) - 1), 0);
      const r = { rep, frames: deltas.length, p50: quantile(sorted, 50), p95: quantile(sorted, 95), p99: quantile(sorted, 99), max: sorted[sorted.length - 1], dropped, cursorsShown,
        busyMsPerFrame: busy('TaskDuration'), scriptMsPerFrame: busy('ScriptDuration'),
        styleLayoutMsPerFrame: busy('RecalcStyleDuration') + busy('LayoutDuration'),
        workFrames: work.length, workP50: quantile(work, 50), workP95: quantile(work, 95), workP99: quantile(work, 99),
        workMax: work.length ? work[work.length - 1] : null };
      runs.push(r);
      await stopPeers();
      stopPeers = async () => {};
      console.error(`[bench] cursors #${rep}: ${r.frames} frames, p50 ${r.p50.toFixed(1)} p95 ${r.p95.toFixed(1)} p99 ${r.p99.toFixed(1)} ms, dropped ${dropped}, main thread ${r.busyMsPerFrame.toFixed(2)} ms/frame, work per frame p50 ${r.workP50?.toFixed(1)} p95 ${r.workP95?.toFixed(1)} p99 ${r.workP99?.toFixed(1)} ms (${r.workFrames} frames)`);
    }
  } finally {
    await stopPeers();
    await browser.close();
  }
  writeFileSync(out, JSON.stringify({ peers, hz, seconds, updatesSent: sent, runs }, null, 1));
}

const [part, url, out] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: node bench/browser.mjs ingest|cursors URL OUT.json');
  process.exit(2);
}
const parts = { ingest, cursors };
if (!parts[part]) {
  console.error(`unknown part ${part}`);
  process.exit(2);
}
await parts[part](url, out);
