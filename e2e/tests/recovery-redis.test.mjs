// Never miss a message across instances (issue #16): two dev servers sharing Redis behind the
// nginx example (server/deploy/nginx.conf). B's instance is killed (SIGKILL) while A sends 20;
// B comes back through nginx to the other instance and recovers all 20 from the shared history
// ("20 missed messages recovered", recovered: true).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT, startServer, stopServer, kill, spawnHelper, launchBrowser, scene, waitForPage,
  waitForState, sendChat, waitForMessage, messageTexts,
} from '../harness.mjs';

let redis;
let nginx;
let x;
let y;
let front;
let browser;
let scratch;

/** A free loopback port (bound, then released). */
function freePort() {
  return new Promise((done, fail) => {
    const probe = net.createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/** Whether something accepts TCP connections on `port`. */
function listening(port) {
  return new Promise((done) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); done(true); });
    socket.once('error', () => done(false));
  });
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'yr-recovery-redis-'));
  const redisPort = await freePort();
  redis = await spawnHelper('redis', 'redis-server', [
    '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', scratch,
  ], () => listening(redisPort));
  const shared = [
    '--redis-url', `redis://127.0.0.1:${redisPort}/`, '--redis-prefix', `e2e${process.pid}`,
    // One secret for both, so a token from one instance is valid on the other.
    '--dev-login', '--auth-secret', 'recovery-redis-e2e-secret-0123456789',
    '--trusted-proxies', '127.0.0.1/32',
  ];
  x = await startServer({ label: 'redis-x', args: shared });
  // Y's port is fixed now and Y started later: until then nginx can only reach X.
  const yPort = await freePort();
  const listen = await freePort();
  const config = readFileSync(join(ROOT, 'server/deploy/nginx.conf'), 'utf8')
    .replaceAll('@PREFIX@', scratch)
    .replaceAll('@LISTEN@', String(listen))
    .replaceAll('@INSTANCE_1@', String(x.port))
    .replaceAll('@INSTANCE_2@', String(yPort));
  writeFileSync(join(scratch, 'nginx.conf'), config);
  nginx = await spawnHelper('nginx', '/usr/sbin/nginx', [
    '-p', scratch, '-c', join(scratch, 'nginx.conf'), '-g', 'daemon off;',
  ], () => listening(listen));
  front = { url: `http://127.0.0.1:${listen}` };
  y = { port: yPort, args: shared };
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const s of [x, y]) if (s?.child) await stopServer(s).catch(() => {});
  for (const h of [nginx, redis]) if (h) await kill(h);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function shown(user, prefix) {
  return (await messageTexts(user.page)).filter((t) => t.startsWith(prefix));
}

test('16e. two instances + Redis behind nginx: B\'s instance is killed while A sends 20; B recovers all 20 on the other', { timeout: 150000 }, async (t) => {
  await scene(browser, 'recovery-two-instances', async (s) => {
    // B arrives while only X is up: its chat socket is on X.
    const b = await s.user('B', { baseUrl: front.url, path: '/', name: 'Bo' });
    await waitForState(b, 'open');
    y = await startServer({ label: 'redis-y', port: y.port, args: y.args });
    const a = await s.user('A', { baseUrl: front.url, path: '/', name: 'Ada' });
    await waitForState(a, 'open');
    const tag = `x-${Date.now()}`;
    await sendChat(a, `${tag} hello`);
    await waitForMessage(b, `${tag} hello`);

    // B's network goes, then B's instance dies without a goodbye.
    await b.context.setOffline(true);
    const status = await kill(x);
    t.diagnostic(`instance X killed (${JSON.stringify(status)})`);

    const missed = Array.from({ length: 20 }, (_, i) => `${tag} missed ${String(i + 1).padStart(2, '0')}`);
    // If A was on X too, its sends wait in its queue and go out through nginx to Y.
    for (const text of missed) await sendChat(a, text);
    await waitForPage(a.page, 'A\'s 20 to be shown and acknowledged (through Y)', (wanted) => {
      const shownNow = [...document.querySelectorAll('.messages li.message .text')].map((e) => e.textContent);
      return wanted.every((t) => shownNow.includes(t))
        && document.querySelectorAll('.messages li[data-delivery]').length === 0;
    }, missed, 30000);
    assert.deepEqual(await shown(a, `${tag} missed`), missed);

    await b.context.setOffline(false);
    await waitForState(b, 'open', 20000);
    await waitForPage(b.page, 'B\'s recovery line',
      () => /recovered|missing/.test(document.querySelector('[data-testid=recovery]')?.textContent ?? ''), null, 10000);
    const notice = await b.page.evaluate(() => document.querySelector('[data-testid=recovery]')?.textContent);
    assert.equal(notice, '20 missed messages recovered', 'recovered: true, from the shared history');
    assert.deepEqual(await shown(b, `${tag} missed`), missed, 'all 20, once each, in order');
  });
});
