// Test-only helpers of the end-to-end suite: dev-server processes (start, stop, freeze, thaw,
// restart on the same port), the headless browser, two-user scenes with artifacts, and bounded
// waits that say what they waited for. Nothing here is copied into generated apps.
//
// Inputs come from e2e/run.sh through the environment:
//   E2E_SERVER_BIN  the generated app's realtime-server binary
//   E2E_APP_DIST    the generated app's trunk build (dist/), served by the dev server itself
//   E2E_ABS_DIST    the absolute-URL variant's dist/, E2E_ABS_PORT the port its URLs point at
//   E2E_PID_DIR     where every started server leaves its pid, so run.sh can stop leftovers
//   E2E_ARTIFACTS   screenshots and logs (default target/artifacts/e2e)

import { before, after } from 'node:test';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync, rmSync, createWriteStream, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = process.env.E2E_ARTIFACTS || join(ROOT, 'target/artifacts/e2e');
export const SCREENSHOTS = join(ROOT, 'target/artifacts/screenshots');
const LOGS = join(ARTIFACTS, 'logs');
mkdirSync(LOGS, { recursive: true });

// playwright-core from tools/node_modules (installed by scripts/setup.sh), never a global one.
const requireTool = createRequire(join(ROOT, 'tools/package.json'));
const { chromium } = requireTool('playwright-core');

export { sleep };

/** Resolves with `value` after `ms`, without keeping the process alive (for Promise.race). */
function deadline(ms, value) {
  return new Promise((done) => setTimeout(() => done(value), ms).unref());
}

/** A required environment variable, or a message saying to use e2e/run.sh. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through e2e/run.sh`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Bounded waiting

/**
 * Polls `check` until it returns a truthy value (returned) or `timeoutMs` passes; then throws
 * "timed out after Ns waiting for <what>", with the last value/error seen.
 */
export async function waitFor(what, check, { timeoutMs = 5000, intervalMs = 50 } = {}) {
  const start = Date.now();
  let last;
  let lastError;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() - start >= timeoutMs) {
      const detail = lastError ? `; last error: ${lastError.message}` : `; last value: ${short(last)}`;
      throw new Error(`timed out after ${(timeoutMs / 1000).toFixed(1)}s waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

function short(value) {
  let text;
  try {
    text = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) return 'undefined';
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

// ---------------------------------------------------------------------------------------------
// Dev-server processes

const live = new Set();
const pidDir = process.env.E2E_PID_DIR;
let serverCount = 0;

/**
 * Starts the dev server (its own process group) and waits for its "listening on" line.
 * Options: port (0 = ask the OS), staticDir (serve an app from it), testEndpoints (default true),
 * args (extra flags), label (log file name).
 */
export async function startServer({
  port = 0,
  staticDir = process.env.E2E_APP_DIST,
  testEndpoints = true,
  args = [],
  label = 'server',
  bin = env('E2E_SERVER_BIN'),
} = {}) {
  const flags = ['--addr', `127.0.0.1:${port}`, '--demo-interval-ms', '0', ...args];
  if (staticDir) flags.push('--static-dir', staticDir);
  if (testEndpoints) flags.push('--test-endpoints');
  const server = { bin, flags, label, port, staticDir, testEndpoints, args };
  await spawnServer(server);
  return server;
}

async function spawnServer(server, { timeoutMs = 20000 } = {}) {
  serverCount += 1;
  const logPath = join(LOGS, `${server.label}-${process.pid}-${serverCount}.log`);
  const log = createWriteStream(logPath);
  log.write(`$ ${server.bin} ${server.flags.join(' ')}\n`);
  const child = spawn(server.bin, server.flags, {
    detached: true, // own process group: signals reach it (and only it) through -pid
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  child.stderr.pipe(log);
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  server.child = child;
  server.pid = child.pid;
  server.exited = exited;
  server.frozen = false;
  server.logPath = logPath;
  live.add(server);
  if (pidDir) writeFileSync(join(pidDir, String(child.pid)), `${server.label}\n`);
  exited.then(() => {
    live.delete(server);
    if (pidDir) rmSync(join(pidDir, String(child.pid)), { force: true });
  });

  let stdout = '';
  const listening = new Promise((done) => {
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      log.write(chunk);
      const m = /^listening on (http:\/\/127\.0\.0\.1:(\d+))\s*$/m.exec(stdout);
      if (m) done({ url: m[1], port: Number(m[2]) });
    });
  });
  const outcome = await Promise.race([
    listening,
    exited.then((e) => ({ exit: e })),
    deadline(timeoutMs, { timeout: true }),
  ]);
  if (outcome.timeout) {
    await stopServer(server);
    throw new Error(`timed out after ${timeoutMs / 1000}s waiting for the dev server's "listening on" line (log: ${logPath})`);
  }
  if (outcome.exit) {
    const error = new Error(`the dev server exited during start (code ${outcome.exit.code}, signal ${outcome.exit.signal}; log: ${logPath})`);
    error.exit = outcome.exit;
    throw error;
  }
  server.url = outcome.url;
  server.port = outcome.port;
  return server;
}

function signalGroup(server, signal) {
  try {
    process.kill(-server.pid, signal);
    return true;
  } catch {
    return false; // already gone
  }
}

/** Stops a server: SIGTERM to its group (after SIGCONT if frozen), SIGKILL after 8 s. */
export async function stopServer(server) {
  if (!server?.child || !live.has(server)) return server?.exitStatus;
  if (server.frozen) thaw(server);
  signalGroup(server, 'SIGTERM');
  const status = await Promise.race([server.exited, deadline(8000, null)]);
  if (status === null) {
    signalGroup(server, 'SIGKILL');
    server.exitStatus = await server.exited;
    throw new Error(`the dev server did not exit within 8s of SIGTERM (killed; log: ${server.logPath})`);
  }
  server.exitStatus = status;
  return status;
}

/** SIGSTOP: the process keeps its sockets but answers nothing (a frozen link). */
export function freeze(server) {
  if (!signalGroup(server, 'SIGSTOP')) throw new Error('cannot freeze: the dev server is not running');
  server.frozen = true;
}

/** SIGCONT after `freeze`. */
export function thaw(server) {
  signalGroup(server, 'SIGCONT');
  server.frozen = false;
}

/**
 * Stops the server and starts it again on the same port with the same flags (a new run: new
 * notification run id, message ids from 1). Retries the bind for up to 10 s if the port is busy.
 */
export async function restart(server) {
  await stopServer(server);
  const port = server.port;
  server.flags = server.flags.map((f) => (f.startsWith('127.0.0.1:') ? `127.0.0.1:${port}` : f));
  const start = Date.now();
  for (;;) {
    try {
      await spawnServer(server);
      if (server.port !== port) throw new Error(`restarted on port ${server.port}, not ${port}`);
      return server;
    } catch (e) {
      if (!e.exit || Date.now() - start > 10000) throw new Error(`restart on port ${port} failed: ${e.message}`);
      await sleep(200);
    }
  }
}

/** SIGKILL (a crash: no goodbyes, no close frames); resolves once it has exited. */
export async function kill(server) {
  if (!server?.child || !live.has(server)) return server?.exitStatus;
  signalGroup(server, 'SIGCONT');
  signalGroup(server, 'SIGKILL');
  server.exitStatus = await server.exited;
  return server.exitStatus;
}

/**
 * Starts a helper process (redis-server, nginx) in its own process group, stopped with the
 * others at exit; `ready()` is polled (every 50 ms, up to `timeoutMs`) until it says yes.
 */
export async function spawnHelper(label, cmd, args, ready, { timeoutMs = 10000 } = {}) {
  serverCount += 1;
  const logPath = join(LOGS, `${label}-${process.pid}-${serverCount}.log`);
  const log = createWriteStream(logPath);
  log.write(`$ ${cmd} ${args.join(' ')}\n`);
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const helper = { label, child, pid: child.pid, logPath, frozen: false };
  helper.exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  live.add(helper);
  if (pidDir) writeFileSync(join(pidDir, String(child.pid)), `${label}\n`);
  helper.exited.then(() => {
    live.delete(helper);
    if (pidDir) rmSync(join(pidDir, String(child.pid)), { force: true });
  });
  await waitFor(`${label} to be ready (log: ${logPath})`, ready, { timeoutMs });
  return helper;
}

/** Everything still running, killed synchronously (exit path; normal stops go through stopServer). */
function killAll() {
  for (const server of live) {
    signalGroup(server, 'SIGCONT');
    signalGroup(server, 'SIGKILL');
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** POSTs JSON to the server; returns the parsed answer (throws on a non-2xx status). */
export async function post(server, path, body) {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
    signal: AbortSignal.timeout(10000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}

export async function getJson(server, path) {
  const response = await fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(10000) });
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return response.json();
}

/** Publishes a notification; returns its id. */
export async function publish(server, notification) {
  const answer = await post(server, '/api/notifications', notification);
  if (!answer?.id) throw new Error(`POST /api/notifications gave no id: ${short(answer)}`);
  return answer.id;
}

/** Sends raw text frames to every client of an endpoint (test endpoints only). */
export async function inject(server, endpoint, frames) {
  return post(server, '/api/test/inject', { endpoint, frames });
}

// ---------------------------------------------------------------------------------------------
// Browser, users and scenes

/** Debian's headless Chromium (never a downloaded one). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 60000,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/**
 * The usual fixture of a test file: a dev server (its log named `label`) and the browser,
 * started before the file's tests and stopped after them; `use(server, browser)` receives both.
 */
export function withServerAndBrowser(label, use) {
  let server;
  let browser;
  before(async () => {
    server = await startServer({ label });
    browser = await launchBrowser();
    use(server, browser);
  });
  after(async () => {
    await browser?.close();
    await stopServer(server); // thaws first if a failure left it stopped
  });
}

/** Safe in file names. */
function slug(text) {
  return String(text).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/**
 * One scenario: users (each an independent browser context), their console, and artifacts.
 * Use through `scene(browser, name, async (s) => { ... })`.
 */
export class Scene {
  constructor(browser, name) {
    this.browser = browser;
    this.name = slug(name);
    this.users = [];
  }

  /**
   * Opens a user: a new context (no shared storage) at `baseUrl + path` with `?name=` (which
   * signs in as that name, or names the user on a server without sign-in; `name: null` opens
   * the sign-in screen). Waits for `ready` to render (default: the nav, so the wasm has started
   * and the user is in). `beforeGoto(page)` runs before
   * the first navigation (e.g. to count every `load` from the first one on).
   */
  async user(label, { baseUrl, path = '/', name = label, colorScheme = 'light', viewport = { width: 1280, height: 800 }, beforeGoto = null, ready = 'nav .nav a', contextOptions = {} }) {
    const context = await this.browser.newContext({ viewport, colorScheme, ...contextOptions });
    const page = await context.newPage();
    if (beforeGoto) await beforeGoto(page);
    const user = { label, name, context, page, console: [], problems: [], sockets: [], closed: false };
    page.on('console', (msg) => {
      const line = `[${msg.type()}] ${msg.text()}`;
      user.console.push(line);
      if (/panicked/i.test(msg.text())) user.problems.push(`console: ${msg.text().slice(0, 500)}`);
    });
    page.on('pageerror', (error) => user.problems.push(`pageerror: ${error.message.slice(0, 500)}`));
    page.on('websocket', (ws) => user.sockets.push(ws.url()));
    this.users.push(user);
    const url = new URL(path, baseUrl);
    if (name) url.searchParams.set('name', name);
    await page.goto(url.href, { waitUntil: 'load', timeout: 30000 });
    await waitForPage(page, `${label}'s app to render at ${url.pathname} (${ready})`, (sel) => !!document.querySelector(sel), ready, 20000);
    return user;
  }

  /** Closes one user's page (e.g. to leave), keeping its console for the report. */
  async close(user) {
    user.closed = true;
    await user.context.close();
  }

  /** Screenshots every open page (named after the scene, plus -FAILED on failure), checks the
   * consoles, closes everything. */
  async finish(failure) {
    for (const user of this.users) {
      if (user.closed) continue;
      const suffix = failure ? '-FAILED' : '';
      await user.page
        .screenshot({ path: join(ARTIFACTS, `${this.name}-${slug(user.label)}${suffix}.png`), timeout: 10000 })
        .catch(() => {});
    }
    if (failure) {
      for (const user of this.users) {
        writeFileSync(join(ARTIFACTS, `${this.name}-${slug(user.label)}-console.log`), `${user.console.join('\n')}\n`);
      }
    }
    for (const user of this.users) {
      if (!user.closed) await user.context.close().catch(() => {});
    }
    const problems = this.users.flatMap((u) => u.problems.map((p) => `${u.label}: ${p}`));
    return problems;
  }
}

/** Runs `body(scene)`; screenshots and closes pages whatever happens; fails on panics/page errors. */
export async function scene(browser, name, body) {
  const s = new Scene(browser, name);
  let failure;
  try {
    await body(s);
  } catch (e) {
    failure = e;
  }
  const problems = await s.finish(failure);
  if (failure) {
    if (problems.length) failure.message += `\nalso, in the browser: ${problems.join('\n')}`;
    throw failure;
  }
  if (problems.length) throw new Error(`panic or uncaught error in the page:\n${problems.join('\n')}`);
}

/**
 * Waits until `fn(arg)` is truthy in the page (polled every 50 ms); on timeout throws
 * "timed out after Ns waiting for <what>".
 */
export async function waitForPage(page, what, fn, arg = null, timeoutMs = 5000) {
  timeoutMs = Math.max(1, Math.round(timeoutMs)); // 0 would mean "no limit" to Playwright
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 50 });
    const value = await handle.jsonValue().catch(() => true);
    await handle.dispose().catch(() => {});
    return value;
  } catch (e) {
    if (e?.name === 'TimeoutError' || /Timeout/.test(e?.message ?? '')) {
      const badge = await page
        .evaluate(() => [...document.querySelectorAll('.status')].map((s) => s.textContent).join(' | '))
        .catch(() => '?');
      throw new Error(`timed out after ${(timeoutMs / 1000).toFixed(1)}s waiting for ${what} (status bar: "${badge}")`);
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Page helpers (selectors of the app's DOM)

/** The connection badge's data-state (open, connecting, reconnecting, closed, ...). */
export function badgeState(page) {
  return page.evaluate(() => document.querySelector('.status .badge[data-state]')?.getAttribute('data-state') ?? null);
}

export async function waitForState(user, state, timeoutMs = 10000) {
  return waitForPage(
    user.page,
    `${user.label}'s status badge to be "${state}"`,
    (s) => document.querySelector('.status .badge[data-state]')?.getAttribute('data-state') === s,
    state,
    timeoutMs,
  );
}

export async function waitForStateNot(user, state, timeoutMs) {
  return waitForPage(
    user.page,
    `${user.label}'s status badge to leave "${state}"`,
    (s) => {
      const now = document.querySelector('.status .badge[data-state]')?.getAttribute('data-state');
      return now && now !== s ? now : false;
    },
    state,
    timeoutMs,
  );
}

/**
 * Until the badge is open: clicks "Retry now" whenever it is shown (skipping the backoff wait).
 * Bounded by `timeoutMs`.
 */
export async function reconnectNow(user, timeoutMs = 15000) {
  return waitFor(`${user.label} to reconnect (badge "open", clicking "Retry now" when shown)`, async () => {
    const state = await badgeState(user.page);
    if (state === 'open') return true;
    const retry = user.page.locator('.status button', { hasText: 'Retry now' });
    if (await retry.isVisible().catch(() => false)) await retry.click({ timeout: 1000 }).catch(() => {});
    return false;
  }, { timeoutMs, intervalMs: 150 });
}

/** Texts of the chat messages (`.messages li.message .text`), oldest first. */
export function messageTexts(page) {
  return page.evaluate(() => [...document.querySelectorAll('.messages li.message .text')].map((e) => e.textContent));
}

/** Types into the chat input and presses Enter; returns Date.now() from just before the Enter. */
export async function sendChat(user, text) {
  const input = user.page.locator('#chat-input');
  await input.fill(text, { timeout: 5000 });
  const pressedAt = Date.now();
  await input.press('Enter', { timeout: 5000 });
  return pressedAt;
}

export async function waitForMessage(user, text, timeoutMs = 5000) {
  return waitForPage(
    user.page,
    `${user.label} to show the chat message ${JSON.stringify(text.slice(0, 80))}`,
    (t) => [...document.querySelectorAll('.messages li.message .text')].some((e) => e.textContent === t),
    text,
    timeoutMs,
  );
}

/** Waits until the chat list holds exactly `texts`, in order. */
export async function waitForMessages(user, texts, timeoutMs = 2000) {
  return waitFor(`${user.label}'s chat list to be exactly ${short(texts)}`,
    async () => JSON.stringify(await messageTexts(user.page)) === JSON.stringify(texts), { timeoutMs });
}

/**
 * A peer's cursor on `page`'s board (the first one, or the one labelled `label`), or null:
 * `x`/`y` is the position it was given (its `data-x`/`data-y`, % of the board) and
 * `drawnX`/`drawnY` where it is drawn (its box relative to the board's, %), which is what a user
 * sees once its 90 ms glide has ended.
 */
export async function cursorOnBoard(page, label = null) {
  return page.evaluate((name) => {
    const board = document.querySelector('[data-testid=board]');
    const c = [...(board?.querySelectorAll('.cursor[data-user]') ?? [])]
      .find((el) => name === null || el.querySelector('.label')?.textContent === name);
    if (!c) return null;
    const b = board.getBoundingClientRect();
    const r = c.getBoundingClientRect();
    return {
      x: Number(c.dataset.x), y: Number(c.dataset.y),
      drawnX: ((r.left - b.left - board.clientLeft) / board.clientWidth) * 100,
      drawnY: ((r.top - b.top - board.clientTop) / board.clientHeight) * 100,
    };
  }, label);
}

/** Whether a cursor (from `cursorOnBoard`) is given and drawn within `tolerance` % of (x, y). */
export function cursorNear(pos, x, y, tolerance = 3) {
  return Boolean(pos) && [pos.x - x, pos.drawnX - x].every((d) => Math.abs(d) <= tolerance)
    && [pos.y - y, pos.drawnY - y].every((d) => Math.abs(d) <= tolerance);
}

export function artifactPath(name) {
  return join(ARTIFACTS, name);
}

export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return join(SCREENSHOTS, name);
}

export { existsSync };
