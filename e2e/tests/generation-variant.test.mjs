// Scenario 9: an app generated with absolute endpoint URLs (ws://127.0.0.1:PORT/..., no dev
// server) and without sign-in (auth_login_url empty: no sign-in screen, no tokens, against a
// server without auth), and built with only some pages (cargo features, E2E_ABS_PAGES) works for the chat
// scenario, lists only its pages, and answers "not found" for the others. Its pages come from a second server instance on another
// port, so the page's origin differs from the WebSocket server's (loopback origins are allowed
// by default, so no --allowed-origins flag).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  env, startServer, stopServer, launchBrowser, scene, waitForState, sendChat, waitForMessage,
  getJson, waitForMessages,
} from '../harness.mjs';

let wsServer;
let pageServer;
let browser;
const wsPort = Number(env('E2E_ABS_PORT'));

before(async () => {
  try {
    wsServer = await startServer({ port: wsPort, staticDir: null, testEndpoints: false, label: 'abs-endpoints' });
  } catch (e) {
    throw new Error(`the absolute-URL app points at port ${wsPort}, but the dev server could not start there: ${e.message}`);
  }
  pageServer = await startServer({ staticDir: env('E2E_ABS_DIST'), testEndpoints: false, label: 'abs-pages' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopServer(pageServer);
  await stopServer(wsServer);
});

test('9. generation variant: absolute endpoint URLs on a non-default port, chat works both ways', { timeout: 60000 }, async (t) => {
  assert.notEqual(wsPort, 8081, 'the variant uses a non-default port');
  assert.notEqual(pageServer.port, wsPort, 'page origin and endpoint origin differ');
  await scene(browser, 'absolute-urls-chat', async (s) => {
    const a = await s.user('A', { baseUrl: pageServer.url, path: '/', name: 'Ada' });
    const b = await s.user('B', { baseUrl: pageServer.url, path: '/', name: 'Grace' });
    await waitForState(a, 'open');
    await waitForState(b, 'open');
    for (const user of [a, b]) {
      assert.ok(user.sockets.length > 0, `${user.label} opened a WebSocket`);
      for (const url of user.sockets) {
        assert.ok(url.startsWith(`ws://127.0.0.1:${wsPort}/ws/chat`), `${user.label}'s WebSocket goes to the configured absolute URL, not the page's origin: ${url}`);
        assert.ok(!url.includes('token='), `no sign-in, so no token: ${url}`);
      }
      assert.equal(await user.page.locator('#sign-in-name, header .who').count(), 0, `${user.label}: no sign-in screen, no "signed in as"`);
    }
    const health = await getJson(wsServer, '/healthz');
    assert.ok(health.connections >= 2, `the endpoint server holds both connections (${JSON.stringify(health)})`);
    assert.equal((await getJson(pageServer, '/healthz')).connections, 0, 'the page server holds none');

    const hello = `Hello across origins ${Date.now()}`;
    let sent = await sendChat(a, hello);
    await waitForMessage(b, hello, 1000 - (Date.now() - sent)); // 1 s from A's Enter
    t.diagnostic(`A → B in ${Date.now() - sent} ms`);
    const reply = `Received, Ada ${Date.now()}`;
    sent = await sendChat(b, reply);
    await waitForMessage(a, reply, 1000 - (Date.now() - sent));
    t.diagnostic(`B → A in ${Date.now() - sent} ms`);
    for (const user of [a, b]) await waitForMessages(user, [hello, reply]);
  });
});

test('9b. a build with only some pages lists only them, says "not found" for the rest, and is smaller', { timeout: 60000 }, async (t) => {
  const built = env('E2E_ABS_PAGES').split(',');
  const labels = { chat: 'Chat', 'typed-chat': 'Typed chat', notifications: 'Notifications', cursors: 'Cursors' };
  const paths = { 'typed-chat': '/typed-chat', notifications: '/notifications', cursors: '/cursors' };
  assert.ok(built.length < 4, `the variant leaves a page out (${built})`);
  await scene(browser, 'pages-subset', async (s) => {
    const a = await s.user('A', { baseUrl: pageServer.url, path: '/', name: 'Ada' });
    const nav = await a.page.locator('nav .nav a').allTextContents();
    assert.deepEqual(nav, built.map((page) => labels[page]), 'the nav lists exactly the built pages, in order');
    for (const [page, path] of Object.entries(paths)) {
      await a.page.goto(`${pageServer.url}${path}`);
      const heading = await a.page.locator('main h1').first().textContent({ timeout: 10000 });
      if (built.includes(page)) assert.notEqual(heading, 'Page not found', `${path} is built in`);
      else assert.equal(heading, 'Page not found', `${path} is left out, so it is not found`);
    }
  });
  const wasmSize = (dir) => statSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.wasm')))).size;
  const subset = wasmSize(env('E2E_ABS_DIST'));
  const full = wasmSize(env('E2E_APP_DIST'));
  t.diagnostic(`wasm: ${subset} bytes with [${built}] vs ${full} with every page`);
  assert.ok(subset < full * 0.9, `leaving pages out shrinks the wasm by more than 10 % (${subset} vs ${full})`);
});
