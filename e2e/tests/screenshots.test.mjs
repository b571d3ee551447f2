// Screenshots of the four pages in light and dark, 1280×800, each taken from A's browser while a
// second user (B) is connected and active, into target/artifacts/screenshots/{page}-{scheme}.png.
// Each scheme gets its own server so both sets show the same content.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, stopServer, launchBrowser, scene, waitFor, waitForPage, waitForState, sendChat,
  waitForMessage, publish, screenshotPath, cursorOnBoard, cursorNear,
} from '../harness.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** Settles CSS transitions (the cursor glides over 90 ms) and fonts before a shot. */
async function shoot(page, file) {
  await page.evaluate(() => document.fonts.ready);
  await page.waitForTimeout(300);
  await page.screenshot({ path: screenshotPath(file), timeout: 10000 });
}

for (const scheme of ['light', 'dark']) {
  test(`screenshots (${scheme}): chat, typed chat, notifications, cursors with two users`, { timeout: 90000 }, async () => {
    const server = await startServer({ label: `screenshots-${scheme}` });
    try {
      const open = (s, label, path, name) => s.user(label, { baseUrl: server.url, path, name, colorScheme: scheme });
      const isDark = (page) => page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches);

      await scene(browser, `screenshot-chat-${scheme}`, async (s) => {
        const a = await open(s, 'A', '/', 'Ada');
        const b = await open(s, 'B', '/', 'Grace');
        await waitForState(a, 'open');
        await waitForState(b, 'open');
        assert.equal(await isDark(a.page), scheme === 'dark', 'the colour scheme is applied');
        const lines = [
          [a, 'Morning! Is the deploy still on for today?'],
          [b, 'Yes, right after lunch. The staging run was green.'],
          [a, 'Great, I will keep an eye on the notifications page.'],
          [b, 'Cursors board is open if you want to walk through the diagram.'],
        ];
        for (const [user, text] of lines) {
          await sendChat(user, text);
          await waitForMessage(a, text, 2000);
        }
        await a.page.locator('#chat-input').fill('Sounds good');
        await shoot(a.page, `chat-${scheme}.png`);
      });

      await scene(browser, `screenshot-typed-chat-${scheme}`, async (s) => {
        const a = await open(s, 'A', '/typed-chat', 'Ada');
        const b = await open(s, 'B', '/typed-chat', 'Grace');
        await waitForState(a, 'open');
        await waitForState(b, 'open');
        for (const user of [a, b]) {
          await user.page.getByRole('button', { name: 'Join' }).click();
          await waitForPage(user.page, `${user.label} in #general`, () => document.querySelector('[data-testid=room]')?.textContent === 'In #general');
        }
        await waitForPage(a.page, 'A to list two members', () => document.querySelectorAll('[data-testid=members] li').length === 2);
        for (const [user, text] of [[a, 'Welcome to #general, Grace!'], [b, 'Thanks! Happy to be here.']]) {
          await user.page.locator('#typed-input').fill(text);
          await user.page.locator('#typed-input').press('Enter');
          await waitForPage(a.page, `A to show "${text}"`, (t) => [...document.querySelectorAll('.messages li.message .text')].some((e) => e.textContent === t), text);
        }
        // B is typing while A looks (the indicator lasts 2 s after the last keystroke).
        await b.page.locator('#typed-input').pressSequentially('Quick question about', { delay: 15 });
        await waitForPage(a.page, 'A to show "Grace is typing…"', () => document.querySelector('[data-testid=typing]')?.textContent === 'Grace is typing…', null, 2000);
        await shoot(a.page, `typed-chat-${scheme}.png`);
      });

      await scene(browser, `screenshot-notifications-${scheme}`, async (s) => {
        const a = await open(s, 'A', '/notifications', 'Ada');
        const b = await open(s, 'B', '/notifications', 'Grace');
        await waitForState(a, 'open');
        await waitForState(b, 'open');
        const ids = [];
        for (const n of [
          { title: 'Deploy started', message: 'Release 1.4.0 is rolling out to production.', level: 'info' },
          { title: 'Backups', message: 'Nightly backup finished in 4 min 12 s.', level: 'success' },
          { title: 'Disk space', message: 'db-2 is at 85% of its volume.', level: 'warning' },
          { title: 'Deploy failed', message: 'Health check timed out on web-3; rolled back.', level: 'error' },
        ]) ids.push(await publish(server, n));
        for (const user of [a, b]) {
          await waitForPage(user.page, `${user.label} to show ${ids.length} notifications`, (n) => document.querySelectorAll('ol.feed li.notification').length === n, ids.length);
        }
        await shoot(a.page, `notifications-${scheme}.png`);
      });

      await scene(browser, `screenshot-cursors-${scheme}`, async (s) => {
        const a = await open(s, 'A', '/cursors', 'Ada');
        const b = await open(s, 'B', '/cursors', 'Grace');
        await waitForState(a, 'open');
        await waitForState(b, 'open');
        const box = await b.page.locator('[data-testid=board]').boundingBox();
        await b.page.mouse.move(box.x + 0.42 * box.width, box.y + 0.38 * box.height, { steps: 8 });
        await waitFor('A to show Grace\'s cursor near (42%, 38%)', async () => cursorNear(await cursorOnBoard(a.page), 42, 38),
          { timeoutMs: 3000 });
        await waitForPage(a.page, 'A\'s "Here now" to list both users', () => document.querySelectorAll('[data-testid=here] li').length === 2);
        // A's own pointer rests on the board too (A does not see its own cursor drawn).
        const boxA = await a.page.locator('[data-testid=board]').boundingBox();
        await a.page.mouse.move(boxA.x + 0.7 * boxA.width, boxA.y + 0.65 * boxA.height, { steps: 4 });
        await shoot(a.page, `cursors-${scheme}.png`);
      });
    } finally {
      await stopServer(server);
    }
  });
}
