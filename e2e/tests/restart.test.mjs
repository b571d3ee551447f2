// Scenario 5: the server goes away and comes back on the same port. Chat sends made while it is
// down are queued and delivered exactly once, in order; notifications survive a cut event stream
// without duplicates, and a full restart is reported as "may have missed" instead of duplicated.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withServerAndBrowser, stopServer, restart, scene, waitFor, waitForPage, waitForState,
  waitForStateNot, reconnectNow, sendChat, waitForMessage, messageTexts, publish, post, badgeState,
  sleep,
} from '../harness.mjs';

let server;
let browser;

withServerAndBrowser('restart', (s, b) => {
  server = s;
  browser = b;
});

/** Seconds left before the next automatic reconnect, from the badge ("Reconnecting in Ns"). */
async function secondsToRetry(user) {
  const text = await user.page.locator('.status .badge[data-state]').textContent({ timeout: 2000 });
  const m = /Reconnecting in (\d+)s/.exec(text ?? '');
  return m ? Number(m[1]) : null;
}

/**
 * Makes `user`'s next automatic retry at least 8 s away while the server is down, so another user
 * can reconnect first. The backoff timer would fire on its own; "Retry now" against the stopped
 * server fails at once and draws a fresh (growing) full-jitter delay, until the next retry is far
 * enough — more than the restart and the other user's reconnect take (bounded: 20 s).
 */
async function pushRetryAway(user) {
  await waitFor(`${user.label}'s next automatic retry to be ≥ 8 s away (pressing "Retry now" while the server is down)`, async () => {
    const left = await secondsToRetry(user);
    if (left !== null && left >= 8) return true;
    const retry = user.page.locator('.status button', { hasText: 'Retry now' });
    if (await retry.isVisible()) await retry.click({ timeout: 1000 });
    await waitForPage(user.page, `${user.label}'s failed attempt to schedule the next one`, () => document.querySelector('.status .badge[data-state]')?.getAttribute('data-state') === 'reconnecting', null, 3000);
    return false;
  }, { timeoutMs: 20000, intervalMs: 1100 }); // > 1 s: the badge's countdown text ticks once a second
}

test('5a. chat: sends made while the server is down are queued, then reach B exactly once, in order', { timeout: 120000 }, async (t) => {
  await scene(browser, 'restart-chat', async (s) => {
    const a = await s.user('A', { baseUrl: server.url, path: '/', name: 'Ada' });
    const b = await s.user('B', { baseUrl: server.url, path: '/', name: 'Grace' });
    await waitForState(a, 'open');
    await waitForState(b, 'open');
    const before = `before the restart ${Date.now()}`;
    await sendChat(a, before);
    await waitForMessage(b, before, 2000);

    const port = server.port;
    const status = await stopServer(server);
    assert.equal(status.code, 0, `the server exits 0 on SIGTERM (got ${JSON.stringify(status)})`);
    await waitForStateNot(a, 'open', 5000);
    await waitForStateNot(b, 'open', 5000);

    const queued = [1, 2, 3, 4, 5].map((n) => `queued message ${n} of 5`);
    for (const text of queued) await sendChat(a, text);
    await waitForPage(a.page, 'A to show "queued (5)"', () => document.querySelector('.status .badge.queued')?.textContent === 'queued (5)', null, 2000);
    assert.equal(await a.page.locator('#chat-input').inputValue(), '', 'queued sends clear the input');

    // Chat has no history: B must be connected when A's queue flushes, so B reconnects first.
    // A's backoff timer would fire on its own; "Retry now" against the stopped server fails at
    // once and draws a fresh (growing) full-jitter delay, until A's next retry is at least 8 s
    // away — far more than the restart and B's reconnect take (bounded: 60 attempts).
    await pushRetryAway(a);
    assert.equal(await badgeState(a.page), 'reconnecting');

    const restartedAt = Date.now();
    await restart(server);
    assert.equal(server.port, port, 'same port');
    await reconnectNow(b, 10000);
    assert.equal(await badgeState(a.page), 'reconnecting', 'A is still waiting while B reconnects');
    t.diagnostic(`B reconnected ${Date.now() - restartedAt} ms after the restart`);
    await reconnectNow(a, 10000);

    await waitForPage(a.page, 'A\'s queued badge to disappear', () => !document.querySelector('.status .badge.queued'), null, 3000);
    for (const user of [b, a]) {
      await waitFor(`${user.label} to receive the 5 queued messages`, async () => {
        const texts = await messageTexts(user.page);
        return queued.every((q) => texts.includes(q));
      }, { timeoutMs: 5000 });
    }
    // A duplicate (a second flush) would arrive right behind the first copy; give it the time.
    await sleep(1000);
    for (const user of [b, a]) {
      const texts = await messageTexts(user.page);
      assert.deepEqual(texts.filter((x) => x.startsWith('queued message')), queued,
        `${user.label} shows each queued message exactly once, in order (all: ${JSON.stringify(texts)})`);
      assert.deepEqual(texts, [before, ...queued], `${user.label}'s whole list`);
    }
  });
});

test('5c. typed chat: after a restart both pages rejoin their room before the queue flushes; queued messages reach the room, no error shown', { timeout: 120000 }, async (t) => {
  await scene(browser, 'restart-typed-chat', async (s) => {
    const a = await s.user('A', { baseUrl: server.url, path: '/typed-chat', name: 'Ada' });
    const b = await s.user('B', { baseUrl: server.url, path: '/typed-chat', name: 'Grace' });
    const inRoom = (user) => waitForPage(user.page, `${user.label} to be "In #general"`, () => document.querySelector('[data-testid=room]')?.textContent === 'In #general');
    const texts = (user) => user.page.evaluate(() => [...document.querySelectorAll('.messages li.message .text')].map((e) => e.textContent));
    for (const user of [a, b]) {
      await waitForState(user, 'open');
      await user.page.selectOption('#room-select', 'general');
      await user.page.getByRole('button', { name: 'Join' }).click();
      await inRoom(user);
    }
    await waitFor('A to list Grace in #general', async () => (await a.page.evaluate(() => [...document.querySelectorAll('[data-testid=members] li')].map((li) => li.textContent.trim()))).includes('Grace'), { timeoutMs: 3000 });

    await stopServer(server);
    await waitForStateNot(a, 'open', 5000);
    await waitForStateNot(b, 'open', 5000);
    const queued = [1, 2, 3].map((n) => `queued in the room ${n} of 3`);
    for (const text of queued) {
      await a.page.locator('#typed-input').fill(text);
      await a.page.locator('#typed-input').press('Enter');
    }
    await waitForPage(a.page, 'A to show "queued (3)" or more', () => /queued \((\d+)\)/.test(document.querySelector('.status .badge.queued')?.textContent ?? ''), null, 2000);
    await pushRetryAway(a);

    const restartedAt = Date.now();
    await restart(server);
    await reconnectNow(b, 10000);
    // Neither page is clicked again: B receiving A's messages proves both rejoined by themselves.
    await reconnectNow(a, 10000);
    t.diagnostic(`both reconnected ${Date.now() - restartedAt} ms after the restart`);
    for (const user of [b, a]) {
      await waitFor(`${user.label} to receive the 3 queued messages in #general`, async () => {
        const shown = await texts(user);
        return queued.every((q) => shown.includes(q));
      }, { timeoutMs: 5000 });
    }
    await sleep(500);
    for (const user of [a, b]) {
      assert.deepEqual((await texts(user)).filter((x) => x.startsWith('queued in the room')), queued, `${user.label}: each once, in order`);
      assert.equal(await user.page.locator('p.inline-error').count(), 0,
        `${user.label} shows no server error (was "not in room general" before rejoin-on-open): ${await user.page.locator('p.inline-error').allTextContents()}`);
      assert.equal(await user.page.locator('[data-testid=room]').textContent(), 'In #general');
    }
    // And later messages still reach the room.
    await b.page.locator('#typed-input').fill('after the restart');
    await b.page.locator('#typed-input').press('Enter');
    await waitFor('A to receive B\'s message after the restart', async () => (await texts(a)).includes('after the restart'), { timeoutMs: 3000 });
  });
});

test('5b. notifications: a cut stream replays what was missed exactly once; a restart says "missed"', { timeout: 120000 }, async (t) => {
  await scene(browser, 'restart-notifications', async (s) => {
    const a = await s.user('A', { baseUrl: server.url, path: '/notifications', name: 'Ada' });
    const b = await s.user('B', { baseUrl: server.url, path: '/notifications', name: 'Grace' });
    await waitForState(a, 'open');
    await waitForState(b, 'open');
    const count = (user, id) => user.page.evaluate((id) => document.querySelectorAll(`ol.feed li.notification[data-id="${id}"]`).length, id);
    const allIds = (user) => user.page.evaluate(() => [...document.querySelectorAll('ol.feed li.notification')].map((li) => li.getAttribute('data-id')));
    const waitOnce = async (user, id, what, timeoutMs = 3000) => waitFor(`${user.label} to show notification ${id} (${what})`,
      async () => (await count(user, id)) >= 1, { timeoutMs });

    const first = await publish(server, { title: 'Before the cut', message: 'one', level: 'info' });
    for (const user of [a, b]) await waitOnce(user, first, 'live');

    // Cut only the event stream; publish 3 while it is down (the browser resumes after ~2 s).
    const { dropped } = await post(server, '/api/test/drop-sse');
    assert.ok(dropped >= 2, `both streams were open (dropped ${dropped})`);
    await waitForStateNot(a, 'open', 3000);
    await waitForStateNot(b, 'open', 3000);
    const missed = [];
    for (const n of [1, 2, 3]) missed.push(await publish(server, { title: `During the cut ${n}`, message: `missed ${n}`, level: 'warning' }));
    for (const user of [a, b]) {
      await waitForState(user, 'open', 15000);
      for (const id of missed) await waitOnce(user, id, 'replayed after the reconnect', 5000);
    }
    await sleep(500); // a duplicate replay would land right behind the first
    for (const user of [a, b]) {
      for (const id of [first, ...missed]) assert.equal(await count(user, id), 1, `${user.label} shows ${id} exactly once`);
      assert.equal(await user.page.locator('[data-testid=missed]').count(), 0, `${user.label}: nothing was missed after a cut`);
    }

    // A full restart: the pages resume with ids of the old run; the server answers with a reset.
    const restartedAt = Date.now();
    await restart(server);
    for (const user of [a, b]) {
      await waitForPage(user.page, `${user.label} to show [data-testid=missed] after the restart`,
        () => !!document.querySelector('[data-testid=missed]'), null, 20000);
      await waitForState(user, 'open', 10000);
    }
    t.diagnostic(`both pages showed "missed" ${Date.now() - restartedAt} ms after the restart`);
    const after = await publish(server, { title: 'After the restart', message: 'new run', level: 'success' });
    for (const user of [a, b]) await waitOnce(user, after, 'published after the restart', 3000);
    await sleep(500);
    for (const user of [a, b]) {
      const ids = await allIds(user);
      assert.equal(new Set(ids).size, ids.length, `${user.label} shows no duplicate: ${JSON.stringify(ids)}`);
      for (const id of [first, ...missed, after]) assert.equal(await count(user, id), 1, `${user.label} shows ${id} exactly once`);
      assert.match(await user.page.locator('[data-testid=missed]').textContent(), /some notifications may have been missed/);
    }
  });
});
