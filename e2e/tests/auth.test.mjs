// Signed identity (issue #15) as people meet it: two users sign in through the sign-in screen
// (the dev server's dev login), see each other's signed names on every page, a client without a
// token is refused, a reload stays signed in, sign-out leaves; and a token that expires while a
// user types costs one quick reconnect (4001, a fresh token) and no message.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  startServer, stopServer, launchBrowser, scene, waitFor, waitForPage, waitForState, sendChat,
  waitForMessage, cursorOnBoard, cursorNear, sleep,
} from '../harness.mjs';

let server; // dev login, 10-minute tokens
let shortLived; // dev login, 5-second tokens
let browser;

before(async () => {
  server = await startServer({ label: 'auth', args: ['--dev-login'] });
  shortLived = await startServer({ label: 'auth-expiry', args: ['--dev-login', '--dev-token-ttl-s', '5'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopServer(server);
  await stopServer(shortLived);
});

/** Opens the app with no `?name=`, signs in through the form as `name`, waits for the nav. */
async function signIn(s, label, name, base, path = '/', beforeGoto = null) {
  const user = await s.user(label, { baseUrl: base.url, path, name: null, ready: '#sign-in-name', beforeGoto });
  user.name = name;
  await user.page.fill('#sign-in-name', name);
  await user.page.press('#sign-in-name', 'Enter');
  await waitForPage(user.page, `${label} to be signed in as ${name}`,
    (n) => document.querySelector('header .who strong')?.textContent === n && !!document.querySelector('nav .nav a'), name, 5000);
  return user;
}

async function navigate(user, text, heading) {
  await user.page.locator('nav .nav a', { hasText: text }).click({ timeout: 5000 });
  await waitForPage(user.page, `${user.label} to show the ${text} page`, (h) => document.querySelector('h1')?.textContent === h, heading);
}

/** The HTTP status of a WebSocket handshake to `path` (no token): what any client gets. */
function handshakeStatus(base, path) {
  const { hostname, port } = new URL(base.url);
  return new Promise((done, fail) => {
    const request = http.request({
      hostname, port, path, headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
    });
    request.on('response', (response) => { response.resume(); done(response.statusCode); });
    request.on('upgrade', (_response, socket) => { socket.destroy(); done(101); });
    request.on('error', fail);
    request.setTimeout(5000, () => request.destroy(new Error('handshake timed out')));
    request.end();
  });
}

test('6a. two users sign in as ana and bo and see each other\'s signed names in chat, rooms and cursors, publish from the form; no token, no entry', { timeout: 120000 }, async (t) => {
  await scene(browser, 'auth-two-users', async (s) => {
    const a = await signIn(s, 'A', 'ana', server);
    const b = await signIn(s, 'B', 'bo', server);
    await waitForState(a, 'open');
    await waitForState(b, 'open');

    // Chat: each message carries its sender's signed name.
    const hello = `hello from ana ${Date.now()}`;
    await sendChat(a, hello);
    await waitForMessage(b, hello, 2000);
    const author = (user, text) => user.page.evaluate((x) => [...document.querySelectorAll('.messages li.message')]
      .find((li) => li.querySelector('.text')?.textContent === x)?.querySelector('.author')?.textContent, text);
    assert.equal(await author(b, hello), 'ana');
    const reply = `hi ana, bo here ${Date.now()}`;
    await sendChat(b, reply);
    await waitForMessage(a, reply, 2000);
    assert.equal(await author(a, reply), 'bo');

    // Rooms: both in #general, each listed by the signed name.
    for (const user of [a, b]) {
      await navigate(user, 'Typed chat', 'Typed chat');
      await waitForState(user, 'open');
      await user.page.selectOption('#room-select', 'general');
      await user.page.getByRole('button', { name: 'Join' }).click();
      await waitForPage(user.page, `${user.label} to be "In #general"`, () => document.querySelector('[data-testid=room]')?.textContent === 'In #general');
    }
    const members = (user) => user.page.evaluate(() => [...document.querySelectorAll('[data-testid=members] li')].map((li) => li.textContent.replace('(you)', '').trim()).sort());
    for (const user of [a, b]) {
      await waitFor(`${user.label}'s member list to be ana and bo`, async () => JSON.stringify(await members(user)) === '["ana","bo"]', { timeoutMs: 3000 });
    }

    // Cursors: B sees ana's cursor, labelled with her signed name.
    for (const user of [a, b]) {
      await navigate(user, 'Cursors', 'Cursors');
      await waitForState(user, 'open');
    }
    const box = await a.page.locator('[data-testid=board]').boundingBox();
    await a.page.mouse.move(box.x + 0.3 * box.width, box.y + 0.6 * box.height, { steps: 8 });
    await waitFor('B to show ana\'s cursor near (30%, 60%)',
      async () => cursorNear(await cursorOnBoard(b.page, 'ana'), 30, 60), { timeoutMs: 2000 });

    // Notifications: ana publishes through the page's form (signed in with the publish right),
    // leaving the level as the form opens; bo gets it at level info.
    for (const user of [a, b]) await navigate(user, 'Notifications', 'Notifications');
    const note = `coffee in the kitchen ${Date.now()}`;
    await a.page.fill('#publish-title', 'Break');
    await a.page.fill('#publish-message', note);
    await a.page.getByRole('button', { name: 'Publish' }).click();
    await waitForPage(b.page, 'B to show the notification ana published through the form',
      (x) => [...document.querySelectorAll('ol.feed li.notification .text')].some((e) => e.textContent === x), note, 5000);
    const level = await b.page.evaluate((x) => [...document.querySelectorAll('ol.feed li.notification')]
      .find((li) => li.querySelector('.text')?.textContent === x)?.querySelector('.level-tag')?.textContent, note);
    assert.equal(level, 'info', 'the form publishes at level info unless the user picks another');

    // A third client claiming to be ana without a token is refused before the upgrade...
    assert.equal(await handshakeStatus(server, '/ws/chat?name=ana'), 401);
    assert.equal(await handshakeStatus(server, '/ws/presence?name=ana'), 401);
    // ...and a page's own WebSocket without a token never opens.
    const raw = await b.page.evaluate(() => new Promise((done) => {
      const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/ws/chat?name=ana`);
      ws.onopen = () => done('opened');
      ws.onclose = (e) => done(`closed ${e.code}`);
      setTimeout(() => done('no answer'), 4000);
    }));
    assert.equal(raw, 'closed 1006', 'refused at the handshake');

    // A reload stays signed in (the session is in sessionStorage); sign-out leaves.
    const userId = await a.page.locator('header .who').getAttribute('data-user-id');
    await a.page.reload({ waitUntil: 'load' });
    await waitForPage(a.page, 'A to be signed in as ana after a reload', () => document.querySelector('header .who strong')?.textContent === 'ana', null, 10000);
    assert.equal(await a.page.locator('header .who').getAttribute('data-user-id'), userId, 'the same user after a reload');
    await waitForState(a, 'open');
    await a.page.getByRole('button', { name: 'Sign out' }).click();
    await waitForPage(a.page, 'A to show the sign-in screen', () => !!document.querySelector('#sign-in-name') && !document.querySelector('nav .nav a'));
    await waitFor('B to see ana leave the board', async () => (await cursorOnBoard(b.page, 'ana')) === null, { timeoutMs: 5000 });
    t.diagnostic('ana and bo signed in; names signed everywhere; tokenless clients refused');
  });
});

test('6b. a token that expires while a user types: 4001, a fresh token, back in under 2 s, every message once and in order', { timeout: 120000 }, async (t) => {
  await scene(browser, 'auth-expiry', async (s) => {
    // Every chat socket A's page makes: when it was made, when it closed, when its first frame
    // (the welcome) arrived — from the browser's own WebSocket events.
    const chatSockets = [];
    const watch = (page) => page.on('websocket', (ws) => {
      if (!ws.url().includes('/ws/chat')) return;
      const record = { created: Date.now(), closed: null, firstFrame: null };
      chatSockets.push(record);
      ws.on('framereceived', () => { record.firstFrame ??= Date.now(); });
      ws.on('close', () => { record.closed = Date.now(); });
    });
    const a = await signIn(s, 'A', 'ana', shortLived, '/', watch);
    const b = await signIn(s, 'B', 'bo', shortLived);
    await waitForState(a, 'open');
    await waitForState(b, 'open');
    const session = () => a.page.evaluate(() => JSON.parse(sessionStorage.getItem('realtime.session')));
    const first = await session();

    // A types a message every 150 ms across the token's expiry (5 s tokens: at least one expiry).
    const texts = [];
    const until = first.expiresAt + 2500;
    for (let i = 0; Date.now() < until; i += 1) {
      const text = `typing ${i}`;
      texts.push(text);
      await sendChat(a, text);
      await sleep(150);
    }
    t.diagnostic(`${texts.length} messages typed across the expiry at ${new Date(first.expiresAt).toISOString()}`);

    // Every message reaches B once, in order.
    const received = () => b.page.evaluate(() => [...document.querySelectorAll('.messages li.message .text')].map((e) => e.textContent).filter((x) => x.startsWith('typing ')));
    await waitFor('B to receive every typed message', async () => (await received()).length >= texts.length, { timeoutMs: 5000 });
    await sleep(300);
    assert.deepEqual(await received(), texts, 'each once, in order');

    // The socket was replaced at the expiry (closed with 4001: the panel, below) and the next
    // one had its welcome within 2 s of the close, each time.
    const outages = [];
    for (let i = 0; i + 1 < chatSockets.length; i += 1) {
      const [gone, next] = [chatSockets[i], chatSockets[i + 1]];
      outages.push(gone.closed !== null && next.firstFrame !== null ? next.firstFrame - gone.closed : Infinity);
    }
    assert.ok(outages.length >= 1, `A's chat socket was replaced at expiry (${JSON.stringify(chatSockets)})`);
    assert.ok(outages.every((ms) => ms < 2000), `back in under 2 s each time: ${outages.join(', ')} ms`);
    await a.page.getByRole('button', { name: 'Connections' }).click();
    const lastClose = await a.page.locator('#connection-panel').textContent();
    assert.match(lastClose, /4001/, 'the panel shows the 4001 close');
    const renewed = await session();
    assert.notEqual(renewed.token, first.token, 'a new token was fetched');
    assert.equal(renewed.userId, first.userId, 'for the same user');
    assert.ok(renewed.expiresAt > first.expiresAt);
    t.diagnostic(`close → welcome on the next socket at each expiry: ${outages.join(', ')} ms`);
  });
});
