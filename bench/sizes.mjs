// Reads lines "label|variant|WASM|JS[|CSS]" on stdin; prints JSON with raw, gzip -9 and brotli q11
// sizes of each file and of the wasm + js pair (the app's code); a stylesheet, when given, is
// measured on its own (it loads in parallel and is not code). Used by scripts/bench.sh.
import { readFileSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const measure = (path) => {
  const bytes = readFileSync(path);
  return {
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
};
const rows = readFileSync(0, 'utf8').trim().split('\n').filter(Boolean).map((line) => {
  const [label, variant, wasm, js, css] = line.split('|');
  const w = measure(wasm);
  const j = measure(js);
  const total = { raw: w.raw + j.raw, gzip: w.gzip + j.gzip, brotli: w.brotli + j.brotli };
  return { label, variant, wasm: w, js: j, total, ...(css ? { css: measure(css) } : {}) };
});
process.stdout.write(`${JSON.stringify({ rows }, null, 1)}\n`);
