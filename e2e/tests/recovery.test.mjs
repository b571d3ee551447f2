// Never miss a message (issue #16), as people meet it: B's link is cut while A writes, and B
// comes back to exactly what it missed with "20 missed messages recovered"; A's link drops after
// a send but before the server's ack, and the resend does not show twice; a restart without
// Redis says "some messages may be missing"; a newcomer to a room sees its last messages.
// (Two instances behind nginx sharing Redis: `recovery-redis.test.mjs`.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, stopServer, restart, launchBrowser, scene, waitFor, waitForPage, waitForState,
  sendChat, waitForMessage, messageTexts, post, reconnectNow,
} from '../harness.mjs';

let server;
let browser;

before(async () => {
  // Signed users (the dev login): each has a stable id the test can cut the link of. A fixed
  // secret, so the tokens stay valid across 16d's restart.
  const secret = 'recovery-e2e-secret-0123456789abcdef';
  server = await startServer({ label: 'recovery', args: ['--dev-login', '--auth-secret', secret] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopServer(server);
});

/** The signed-in user's id (the page keeps its session in sessionStorage). */
function userId(user) {
  return user.page.evaluate(() => JSON.parse(sessionStorage.getItem('realtime.session') ?? 'null')?.userId ?? null);
}

/** The recovery line's text, or null. */
function recoveryNotice(page) {
  return page.evaluate(() => document.querySelector('[data-testid=recovery]')?.textContent ?? null);
}

/** Chat texts that start with `prefix`, in the order shown. */
async function shown(user, prefix) {
  return (await messageTexts(user.page)).filter((t) => t.startsWith(prefix));
}

/** Waits until `texts` are all in the user's list and every line is delivered (no "sending…"). */
async function allDelivered(user, texts, timeoutMs = 10000) {
  await waitForPage(user.page, `${user.label}'s ${texts.length} message(s) to be shown and acknowledged`,
    (wanted) => {
      const shownNow = [...document.querySelectorAll('.messages li.message .text')].map((e) => e.textContent);
      return wanted.every((t) => shownNow.includes(t))
        && document.querySelectorAll('.messages li[data-delivery]').length === 0;
    }, texts, timeoutMs);
}

test('16a. B\'s link is cut while A sends 20: B shows exactly those 20, once each, in order, "20 missed messages recovered"', { timeout: 120000 }, async (t) => {
  await scene(browser, 'recovery-cut-link', async (s) => {
    const a = await s.user('A', { baseUrl: server.url, path: '/', name: 'Ada' });
    const b = await s.user('B', { baseUrl: server.url, path: '/', name: 'Bo' });
    await waitForState(a, 'open');
    await waitForState(b, 'open');
    const tag = `cut-${Date.now()}`;
    await sendChat(a, `${tag} hello`);
    await waitForMessage(b, `${tag} hello`);

    // The network goes (no reconnect attempts meanwhile), and the server drops B's socket.
    await b.context.setOffline(true);
    const bo = await userId(b);
    assert.ok(bo, 'B is signed in');
    await post(server, '/api/test/drop-sockets', { endpoint: 'chat', user: bo });
    await waitForPage(b.page, 'B to notice the cut link', () => {
      const state = document.querySelector('.status .badge[data-state]')?.getAttribute('data-state');
      return state && state !== 'open';
    }, null, 10000);

    const missed = Array.from({ length: 20 }, (_, i) => `${tag} missed ${String(i + 1).padStart(2, '0')}`);
    for (const text of missed) await sendChat(a, text);
    await allDelivered(a, missed);
    assert.deepEqual(await shown(a, `${tag} missed`), missed, 'A sees its 20, acknowledged');
    assert.deepEqual(await shown(b, `${tag} missed`), [], 'B is away');

    const back = Date.now();
    await b.context.setOffline(false);
    await waitForState(b, 'open', 15000);
    await waitForPage(b.page, 'B\'s "missed messages recovered" line',
      () => /missed messages? recovered/.test(document.querySelector('[data-testid=recovery]')?.textContent ?? ''), null, 10000);
    t.diagnostic(`B recovered ${Date.now() - back} ms after the network came back`);
    assert.equal(await recoveryNotice(b.page), '20 missed messages recovered');
    assert.deepEqual(await shown(b, `${tag} missed`), missed, 'exactly those 20, once each, in order');
    assert.deepEqual(await shown(b, `${tag} hello`), [`${tag} hello`], 'what B had is shown once');
  });
});

test('16b. A\'s link drops after a send and before the ack: A resends, B sees the message once', { timeout: 90000 }, async () => {
  await scene(browser, 'recovery-lost-ack', async (s) => {
    const b = await s.user('B', { baseUrl: server.url, path: '/', name: 'Bea' });
    await waitForState(b, 'open');
    const tag = `ack-${Date.now()}`;
    const text = `${tag} sent once`;
    // A's chat socket passes through a relay that swallows the first ack and cuts A's side
    // right after it: the message reached the room, A never heard so.
    let cut = 0;
    const a = await s.user('A', {
      baseUrl: server.url, path: '/', name: 'Abe',
      beforeGoto: (page) => page.routeWebSocket(/\/ws\/chat/, (ws) => {
        const upstream = ws.connectToServer();
        ws.onMessage((m) => upstream.send(m));
        upstream.onMessage((m) => {
          if (cut === 0 && typeof m === 'string' && m.includes('"type":"ack"')) {
            cut += 1;
            ws.close({ code: 1012, reason: 'relay cut after the message, before its ack' });
            upstream.close();
            return;
          }
          ws.send(m);
        });
        ws.onClose(() => upstream.close());
        upstream.onClose(() => ws.close());
      }),
    });
    await waitForState(a, 'open');
    await sendChat(a, text);
    await waitFor('the relay to cut A after the message', async () => cut === 1, { timeoutMs: 5000 });
    await waitForMessage(b, text);
    await waitForState(a, 'open', 15000);
    await allDelivered(a, [text]);
    // Give a second copy time to arrive, were there one.
    await new Promise((done) => setTimeout(done, 1000));
    assert.deepEqual(await shown(b, tag), [text], 'B sees it once');
    assert.deepEqual(await shown(a, tag), [text], 'A shows it once, delivered');
  });
});

test('16c. a new user joining a room sees its last messages', { timeout: 60000 }, async () => {
  await scene(browser, 'recovery-room-history', async (s) => {
    const a = await s.user('A', { baseUrl: server.url, path: '/typed-chat', name: 'Ana' });
    await waitForState(a, 'open');
    await a.page.selectOption('#room-select', 'help');
    await a.page.click('.room-bar button');
    await waitForPage(a.page, 'A in #help', () => document.querySelector('[data-testid=room]')?.textContent === 'In #help');
    const tag = `room-${Date.now()}`;
    const said = [1, 2, 3].map((n) => `${tag} line ${n}`);
    for (const line of said) {
      await a.page.fill('#typed-input', line);
      await a.page.press('#typed-input', 'Enter');
    }
    await allDelivered(a, said);
    const c = await s.user('C', { baseUrl: server.url, path: '/typed-chat', name: 'Cy' });
    await waitForState(c, 'open');
    await c.page.selectOption('#room-select', 'help');
    await c.page.click('.room-bar button');
    await waitForPage(c.page, 'C to see the room\'s last messages',
      (lines) => lines.every((l) => [...document.querySelectorAll('.messages li.message .text')].some((e) => e.textContent === l)), said, 5000);
    assert.deepEqual(await shown(c, tag), said, 'in order');
  });
});

test('16d. a restart without Redis: "some messages may be missing", and the chat goes on', { timeout: 90000 }, async () => {
  await scene(browser, 'recovery-restart', async (s) => {
    const a = await s.user('A', { baseUrl: server.url, path: '/', name: 'Avi' });
    const b = await s.user('B', { baseUrl: server.url, path: '/', name: 'Ben' });
    await waitForState(b, 'open');
    const tag = `restart-${Date.now()}`;
    await sendChat(a, `${tag} before`);
    await waitForMessage(b, `${tag} before`);
    await restart(server);
    await reconnectNow(b, 20000);
    await waitForPage(b.page, 'B\'s "may be missing" notice',
      () => (document.querySelector('[data-testid=recovery]')?.textContent ?? '').startsWith('Some messages may be missing'), null, 10000);
    assert.equal(await recoveryNotice(b.page), 'Some messages may be missing: the server restarted');
    assert.deepEqual(await shown(b, `${tag} before`), [`${tag} before`], 'what B had stays shown');
    await reconnectNow(a, 20000);
    await sendChat(a, `${tag} after`);
    await waitForMessage(b, `${tag} after`);
  });
});
