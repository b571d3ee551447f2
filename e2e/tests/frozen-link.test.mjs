// Scenario 6: a frozen link. SIGSTOP keeps the server's sockets open but answers nothing, so
// only the chat's heartbeat (ping after 15 s of silence, dead 5 s later) can notice. After
// SIGCONT the page recovers by itself, without a reload.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withServerAndBrowser, freeze, thaw, scene, waitForPage, waitForState,
  reconnectNow, sendChat, waitForMessage,
} from '../harness.mjs';

let server;
let browser;

withServerAndBrowser('frozen-link', (s, b) => {
  server = s;
  browser = b;
});

const HEARTBEAT_MS = 15000;
const PONG_TIMEOUT_MS = 5000;
// The heartbeat checks once a second, and the page renders on the next animation frame.
const SLACK_MS = 3000;

test('6. frozen link: the UI declares it dead within 15 s + 5 s, then recovers without a reload', { timeout: 120000 }, async (t) => {
  await scene(browser, 'frozen-link', async (s) => {
    const a = await s.user('A', { baseUrl: server.url, path: '/', name: 'Ada' });
    const b = await s.user('B', { baseUrl: server.url, path: '/', name: 'Grace' });
    await waitForState(a, 'open');
    await waitForState(b, 'open');
    const warmup = `before the freeze ${Date.now()}`;
    await sendChat(a, warmup);
    await waitForMessage(b, warmup, 2000);
    // Marks this document: a reload would lose it.
    for (const user of [a, b]) await user.page.evaluate(() => { window.__e2eSameDocument = true; });

    freeze(server);
    const frozenAt = Date.now();
    await waitForPage(a.page, `A's badge to leave "open" within ${(HEARTBEAT_MS + PONG_TIMEOUT_MS + SLACK_MS) / 1000} s of the freeze (heartbeat 15 s + pong timeout 5 s)`,
      () => {
        const state = document.querySelector('.status .badge[data-state]')?.getAttribute('data-state');
        return state && state !== 'open' ? state : false;
      }, null, HEARTBEAT_MS + PONG_TIMEOUT_MS + SLACK_MS);
    const detected = Date.now() - frozenAt;
    const hint = await a.page.locator('.status .hint').textContent({ timeout: 2000 });
    t.diagnostic(`A declared the link dead ${detected} ms after SIGSTOP; hint: "${hint}"`);
    assert.match(hint ?? '', /no pong for [\d.]+ s: link presumed dead/, 'the status says why');
    assert.ok(['reconnecting', 'connecting'].includes(await a.page.locator('.status .badge[data-state]').getAttribute('data-state')));

    // A message written while the link is dead waits in the queue. (Only A is sure to see it:
    // B may still be reconnecting when A's queue flushes, and the chat keeps no history.)
    const during = `written while frozen ${Date.now()}`;
    await sendChat(a, during);

    thaw(server);
    const thawedAt = Date.now();
    // B's link froze too; both come back on their own backoff, or at once with "Retry now".
    await reconnectNow(b, 20000);
    await reconnectNow(a, 20000);
    t.diagnostic(`both open again ${Date.now() - thawedAt} ms after SIGCONT`);
    await waitForMessage(a, during, 5000);
    const after = `after the thaw ${Date.now()}`;
    await sendChat(a, after);
    await waitForMessage(b, after, 2000);
    const reply = `welcome back ${Date.now()}`;
    await sendChat(b, reply);
    await waitForMessage(a, reply, 2000);
    for (const user of [a, b]) {
      assert.equal(await user.page.evaluate(() => window.__e2eSameDocument), true, `${user.label} was not reloaded`);
    }
  });
});
