// Worker-thread plumbing shared by the Node load generators (bench/fanout/loadgen.mjs,
// bench/recovery/loadgen.mjs): the main thread runs named steps in workers running the same
// script, one at a time per worker, each step bounded by a deadline.
import { parentPort, Worker } from 'node:worker_threads';

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** Starts `n` workers running `script` with this process's arguments; `call(step, data)` runs a
 * step in one and resolves with its answer (rejects after `stepTimeoutMs`, the backstop of the
 * step's own deadlines). */
export function startWorkers(script, n, stepTimeoutMs) {
  return Array.from({ length: n }, () => {
    const worker = new Worker(script, { argv: process.argv.slice(2) });
    const pending = new Map();
    let nextId = 0;
    worker.on('message', ({ id, ok, error }) => {
      const p = pending.get(id);
      pending.delete(id);
      if (error) p?.reject(new Error(error));
      else p?.resolve(ok);
    });
    worker.on('error', (e) => { for (const p of pending.values()) p.reject(e); pending.clear(); });
    return {
      worker,
      call(step, data = {}) {
        const id = nextId++;
        return withTimeout(new Promise((resolve, reject) => {
          pending.set(id, { resolve, reject });
          worker.postMessage({ id, step, data });
        }), stepTimeoutMs, `worker step ${step}`);
      },
    };
  });
}

/** In a worker: answers the main thread's `call`s with `steps[step](data)`. */
export function serveSteps(steps) {
  parentPort.on('message', async ({ id, step, data }) => {
    try {
      parentPort.postMessage({ id, ok: await steps[step](data) });
    } catch (e) {
      parentPort.postMessage({ id, error: e.message });
    }
  });
}
