// The generated app's pages against a minimal backend written from the seed document alone
// (e2e/seed-backend.mjs), not against our dev server: the pages must speak the seed's protocol,
// not only ours. The backend serves the app (E2E_APP_DIST) too, so page and endpoints share an
// origin, as with the dev server. The seed has no `welcome`: the pages never learn their own id,
// and ids stand in for names in the chats.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launchBrowser, scene, waitFor, waitForPage, waitForState, sendChat, waitForMessage,
  cursorOnBoard, cursorNear, artifactPath,
} from '../harness.mjs';
import { startSeedBackend } from '../seed-backend.mjs';

let backend;
let browser;

before(async () => {
  backend = await startSeedBackend({ staticDir: env('E2E_APP_DIST') });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await backend?.close();
});

/** Two users on `path`, both connected (badge "open"). */
async function twoUsers(s, path, names = ['Ada', 'Grace']) {
  const a = await s.user('A', { baseUrl: backend.url, path, name: names[0] });
  const b = await s.user('B', { baseUrl: backend.url, path, name: names[1] });
  await waitForState(a, 'open');
  await waitForState(b, 'open');
  return [a, b];
}

const inlineErrors = (user) => user.page.evaluate(() => [...document.querySelectorAll('p.inline-error')].map((p) => p.textContent));

test('seed chat: A and B talk both ways', { timeout: 60000 }, async () => {
  await scene(browser, 'seed-chat', async (s) => {
    const [a, b] = await twoUsers(s, '/');
    const hello = `Hello from Ada ${Date.now()}`;
    await sendChat(a, hello);
    await waitForMessage(b, hello, 2000);
    const reply = `Hi Ada ${Date.now()}`;
    await sendChat(b, reply);
    await waitForMessage(a, reply, 2000);
    for (const user of [a, b]) {
      await waitFor(`${user.label}'s chat to be [hello, reply] by two different authors`, async () => {
        const lines = await user.page.evaluate(() => [...document.querySelectorAll('.messages li.message')]
          .map((li) => [li.querySelector('.author')?.textContent, li.querySelector('.text')?.textContent]));
        return lines.length === 2 && lines[0][1] === hello && lines[1][1] === reply && lines[0][0] !== lines[1][0];
      }, { timeoutMs: 2000 });
      assert.deepEqual(await inlineErrors(user), [], `${user.label}: every seed frame was readable`);
    }
  });
});

test('seed typed chat: join, and the other user\'s `left` drops them from the member list', { timeout: 60000 }, async () => {
  await scene(browser, 'seed-typed-chat', async (s) => {
    const [a, b] = await twoUsers(s, '/typed-chat');
    const members = (user) => user.page.evaluate(() => [...document.querySelectorAll('[data-testid=members] li')].map((li) => li.textContent.trim()).sort());
    const inGeneral = (user) => waitForPage(user.page, `${user.label} to be "In #general"`, () => document.querySelector('[data-testid=room]')?.textContent === 'In #general');

    await a.page.getByRole('button', { name: 'Join' }).click();
    await inGeneral(a);
    const [aId] = await waitFor('A\'s member list to hold one id (A alone)', async () => {
      const list = await members(a);
      return list.length === 1 ? list : false;
    });
    await b.page.getByRole('button', { name: 'Join' }).click();
    await inGeneral(b);
    const both = await waitFor('B\'s member list to hold A and B', async () => {
      const list = await members(b);
      return list.length === 2 && list.includes(aId) ? list : false;
    });
    const bId = both.find((id) => id !== aId);
    await waitFor(`A's member list to add B (${bId}) from user:joined`, async () => JSON.stringify(await members(a)) === JSON.stringify(both), { timeoutMs: 3000 });

    // A word in the room, both ways.
    await a.page.locator('#typed-input').fill('hello room');
    await a.page.locator('#typed-input').press('Enter');
    await waitForPage(b.page, 'B to receive "hello room"', () => [...document.querySelectorAll('.messages li.message .text')].some((e) => e.textContent === 'hello room'));

    // B leaves: the seed's `left {room, userId}` about B reaches A, who drops B and stays in.
    await b.page.getByRole('button', { name: 'Leave' }).click();
    await waitForPage(b.page, 'B to show "Not in a room"', () => document.querySelector('[data-testid=room]')?.textContent === 'Not in a room');
    await waitFor(`A's member list to drop B (${bId}) on \`left\``, async () => JSON.stringify(await members(a)) === JSON.stringify([aId]), { timeoutMs: 3000 });
    assert.equal(await a.page.locator('[data-testid=room]').textContent(), 'In #general', 'B\'s `left` is not A leaving');
    for (const user of [a, b]) assert.deepEqual(await inlineErrors(user), [], `${user.label}: no error shown`);
  });
});

test('seed cursors: each sees the other\'s cursor move; it leaves with its user', { timeout: 60000 }, async () => {
  await scene(browser, 'seed-cursors', async (s) => {
    const [a, b] = await twoUsers(s, '/cursors');
    const pointAt = async (user, fx, fy) => {
      const box = await user.page.locator('[data-testid=board]').boundingBox();
      assert.ok(box && box.width > 100 && box.height > 100, `${user.label}'s board is visible (${JSON.stringify(box)})`);
      await user.page.mouse.move(box.x + fx * box.width, box.y + fy * box.height, { steps: 8 });
    };
    const sees = (viewer, name, fx, fy) => waitFor(`${viewer.label} to show ${name}'s cursor within 3% of (${fx * 100}%, ${fy * 100}%)`,
      async () => cursorNear(await cursorOnBoard(viewer.page, name), fx * 100, fy * 100), { timeoutMs: 3000 });
    await pointAt(a, 0.3, 0.6);
    await sees(b, 'Ada', 0.3, 0.6);
    await pointAt(a, 0.75, 0.2);
    await sees(b, 'Ada', 0.75, 0.2);
    await pointAt(b, 0.6, 0.4);
    await sees(a, 'Grace', 0.6, 0.4);
    assert.equal(await a.page.locator('.cursor[data-user]').count(), 1, 'A shows only Grace\'s cursor, not its own');
    assert.deepEqual(await inlineErrors(b), [], 'B: every presence frame was readable');
    await b.page.screenshot({ path: artifactPath('seed-cursors-b-with-ada.png') });
    await s.close(a);
    await waitFor('Ada\'s cursor to leave B\'s board on presence:leave', async () => (await cursorOnBoard(b.page, 'Ada')) === null, { timeoutMs: 3000 });
  });
});

test('seed notifications: unnamed SSE events carrying only {message} show up', { timeout: 60000 }, async () => {
  await scene(browser, 'seed-notifications', async (s) => {
    const [a, b] = await twoUsers(s, '/notifications');
    await waitFor('both notification streams to be open on the seed backend', () => backend.streams() === 2);
    const feed = (user) => user.page.evaluate(() => [...document.querySelectorAll('ol.feed li.notification')].map((li) => ({
      id: li.dataset.id, title: li.querySelector('strong')?.textContent, text: li.querySelector('.text')?.textContent,
      time: li.querySelectorAll('time').length,
    })));
    const waitFeed = (user, texts, what) => waitFor(`${user.label}'s feed to be ${JSON.stringify(texts)} (${what})`,
      async () => JSON.stringify((await feed(user)).map((n) => n.text)) === JSON.stringify(texts), { timeoutMs: 3000 });

    // The seed's feed: `data: {"message": ...}`, no `event:` line, no id anywhere.
    const first = `Seed says hi ${Date.now()}`;
    backend.publish({ message: first });
    for (const user of [a, b]) await waitFeed(user, [first], 'an unnamed event with only {message}');
    const [shown] = await feed(a);
    assert.deepEqual({ title: shown.title, time: shown.time }, { title: 'Notification', time: 0 }, 'default title, no invented time');
    assert.match(shown.id, /^#\d+$/, 'no id anywhere: a position stands in');

    // With an `id:` line; then one without, for which the browser repeats that id.
    backend.publish({ message: 'second' }, { id: '7' });
    backend.publish({ message: 'third', level: 'warning' });
    for (const user of [a, b]) {
      await waitFeed(user, ['third', 'second', first], 'newest first');
      const ids = (await feed(user)).map((n) => n.id);
      assert.deepEqual(ids.slice(0, 2), ['7', '7'], `${user.label}: the SSE id stands in for the JSON id`);
      assert.equal(await user.page.locator('ol.feed li.notification.warning').count(), 1, `${user.label}: the level is read`);
      assert.deepEqual(await inlineErrors(user), [], `${user.label}: nothing unreadable`);
    }

    // A frame without `message` is still an error, shown as such; the feed goes on.
    backend.publish({ title: 'no body' });
    backend.publish({ message: 'fourth' });
    await waitFeed(a, ['fourth', 'third', 'second', first], 'after a broken frame');
    await waitFor('A to say one notification could not be read', async () => (await inlineErrors(a)).some((e) => e.startsWith('1 notification(s) could not be read')));
  });
});
