// Simulated presence peers for the cursors benchmark, in a process of their own:
//   node bench/peers.mjs WS_URL PEERS HZ
// Connects PEERS clients to WS_URL/ws/presence, prints "ready" once all are open, then each moves
// its cursor HZ times a second on its own circle (staggered). On SIGTERM it closes the sockets,
// prints "sent N" (updates sent) and exits. bench/browser.mjs starts it with `nice`, so the
// simulation (which also has to read every peer's broadcast: PEERS × PEERS × HZ frames a second)
// yields the two cores to the browser whose frames are measured; real peers are other machines.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const WebSocket = createRequire(join(here, 'package.json'))('ws');
const [wsUrl, peersArg, hzArg] = process.argv.slice(2);
const peers = Number(peersArg);
const hz = Number(hzArg);
if (!wsUrl || !(peers > 0) || !(hz > 0)) {
  console.error('usage: node bench/peers.mjs WS_URL PEERS HZ');
  process.exit(2);
}

let sent = 0;
const sockets = [];
for (let i = 0; i < peers; i++) {
  const ws = new WebSocket(`${wsUrl}/ws/presence?name=peer${i}`);
  await new Promise((ok, fail) => { ws.once('open', ok); ws.once('error', fail); });
  sockets.push(ws);
}
const started = Date.now();
const stops = sockets.map((ws, i) => {
  const tick = () => {
    const t = (Date.now() - started) / 1000;
    const a = t * 1.3 + (i * 2 * Math.PI) / peers;
    const cursor = { x: 0.5 + 0.4 * Math.cos(a), y: 0.5 + 0.4 * Math.sin(a * 1.1) };
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'presence:update', cursor }));
      sent += 1;
    }
  };
  let timer;
  const first = setTimeout(() => { timer = setInterval(tick, 1000 / hz); tick(); }, (i * 1000) / hz / peers);
  return () => { clearTimeout(first); clearInterval(timer); };
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  stops.forEach((stop) => stop());
  sockets.forEach((ws) => ws.close());
  process.stdout.write(`sent ${sent}\n`, () => process.exit(0));
});
