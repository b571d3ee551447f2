// Scenarios 1–4, 7 and 8: two users (independent browser contexts) against one dev server that
// also serves the generated app, so page and endpoints share an origin. None of these restarts
// the server, so they share one server and one browser process.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withServerAndBrowser, scene, waitFor, waitForPage, waitForState, sendChat,
  waitForMessage, messageTexts, publish, inject, cursorOnBoard, cursorNear, sleep,
} from '../harness.mjs';

let server;
let browser;

withServerAndBrowser('two-users', (s, b) => {
  server = s;
  browser = b;
});

/** Two users on `path`, both connected (badge "open"). */
async function twoUsers(s, path, names = ['Ada', 'Grace']) {
  const a = await s.user('A', { baseUrl: server.url, path, name: names[0] });
  const b = await s.user('B', { baseUrl: server.url, path, name: names[1] });
  await waitForState(a, 'open');
  await waitForState(b, 'open');
  return [a, b];
}

test('1. chat: A sends, B sees it within 1 s; B replies, A sees it', { timeout: 60000 }, async (t) => {
  await scene(browser, 'chat', async (s) => {
    const [a, b] = await twoUsers(s, '/');
    const hello = `Hello from Ada ${Date.now()}`;
    const sent = await sendChat(a, hello);
    await waitForMessage(b, hello, 1000 - (Date.now() - sent)); // 1 s from A's Enter
    t.diagnostic(`A → B in ${Date.now() - sent} ms`);
    const reply = `Hi Ada, Grace here ${Date.now()}`;
    const replied = await sendChat(b, reply);
    await waitForMessage(a, reply, 1000 - (Date.now() - replied));
    t.diagnostic(`B → A in ${Date.now() - replied} ms`);
    // Both see the same conversation, in order, with the right authors (each user's own message
    // comes back as the server's echo, so wait for it too).
    const want = [['Ada', hello], ['Grace', reply]];
    for (const user of [a, b]) {
      await waitFor(`${user.label}'s message list to be ${JSON.stringify(want)}`, async () => {
        const lines = await user.page.evaluate(() => [...document.querySelectorAll('.messages li.message')]
          .map((li) => [li.querySelector('.author')?.textContent, li.querySelector('.text')?.textContent]));
        return JSON.stringify(lines) === JSON.stringify(want);
      }, { timeoutMs: 2000 });
    }
    assert.equal(await a.page.locator('.messages li.message.mine .text').textContent(), hello, "A's own message is marked mine");
  });
});

test('2. typed chat: join, member lists, typing indicator, leave', { timeout: 60000 }, async () => {
  await scene(browser, 'typed-chat', async (s) => {
    const [a, b] = await twoUsers(s, '/typed-chat');
    const members = (user) => user.page.evaluate(() => [...document.querySelectorAll('[data-testid=members] li')].map((li) => li.textContent.trim()).sort());
    const waitMembers = (user, want, what) => waitFor(`${user.label}'s member list to be ${JSON.stringify(want)} (${what})`,
      async () => JSON.stringify(await members(user)) === JSON.stringify(want), { timeoutMs: 3000 });

    await a.page.selectOption('#room-select', 'general');
    await a.page.getByRole('button', { name: 'Join' }).click();
    await waitForPage(a.page, 'A to be "In #general"', () => document.querySelector('[data-testid=room]')?.textContent === 'In #general');
    await waitMembers(a, ['Ada (you)'], 'A alone');

    await b.page.selectOption('#room-select', 'general');
    await b.page.getByRole('button', { name: 'Join' }).click();
    await waitForPage(b.page, 'B to be "In #general"', () => document.querySelector('[data-testid=room]')?.textContent === 'In #general');
    await waitMembers(b, ['Ada', 'Grace (you)'], 'B joined after A');
    await waitMembers(a, ['Ada (you)', 'Grace'], 'A learns that B joined');
    assert.equal(await a.page.getByRole('button', { name: 'Switch' }).count(), 1, 'Join became Switch');

    // Typing: B sees "Ada is typing…", which clears about 2 s after A's last keystroke.
    await a.page.locator('#typed-input').pressSequentially('hello gr', { delay: 40 });
    const lastKey = Date.now();
    await waitForPage(b.page, 'B to show "Ada is typing…"', () => document.querySelector('[data-testid=typing]')?.textContent === 'Ada is typing…', null, 2000);
    await waitForPage(b.page, 'the typing indicator to clear (2 s after the last keystroke)', () => document.querySelector('[data-testid=typing]')?.textContent === '', null, 4000);
    const cleared = Date.now() - lastKey;
    assert.ok(cleared >= 1500, `indicator cleared ${cleared} ms after the last keystroke; expected about 2 s`);

    // A message in the room reaches B; sending also ends the typing state.
    await a.page.locator('#typed-input').pressSequentially('oup', { delay: 20 });
    await waitForPage(b.page, 'B to show "Ada is typing…" again', () => document.querySelector('[data-testid=typing]')?.textContent === 'Ada is typing…', null, 2000);
    await a.page.locator('#typed-input').press('Enter');
    await waitForPage(b.page, 'B to receive "hello group" in #general', () => [...document.querySelectorAll('.messages li.message .text')].some((e) => e.textContent === 'hello group'));
    await waitForPage(b.page, 'the typing indicator to clear on send', () => document.querySelector('[data-testid=typing]')?.textContent === '', null, 1000);

    // A leaves: A is in no room, B's list drops A.
    await a.page.getByRole('button', { name: 'Leave' }).click();
    await waitForPage(a.page, 'A to show "Not in a room"', () => document.querySelector('[data-testid=room]')?.textContent === 'Not in a room');
    await waitMembers(b, ['Grace (you)'], 'A left');
    assert.equal(await a.page.locator('p.inline-error').count(), 0, 'no server error on A');
    assert.equal(await b.page.locator('p.inline-error').count(), 0, 'no server error on B');
  });
});

test('3. notifications: one published through the server shows in both browsers', { timeout: 60000 }, async () => {
  await scene(browser, 'notifications', async (s) => {
    const [a, b] = await twoUsers(s, '/notifications');
    const message = `Build ${Date.now()} is green`;
    const id = await publish(server, { title: 'Deploy finished', message, level: 'success' });
    for (const user of [a, b]) {
      await waitForPage(user.page, `${user.label} to show notification ${id}`,
        (id) => document.querySelectorAll(`ol.feed li.notification[data-id="${id}"]`).length === 1, id, 3000);
      const shown = await user.page.evaluate((id) => {
        const li = document.querySelector(`ol.feed li.notification[data-id="${id}"]`);
        return { title: li.querySelector('strong')?.textContent, text: li.querySelector('.text')?.textContent };
      }, id);
      assert.deepEqual(shown, { title: 'Deploy finished', text: message }, `${user.label}'s notification`);
    }
  });
});

test('4. cursors: B sees A\'s cursor where A points; it leaves when A closes the page', { timeout: 90000 }, async (t) => {
  await scene(browser, 'cursors', async (s) => {
    const [a, b] = await twoUsers(s, '/cursors');
    const here = (user) => user.page.evaluate(() => [...document.querySelectorAll('[data-testid=here] li')].map((li) => li.textContent.trim()).sort());
    await waitFor('B\'s "Here now" list to show Ada and Grace', async () => JSON.stringify(await here(b)) === JSON.stringify(['Ada', 'Grace (you)']), { timeoutMs: 3000 });

    const box = await a.page.locator('[data-testid=board]').boundingBox();
    assert.ok(box && box.width > 100 && box.height > 100, `board is visible (${JSON.stringify(box)})`);
    const adaCursor = (page) => cursorOnBoard(page, 'Ada');
    let previous = null;
    for (const [fx, fy] of [[0.3, 0.6], [0.78, 0.22]]) {
      // A glide of several steps: throttled to 20/s, the last position must still arrive.
      await a.page.mouse.move(box.x + fx * box.width, box.y + fy * box.height, { steps: 12 });
      const want = { x: fx * 100, y: fy * 100 };
      // Given and drawn there: the position in data-x/y and the cursor's box on B's board.
      const seen = await waitFor(`B to show Ada's cursor within 3% of (${want.x.toFixed(0)}%, ${want.y.toFixed(0)}%)`, async () => {
        const pos = await adaCursor(b.page);
        return cursorNear(pos, want.x, want.y) ? pos : false;
      }, { timeoutMs: 3000 });
      t.diagnostic(`A pointed at (${want.x.toFixed(1)}%, ${want.y.toFixed(1)}%), B shows (${seen.x}%, ${seen.y}%), drawn at (${seen.drawnX.toFixed(1)}%, ${seen.drawnY.toFixed(1)}%)`);
      assert.notDeepEqual({ x: seen.x, y: seen.y }, previous);
      previous = { x: seen.x, y: seen.y };
    }
    assert.equal(await a.page.locator('.cursor[data-user]').count(), 0, 'A does not see its own cursor');

    // A closes its page: the cursor and the "Here now" entry leave within the presence TTL (30 s).
    const closed = Date.now();
    await s.close(a);
    await waitFor('Ada\'s cursor to leave B\'s board (presence TTL 30 s)', async () => (await adaCursor(b.page)) === null, { timeoutMs: 30000, intervalMs: 100 });
    await waitFor('B\'s "Here now" list to drop Ada', async () => JSON.stringify(await here(b)) === JSON.stringify(['Grace (you)']), { timeoutMs: 30000 });
    t.diagnostic(`A's cursor left B's view ${Date.now() - closed} ms after A closed its page`);
  });
});

test('7. bad input: malformed JSON, an unknown type and a 1 MB frame; the chat stays usable', { timeout: 60000 }, async (t) => {
  await scene(browser, 'bad-input', async (s) => {
    const [a, b] = await twoUsers(s, '/');
    const huge = JSON.stringify('x'.repeat(1024 * 1024 - 2)); // a JSON string, 1,048,576 characters
    assert.equal(huge.length, 1048576);
    await inject(server, 'chat', ['{"type":"message","text":', '{"type":"mystery","payload":42}', huge]);
    for (const user of [a, b]) {
      await waitForPage(user.page, `${user.label} to show p.inline-error counting 3 unreadable messages`,
        () => /^3 message\(s\) could not be shown/.test(document.querySelector('p.inline-error')?.textContent ?? ''), null, 5000);
    }
    const shown = await a.page.locator('p.inline-error').textContent();
    t.diagnostic(`A's p.inline-error is ${shown.length} characters long: ${JSON.stringify(shown.slice(0, 160))}…`);
    // Regression: serde's message used to quote the whole 1 MB frame and bury the page under it.
    assert.ok(shown.length < 2000, `the error about a 1 MB frame is ${shown.length} characters long`);
    // Still usable, both ways, on the same connection.
    for (const user of [a, b]) assert.equal(await user.page.locator('.status .badge[data-state]').getAttribute('data-state'), 'open');
    const one = `still here ${Date.now()}`;
    await sendChat(a, one);
    await waitForMessage(b, one, 2000);
    const two = `me too ${Date.now()}`;
    await sendChat(b, two);
    await waitForMessage(a, two, 2000);
    for (const user of [a, b]) {
      assert.deepEqual(user.problems, [], `${user.label}: no panic, no uncaught error`);
      assert.ok(!(await user.page.locator('.messages').textContent()).includes('xxxxxxxxxx'), 'the 1 MB frame is not shown as a message');
    }
  });
});

test('8. XSS: markup in a message or a name renders as text and runs nothing', { timeout: 60000 }, async () => {
  await scene(browser, 'xss', async (s) => {
    // B's display name is markup too (the server keeps ≤ 32 characters).
    const evilName = '<img src=y onerror=__pwned=2>';
    const [a, b] = await twoUsers(s, '/', ['Ada', evilName]);
    const payload = '<img src=x onerror="window.__pwned=1">';
    await sendChat(a, payload);
    const fromB = '<script>window.__pwned=3</script><b>bold?</b>';
    await sendChat(b, fromB);
    for (const user of [a, b]) {
      await waitForMessage(user, payload, 2000);
      await waitForMessage(user, fromB, 2000);
    }
    // Give a would-be <img> error handler time to fire (a failed image load is asynchronous).
    await sleep(500);
    for (const user of [a, b]) {
      const facts = await user.page.evaluate(() => ({
        texts: [...document.querySelectorAll('.messages li.message .text')].map((e) => e.textContent),
        authors: [...document.querySelectorAll('.messages li.message .author')].map((e) => e.textContent),
        injected: document.querySelectorAll('.messages img, .messages script, .messages b').length,
        pwned: typeof window.__pwned,
      }));
      // The chat's newest history (earlier scenarios' messages) comes first; these two are last.
      assert.deepEqual(facts.texts.slice(-2), [payload, fromB], `${user.label}: the messages' textContent equals what was sent`);
      assert.deepEqual(facts.authors.slice(-2), ['Ada', evilName], `${user.label}: the markup name is shown as text`);
      assert.equal(facts.injected, 0, `${user.label}: no element was created from message markup`);
      assert.equal(facts.pwned, 'undefined', `${user.label}: window.__pwned stays undefined`);
    }
    const shownA = await messageTexts(a.page);
    assert.deepEqual([payload, fromB].map((t) => shownA.filter((x) => x === t).length), [1, 1], 'each shown once');
  });
});
