// Phones and accessibility (issue #20), measured by tools rather than by eye: at 320, 360 and
// 390 px wide no page scrolls sideways and no control lies outside the screen; axe-core finds no
// serious or critical violation on any page, light and dark, desktop and phone, with two users
// connected; a keyboard alone joins, sends and leaves (focus ring at every step, focus kept in
// the input after sending); a finger dragging on the cursors board moves the cursor the other
// user sees.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import {
  ROOT, startServer, stopServer, launchBrowser, scene, waitForState, waitForPage, screenshotPath,
  waitForMessage, waitFor, cursorOnBoard,
} from '../harness.mjs';

const require = createRequire(`${ROOT}/tools/package.json`);
const AXE = require.resolve('axe-core/axe.min.js');

const PAGES = [
  { path: '/', heading: 'Chat', name: 'chat' },
  { path: '/typed-chat', heading: 'Typed chat', name: 'typed-chat' },
  { path: '/notifications', heading: 'Notifications', name: 'notifications' },
  { path: '/cursors', heading: 'Cursors', name: 'cursors' },
];
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

let server;
let browser;

before(async () => {
  server = await startServer({ label: 'phone-a11y', args: ['--dev-login'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopServer(server);
});

/** Opens `path` as `name` at `viewport` and waits until the page's heading and status are up. */
async function open(s, label, name, path, heading, viewport, colorScheme = 'light') {
  const user = await s.user(label, { baseUrl: server.url, path, name, viewport, colorScheme });
  await waitForPage(user.page, `${label}'s ${heading} page`, (h) => document.querySelector('h1')?.textContent === h, heading, 10000);
  await waitForState(user, 'open', 10000);
  return user;
}

/** Elements a person can use that stick out of the viewport, and the page's scroll width. */
function overflow(page) {
  return page.evaluate(() => {
    const width = window.innerWidth;
    const outside = [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')]
      .filter((el) => el.offsetParent !== null || el.getClientRects().length > 0)
      .map((el) => ({ el, r: el.getBoundingClientRect() }))
      .filter(({ r }) => r.width > 0 && (r.left < -0.5 || r.right > width + 0.5))
      .map(({ el, r }) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''} "${(el.textContent || el.getAttribute('aria-label') || el.getAttribute('placeholder') || '').trim().slice(0, 30)}" ${Math.round(r.left)}..${Math.round(r.right)}`);
    return { scrollWidth: document.documentElement.scrollWidth, width, outside };
  });
}

for (const width of [320, 360, 390]) {
  test(`20a. at ${width} px no page scrolls sideways and every control is on screen`, { timeout: 120000 }, async () => {
    await scene(browser, `phone-${width}`, async (s) => {
      const problems = [];
      for (const { path, heading } of PAGES) {
        const user = await open(s, `${width}${path}`, 'Ada', path, heading, { width, height: 844 });
        const o = await overflow(user.page);
        if (o.scrollWidth !== o.width) problems.push(`${path}: scrollWidth ${o.scrollWidth} ≠ ${o.width}`);
        for (const el of o.outside) problems.push(`${path}: ${el} outside 0..${o.width}`);
        await s.close(user);
      }
      assert.deepEqual(problems, [], `at ${width} px:\n${problems.join('\n')}`);
    });
  });
}

/** axe-core's serious and critical violations on `page`, one line each. */
async function axeViolations(page) {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}${v.nodes.length > 3 ? ` (+${v.nodes.length - 3})` : ''}`);
  });
  return violations;
}

for (const [form, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  for (const colorScheme of ['light', 'dark']) {
    test(`20b. axe-core: no serious or critical violation, ${form}, ${colorScheme}`, { timeout: 150000 }, async () => {
      await scene(browser, `axe-${form}-${colorScheme}`, async (s) => {
        const found = [];
        for (const { path, heading, name } of PAGES) {
          const other = await open(s, `other${path}`, 'Bo', path, heading, viewport, colorScheme);
          const user = await open(s, `axe${path}`, 'Ada', path, heading, viewport, colorScheme);
          if (form === 'phone') {
            // The phone set beside the desktop one (screenshots.test.mjs): every page, both schemes.
            await user.page.screenshot({ path: screenshotPath(`${name}-phone-${colorScheme}.png`), timeout: 10000 });
          }
          for (const v of await axeViolations(user.page)) found.push(`${path}: ${v}`);
          await s.close(user);
          await s.close(other);
        }
        assert.deepEqual(found, [], `${form} ${colorScheme}:\n${found.join('\n')}`);
      });
    });
  }
}

/** Presses Tab until `selector` has the focus (at most 40 times); every element it stops on must
 * show a focus indicator (outline or box shadow). */
async function tabTo(page, selector, what) {
  for (let i = 0; i < 40; i += 1) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate((sel) => {
      const el = document.activeElement;
      if (!el || el === document.body) return { here: false, ring: true, name: 'body' };
      const style = getComputedStyle(el);
      const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none';
      return { here: el.matches(sel), ring, name: `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''} ${(el.textContent || '').trim().slice(0, 20)}` };
    }, selector);
    assert.ok(at.ring, `no visible focus indicator on ${at.name}`);
    if (at.here) return;
  }
  throw new Error(`Tab never reached ${what} (${selector})`);
}

test('20c. keyboard only: join, send, leave on the typed chat, and send on the chat', { timeout: 90000 }, async () => {
  await scene(browser, 'keyboard', async (s) => {
    const other = await open(s, 'other', 'Bo', '/typed-chat', 'Typed chat', DESKTOP);
    const a = await open(s, 'A', 'Ada', '/typed-chat', 'Typed chat', DESKTOP);
    const page = a.page;
    await tabTo(page, '#room-select', 'the room picker');
    await page.keyboard.press('ArrowDown'); // #random
    await tabTo(page, '.room-bar button:not(.secondary)', 'Join');
    await page.keyboard.press('Enter');
    await waitForPage(page, 'A in #random', () => document.querySelector('[data-testid=room]')?.textContent === 'In #random');
    await tabTo(page, '#typed-input', 'the message input');
    const text = `typed by keyboard ${Date.now()}`;
    await page.keyboard.type(text);
    await page.keyboard.press('Enter');
    await waitForMessage(a, text);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'typed-input', 'focus stays in the input after sending');
    // The other user hears it in the same room.
    await other.page.selectOption('#room-select', 'random');
    await other.page.click('.room-bar button');
    await waitForMessage(other, text);
    await tabTo(page, '.room-bar button.secondary', 'Leave');
    await page.keyboard.press('Enter');
    await waitForPage(page, 'A out of the room', () => document.querySelector('[data-testid=room]')?.textContent === 'Not in a room');
    // The chat, through the nav, by keyboard too.
    await tabTo(page, 'nav .nav li:first-child a', 'the Chat link');
    await page.keyboard.press('Enter');
    await waitForPage(page, 'the chat page', () => document.querySelector('h1')?.textContent === 'Chat');
    await tabTo(page, '#chat-input', 'the chat input');
    const said = `chat by keyboard ${Date.now()}`;
    await page.keyboard.type(said);
    await page.keyboard.press('Enter');
    await waitForMessage(a, said);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'chat-input', 'focus stays in the chat input');
  });
});

test('20d. a finger dragging on the cursors board at phone size moves the cursor the other user sees', { timeout: 90000 }, async () => {
  await scene(browser, 'touch', async (s) => {
    const watcher = await open(s, 'watcher', 'Bo', '/cursors', 'Cursors', DESKTOP);
    const finger = await s.user('finger', {
      baseUrl: server.url, path: '/cursors', name: 'Ada', viewport: PHONE,
      contextOptions: { hasTouch: true, isMobile: true },
    });
    await waitForState(finger, 'open', 10000);
    const box = await finger.page.locator('[data-testid=board]').boundingBox();
    assert.ok(box, 'the board is on screen');
    const scrolledBefore = await finger.page.evaluate(() => window.scrollY);
    const cdp = await finger.context.newCDPSession(finger.page);
    const at = (fx, fy) => [{ x: box.x + box.width * fx, y: box.y + box.height * fy }];
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: at(0.2, 0.2) });
    for (let i = 1; i <= 10; i += 1) {
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: at(0.2 + 0.05 * i, 0.2 + 0.04 * i) });
      await new Promise((done) => setTimeout(done, 30));
    }
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    await waitFor('the watcher to see the finger\'s cursor near (70 %, 60 %)', async () => {
      const c = await cursorOnBoard(watcher.page, 'Ada');
      return c !== null && Math.abs(c.x - 70) < 3 && Math.abs(c.y - 60) < 3;
    }, { timeoutMs: 5000 });
    assert.equal(await finger.page.evaluate(() => window.scrollY), scrolledBefore, 'the drag did not scroll the page');
  });
});
