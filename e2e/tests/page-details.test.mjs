// Page behaviours beyond the two-user scenarios: the chat list's scroll pinning, server errors
// shown inline on the typed chat, and the connection panel's live figures.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withServerAndBrowser, scene, waitFor, waitForPage, waitForState, sendChat,
  waitForMessage, inject,
} from '../harness.mjs';

let server;
let browser;

withServerAndBrowser('page-details', (s, b) => {
  server = s;
  browser = b;
});

test('chat list stays on the newest message unless the reader scrolled up', { timeout: 60000 }, async () => {
  await scene(browser, 'chat-scroll', async (s) => {
    const a = await s.user('A', { baseUrl: server.url, path: '/', name: 'Ada' });
    await waitForState(a, 'open');
    const tag = Date.now();
    const frames = Array.from({ length: 40 }, (_, i) => JSON.stringify({
      type: 'message', id: 900000 + i, userId: 'u-bot', name: 'Bot', text: `filler ${tag} ${i}`, timestamp: Date.now(),
    }));
    await inject(server, 'chat', frames);
    await waitForMessage(a, `filler ${tag} 39`);
    const gap = () => a.page.evaluate(() => {
      const list = document.querySelector('ol.messages');
      return list.scrollHeight - list.scrollTop - list.clientHeight;
    });
    await waitFor('the list to follow the newest message', async () => (await gap()) < 5, { timeoutMs: 2000 });

    // The reader scrolls up to read: a new message must not yank them back down.
    await a.page.evaluate(() => { document.querySelector('ol.messages').scrollTop = 0; });
    await a.page.locator('ol.messages').dispatchEvent('scroll');
    await inject(server, 'chat', [JSON.stringify({ type: 'message', id: 900100, userId: 'u-bot', name: 'Bot', text: `late ${tag}`, timestamp: Date.now() })]);
    await waitForMessage(a, `late ${tag}`);
    assert.equal(await a.page.evaluate(() => document.querySelector('ol.messages').scrollTop), 0, 'scrolled-up reader stays put');

    // Back at the bottom, the list follows again.
    await a.page.evaluate(() => { const l = document.querySelector('ol.messages'); l.scrollTop = l.scrollHeight; });
    await a.page.locator('ol.messages').dispatchEvent('scroll');
    await sendChat(a, `own ${tag}`);
    await waitForMessage(a, `own ${tag}`);
    await waitFor('the list to follow the newest message again', async () => (await gap()) < 5, { timeoutMs: 2000 });
  });
});

test('typed chat shows server errors inline and stays usable', { timeout: 60000 }, async () => {
  await scene(browser, 'typed-chat-errors', async (s) => {
    const a = await s.user('A', { baseUrl: server.url, path: '/typed-chat', name: 'Ada' });
    await waitForState(a, 'open');
    await a.page.getByRole('button', { name: 'Join' }).click();
    await waitForPage(a.page, 'A to be "In #general"', () => document.querySelector('[data-testid=room]')?.textContent === 'In #general');
    await inject(server, 'typed-chat', [
      JSON.stringify({ type: 'error', code: 'invalid', message: 'room name too long <b>x</b>' }),
      JSON.stringify({ type: 'joined', room: 42 }),
    ]);
    await waitForPage(a.page, 'both problems to show inline', () => {
      const texts = [...document.querySelectorAll('p.inline-error')].map((p) => p.textContent);
      return texts.some((t) => t === 'server: room name too long <b>x</b>') && texts.some((t) => t.startsWith('unreadable `joined` message'));
    });
    assert.equal(await a.page.locator('p.inline-error b').count(), 0, 'error text is text, not markup');
    await a.page.locator('#typed-input').fill('still works');
    await a.page.locator('#typed-input').press('Enter');
    await waitForPage(a.page, 'A\'s message in the room', () => [...document.querySelectorAll('.messages li.message .text')].some((t) => t.textContent === 'still works'));
  });
});

test('connection panel shows state, queue and round-trip time of the live connection', { timeout: 60000 }, async () => {
  await scene(browser, 'connection-panel', async (s) => {
    const a = await s.user('A', { baseUrl: server.url, path: '/', name: 'Ada' });
    await waitForState(a, 'open');
    await a.page.getByRole('button', { name: 'Connections' }).click();
    await waitForPage(a.page, 'the panel to list the open chat socket with an RTT', () => {
      const row = document.querySelector('#connection-panel .conn');
      return row?.querySelector('dd[data-field=state]')?.textContent === 'open'
        && /^\d+ ms$/.test(row?.querySelector('dd[data-field=rtt]')?.textContent ?? '')
        && row?.querySelector('dd[data-field=queued]')?.textContent === '0'
        && row?.querySelector('h3')?.textContent.includes('/ws/chat');
    });
    // A full page load closes the panel; open it again on the notifications page.
    await a.page.goto(`${server.url}/notifications`);
    await a.page.getByRole('button', { name: 'Connections' }).click();
    await waitForPage(a.page, 'the panel to list the open SSE stream', () =>
      [...document.querySelectorAll('#connection-panel .conn')].some((row) => row.querySelector('.kind')?.textContent === 'SSE'
        && row.querySelector('dd[data-field=state]')?.textContent === 'open'), null, 10000);
  });
});
