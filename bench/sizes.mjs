// Reads lines "label|variant|WASM|JS" on stdin; prints JSON with raw, gzip -9 and brotli q11
// sizes of each file and of the pair (what a visitor downloads). Used by scripts/bench.sh.
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
  const [label, variant, wasm, js] = line.split('|');
  const w = measure(wasm);
  const j = measure(js);
  return { label, variant, wasm: w, js: j, total: { raw: w.raw + j.raw, gzip: w.gzip + j.gzip, brotli: w.brotli + j.brotli } };
});
process.stdout.write(`${JSON.stringify({ rows }, null, 1)}\n`);
