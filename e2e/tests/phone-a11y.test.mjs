// Phones and accessibility (issue #20), measured by tools rather than by eye: at 320, 360 and
// 390 px wide no page scrolls sideways and no control lies outside the screen; axe-core finds no
// serious or critical violation on any page, light and dark, desktop and phone, with two users
// connected.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import {
  ROOT, startServer, stopServer, launchBrowser, scene, waitForState, waitForPage, screenshotPath,
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
