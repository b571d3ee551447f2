// The preview as a person uses it: `trunk serve` (started by scripts/demo.sh or an app's own
// scripts/dev.sh, see scripts/preview-tests.sh) watched in headless Chromium through the URL it
// printed. Two users; every message goes through Trunk's proxies to the dev server.
//
//   1. the page loads exactly once in 20 s of watching (`load` events counted from the first);
//   2. signed in through the dev login, chat both ways, a notification published with the page's form, a cursor between
//      the two users: each within 2 s;
//   3. an edit of a page's source while it serves (saved as an atomic-save editor does, see
//      `save`) reloads the page exactly once and shows the new text; the edit-to-new-page time is
//      recorded.
//
//   4. with PREVIEW_NEW_PAGE=path:Title (a page added by `cargo xtask new-page`), that page is in
//      the nav and two users see each other's posts on it within 2 s.
//
// Inputs (environment): PREVIEW_URL (the printed URL), PREVIEW_APP (the app folder, whose page
// source is edited), PREVIEW_LABEL (names artifacts), PREVIEW_NAME (optional: the app's name,
// expected in the <title> and the header), PREVIEW_NEW_PAGE (optional, above).
// Results: target/artifacts/preview/LABEL.json (and LABEL-new-page.json).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT, env, launchBrowser, scene, waitFor, waitForPage, waitForState, sendChat,
  waitForMessage, cursorOnBoard, cursorNear, sleep,
} from '../harness.mjs';

const url = env('PREVIEW_URL');
const app = env('PREVIEW_APP');
const label = process.env.PREVIEW_LABEL || 'preview';
const appName = process.env.PREVIEW_NAME || '';
const results = join(ROOT, 'target/artifacts/preview');
mkdirSync(results, { recursive: true });

const WATCH_MS = 20000; // how long the page must hold without reloading
const ARRIVE_MS = 2000; // every message, notification and cursor move

/** A user whose every `load` (the first and any reload) is counted in `user.loads`. */
async function countedUser(s, name, path) {
  const loads = [];
  const user = await s.user(name.slice(0, 1), {
    baseUrl: url,
    path,
    name,
    beforeGoto: (page) => page.on('load', () => loads.push(Date.now())),
  });
  user.loads = loads;
  return user;
}

/**
 * Saves `text` to `file` the way an atomic-save editor does (vim, JetBrains' safe write): written
 * beside the app's sources, in its target/ (which Trunk does not watch), then renamed over `file`,
 * so Trunk sees one change. An in-place write is a truncate and a write, and Trunk 0.21's 25 ms
 * debouncer now and then hands those to it as two changes, so it builds and reloads twice:
 * 6 extra builds in 900 in-place saves, 0 in 900 renames (`bench/trunk-save.sh 300 3 1`;
 * docs/benchmarks.md, "Preview"). One such double reload failed CI once. The test is about what
 * this template makes Trunk do, not about that race in Trunk.
 */
function save(file, text) {
  const tmp = join(app, 'target', `preview-save-${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Clicks the nav link `text` (an in-app navigation: no page load). */
async function navigate(user, text, heading) {
  await user.page.locator('nav .nav a', { hasText: text }).click({ timeout: 5000 });
  await waitForPage(user.page, `${user.label} to show the ${text} page`, (h) => document.querySelector('h1')?.textContent === h, heading);
}

test(`preview (${label}): one load in 20 s, two users live through Trunk's proxies, an edit reloads once`, { timeout: 600000 }, async (t) => {
  const browser = await launchBrowser();
  const figures = { label, url };
  try {
    await scene(browser, `preview-${label}`, async (s) => {
      const a = await countedUser(s, 'Ada', '/');
      const b = await countedUser(s, 'Grace', '/');
      const watchFrom = Math.min(a.loads[0], b.loads[0]);
      await waitForState(a, 'open');
      await waitForState(b, 'open');

      if (appName) {
        assert.equal(await a.page.title(), appName, 'the page title is the app\'s name');
        assert.equal(await a.page.locator('header .brand').textContent(), appName, 'the header shows the app\'s name');
      }

      // Chat both ways through Trunk's WebSocket proxy.
      const hello = `Hello from Ada ${Date.now()}`;
      let sent = await sendChat(a, hello);
      await waitForMessage(b, hello, ARRIVE_MS - (Date.now() - sent));
      figures.chatAtoBMs = Date.now() - sent;
      const reply = `Hi Ada, Grace here ${Date.now()}`;
      sent = await sendChat(b, reply);
      await waitForMessage(a, reply, ARRIVE_MS - (Date.now() - sent));
      figures.chatBtoAMs = Date.now() - sent;
      t.diagnostic(`chat A→B ${figures.chatAtoBMs} ms, B→A ${figures.chatBtoAMs} ms`);

      // A notification published through Trunk's /api proxy arrives through its SSE proxy.
      await navigate(a, 'Notifications', 'Notifications');
      await navigate(b, 'Notifications', 'Notifications');
      await waitForState(a, 'open');
      await waitForState(b, 'open');
      // Both signed in through the dev login (the link's ?name=): the header says who.
      for (const user of [a, b]) {
        await waitForPage(user.page, `${user.label}'s header to say "Signed in as ${user.name}"`,
          (n) => document.querySelector('header .who strong')?.textContent === n, user.name);
      }
      // Ada publishes with the page's form (her dev token may publish); both feeds show it once.
      const published = Date.now();
      const text = `Preview check ${published}`;
      await a.page.fill('#publish-message', text);
      await a.page.click('form.publish button[type=submit]');
      for (const user of [a, b]) {
        await waitForPage(user.page, `${user.label} to show the notification "${text}"`,
          (t) => [...document.querySelectorAll('ol.feed li.notification .text')].filter((e) => e.textContent === t).length === 1,
          text, ARRIVE_MS - (Date.now() - published));
      }
      figures.notificationMs = Date.now() - published;
      t.diagnostic(`notification on both pages ${figures.notificationMs} ms after Publish`);

      // A cursor moves from A to B.
      await navigate(a, 'Cursors', 'Cursors');
      await navigate(b, 'Cursors', 'Cursors');
      await waitForState(a, 'open');
      await waitForState(b, 'open');
      const box = await a.page.locator('[data-testid=board]').boundingBox();
      assert.ok(box && box.width > 100 && box.height > 100, `the board is visible (${JSON.stringify(box)})`);
      const moved = Date.now();
      await a.page.mouse.move(box.x + 0.4 * box.width, box.y + 0.7 * box.height, { steps: 8 });
      // Labelled Ada: her signed name.
      await waitFor('B to show Ada\'s cursor near (40%, 70%)',
        async () => cursorNear(await cursorOnBoard(b.page, 'Ada'), 40, 70), { timeoutMs: ARRIVE_MS - (Date.now() - moved) });
      figures.cursorMs = Date.now() - moved;
      t.diagnostic(`cursor A→B ${figures.cursorMs} ms`);

      // The rest of the 20 s: nothing may reload the page.
      const left = WATCH_MS - (Date.now() - watchFrom);
      if (left > 0) await sleep(left);
      figures.watchedMs = Date.now() - watchFrom;
      for (const user of [a, b]) {
        assert.equal(user.loads.length, 1,
          `${user.label}'s page loaded ${user.loads.length} times in ${figures.watchedMs} ms (at +${user.loads.map((l) => l - watchFrom).join(', +')} ms); trunk log: ${app}/target/trunk-serve.log`);
      }
      t.diagnostic(`one load per page in ${figures.watchedMs} ms of watching`);

      // Edit the cursors page's heading while it serves: one reload, the new text.
      const source = join(app, 'pages/src/cursors.rs');
      const original = readFileSync(source, 'utf8');
      const heading = /(<h1[^>]*>\s*\{\s*)"Cursors"(\s*\}\s*<\/h1>)/;
      assert.match(original, heading, `${source} renders the heading "Cursors"`);
      const edited = `Cursors ${Date.now()}`;
      const editedAt = Date.now();
      save(source, original.replace(heading, `$1"${edited}"$2`));
      try {
        await waitForPage(a.page, `A's page to show the edited heading "${edited}" (trunk rebuilds, then reloads the page)`,
          (h) => document.querySelector('h1')?.textContent === h, edited, 300000);
        figures.editToNewPageMs = Date.now() - editedAt;
        await waitForPage(b.page, `B's page to show the edited heading "${edited}"`,
          (h) => document.querySelector('h1')?.textContent === h, edited, 30000);
        // Held for 5 s after the new page: exactly one reload, and both users are live again.
        await sleep(5000);
        for (const user of [a, b]) {
          assert.equal(user.loads.length, 2, `${user.label}'s page loaded ${user.loads.length - 1} more times after the edit; expected exactly one reload`);
          await waitForState(user, 'open');
        }
      } finally {
        save(source, original);
      }
      t.diagnostic(`edit to new page: ${figures.editToNewPageMs} ms`);
      await a.page.screenshot({ path: join(results, `${label}-after-edit.png`) });
    });
  } finally {
    writeFileSync(join(results, `${label}.json`), `${JSON.stringify(figures, null, 2)}\n`);
    await browser.close();
  }
});

const newPage = process.env.PREVIEW_NEW_PAGE || '';

// Defined only when asked for: a run without a new page has no such test (never a skipped one).
if (newPage) test(`preview (${label}): the generated page ${newPage} is live for two users`, { timeout: 120000 }, async (t) => {
  const [path, title] = newPage.split(':');
  const browser = await launchBrowser();
  const figures = { label, path };
  try {
    await scene(browser, `preview-${label}-new-page`, async (s) => {
      const a = await countedUser(s, 'Ada', '/');
      const b = await countedUser(s, 'Grace', '/');
      // Reached through the nav, as a person would find it.
      await navigate(a, title, title);
      await navigate(b, title, title);
      await waitForState(a, 'open');
      await waitForState(b, 'open');
      assert.equal(new URL(a.page.url()).pathname, path, 'the nav entry leads to its URL');
      const input = a.page.locator('section.page form input[type=text]');
      const post = async (user, text) => {
        await user.page.locator('section.page form input[type=text]').fill(text);
        await user.page.locator('section.page form button[type=submit]').click();
        return Date.now();
      };
      const texts = (user) => user.page.evaluate(() => [...document.querySelectorAll('.messages li.message .text')].map((e) => e.textContent));
      const hello = `Ada on ${title} ${Date.now()}`;
      let sent = await post(a, hello);
      await waitFor(`B to see "${hello}"`, async () => (await texts(b)).includes(hello), { timeoutMs: ARRIVE_MS });
      figures.postAtoBMs = Date.now() - sent;
      const reply = `Grace on ${title} ${Date.now()}`;
      sent = await post(b, reply);
      await waitFor(`A to see "${reply}"`, async () => (await texts(a)).includes(reply), { timeoutMs: ARRIVE_MS });
      figures.postBtoAMs = Date.now() - sent;
      assert.equal(await input.inputValue(), '', 'the input is cleared after posting');
      for (const user of [a, b]) {
        assert.deepEqual(await texts(user), [hello, reply], `${user.label} sees both posts once, in order`);
        assert.equal(await user.page.locator('p.inline-error').count(), 0, `${user.label}: no error shown`);
      }
      t.diagnostic(`${path}: A→B ${figures.postAtoBMs} ms, B→A ${figures.postBtoAMs} ms`);
      await a.page.screenshot({ path: join(results, `${label}-new-page.png`) });
    });
  } finally {
    writeFileSync(join(results, `${label}-new-page.json`), `${JSON.stringify(figures, null, 2)}\n`);
    await browser.close();
  }
});
