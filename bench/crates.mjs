// Splits a .wasm (built with its name section kept: wasm-opt -g) by crate. Usage:
//   node bench/crates.mjs NAMED.wasm SHIPPED.wasm APP.js OUT.json
// NAMED.wasm is SHIPPED.wasm's twin with names (the same wasm-opt passes plus -g).
// Every function body is charged to the crate its (demangled) name starts with; for
// `<T as Trait>::f` that is T's crate (a generic instantiated for our type is charged to the crate
// that defines the function, e.g. `alloc` for `Vec<OurType>::clone`: what removing that crate's
// code would save, not who asked for it). Data segments (string literals, tables, panic
// locations) are one row, the wasm-bindgen JS glue another. Raw bytes are exact; gzip per row is
// an estimate: each row's bytes gzipped alone, scaled so the rows add up to gzip(SHIPPED.wasm) +
// gzip(js). Custom sections (names, producers) are not counted: the shipped wasm has none.
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const [wasmPath, shippedPath, jsPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: node bench/crates.mjs NAMED.wasm SHIPPED.wasm APP.js OUT.json');
  process.exit(2);
}
const bytes = readFileSync(wasmPath);
const shipped = readFileSync(shippedPath);
const js = readFileSync(jsPath);

// --- a minimal reader of the wasm binary format (the sections this needs) ----------------------
let pos = 0;
const u8 = () => bytes[pos++];
const leb = () => {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = u8();
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return result;
  }
};
const name = () => {
  const len = leb();
  const s = bytes.toString('utf8', pos, pos + len);
  pos += len;
  return s;
};
const limits = () => {
  const flags = u8();
  leb();
  if (flags & 1) leb();
};

if (bytes.readUInt32LE(0) !== 0x6d736100) throw new Error(`${wasmPath}: not a wasm module`);
pos = 8;
let importedFuncs = 0;
const bodies = []; // [start, end) of each defined function's body
const dataSegments = [];
const names = new Map();
const headers = []; // type, import, function, table, memory, global, export, start, element sections
while (pos < bytes.length) {
  const id = u8();
  const size = leb();
  const end = pos + size;
  if (id !== 0 && id !== 10 && id !== 11) headers.push(bytes.subarray(pos, end));
  if (id === 2) {
    for (let n = leb(); n > 0; n -= 1) {
      name();
      name();
      const kind = u8();
      if (kind === 0) {
        leb();
        importedFuncs += 1;
      } else if (kind === 1) {
        u8();
        limits();
      } else if (kind === 2) limits();
      else if (kind === 3) pos += 2;
      else if (kind === 4) {
        u8();
        leb();
      }
    }
  } else if (id === 10) {
    for (let n = leb(); n > 0; n -= 1) {
      const len = leb();
      bodies.push([pos, pos + len]);
      pos += len;
    }
  } else if (id === 11) {
    dataSegments.push([pos, end]);
  } else if (id === 0) {
    const section = name();
    if (section === 'name') {
      while (pos < end) {
        const sub = u8();
        const subEnd = leb() + pos;
        if (sub === 1) {
          for (let n = leb(); n > 0; n -= 1) {
            const index = leb();
            names.set(index, name());
          }
        }
        pos = subEnd;
      }
    }
  }
  pos = end;
}
if (names.size === 0) throw new Error(`${wasmPath}: no name section (build with wasm-opt -g)`);

// --- which crate a function belongs to -----------------------------------------------------------
const PRIMITIVE = /^(?:[&*]|mut |const |dyn |\[|\(|[iuf](?:8|16|32|64|128|size)\b|bool\b|char\b|str\b)/;
// `crate::` or, in v0 demangling, `crate[disambiguator]::`.
const CRATE = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[[0-9a-f]+\])?::/;
/** The crate a demangled Rust path starts with, or null. */
function crateOf(symbol) {
  let s = symbol.trim();
  if (s.startsWith('<')) {
    // `<T as Trait>::f` → T (or, when T is a primitive, slice or reference, the trait).
    let depth = 0;
    let split = -1;
    for (let i = 1; i < s.length; i += 1) {
      const c = s[i];
      if (c === '<') depth += 1;
      else if (c === '>') {
        if (depth === 0) break;
        depth -= 1;
      } else if (depth === 0 && s.startsWith(' as ', i)) {
        split = i;
        break;
      }
    }
    let inner = split > 0 ? s.slice(1, split) : s.slice(1);
    while (PRIMITIVE.test(inner)) {
      const stripped = inner.replace(/^(?:&mut |&|\*mut |\*const |mut |const |dyn |\[|\()/, '');
      if (stripped === inner) break;
      inner = stripped;
    }
    const own = CRATE.exec(inner);
    if (own) return own[1];
    if (split > 0) return crateOf(s.slice(split + 4));
    return null;
  }
  const plain = CRATE.exec(s);
  if (!plain) return null;
  return plain[1] === '__rustc' ? 'std' : plain[1];
}
function rowOf(symbol) {
  if (symbol === undefined) return '(unnamed functions)';
  const crate = crateOf(symbol);
  if (crate) return crate;
  if (/^(?:__wbg|__wbindgen|__externref|wasm_bindgen|Closure\(|Ref\(|String\b|Externref|Option\(|Vector\()/.test(symbol) || / shim$| -> /.test(symbol)) return 'wasm_bindgen';
  if (/^(?:dlmalloc|__rust_|__rdl_|__rg_|rust_)/.test(symbol)) return 'std';
  if (/^(?:memcpy|memset|memmove|memcmp|__multi3|__udivti3|__divti3|__umodti3|__ashlti3|__lshrti3|compiler_builtins)/.test(symbol)) return 'compiler_builtins';
  return '(other: exports and shims)';
}

const rows = new Map();
const add = (row, chunk) => {
  const r = rows.get(row) ?? { row, functions: 0, raw: 0, chunks: [] };
  r.functions += 1;
  r.raw += chunk.length;
  r.chunks.push(chunk);
  rows.set(row, r);
};
bodies.forEach(([start, end], i) => add(rowOf(names.get(importedFuncs + i)), bytes.subarray(start, end)));
for (const [start, end] of dataSegments) {
  const r = rows.get('(data: strings, tables, panic locations)') ?? { row: '(data: strings, tables, panic locations)', functions: 0, raw: 0, chunks: [] };
  r.raw += end - start;
  r.chunks.push(bytes.subarray(start, end));
  rows.set(r.row, r);
}
const HEADERS = '(wasm sections: types, imports, exports, tables)';
rows.set(HEADERS, { row: HEADERS, functions: 0, raw: headers.reduce((a, h) => a + h.length, 0), chunks: headers });
add('(wasm-bindgen JS glue: the .js file)', js);
rows.get('(wasm-bindgen JS glue: the .js file)').functions = 0;

const gz = (buf) => gzipSync(buf, { level: 9 }).length;
const totalGzip = gz(shipped) + gz(js);
const alone = [...rows.values()].map((r) => ({ r, g: gz(Buffer.concat(r.chunks)) }));
const scale = totalGzip / alone.reduce((sum, { g }) => sum + g, 0);
const out = alone
  .map(({ r, g }) => ({ row: r.row, functions: r.functions, raw: r.raw, gzipAlone: g, gzipShare: Math.round(g * scale) }))
  .sort((a, b) => b.gzipShare - a.gzipShare);
const summary = {
  wasm: wasmPath,
  namedBytes: bytes.length,
  shippedBytes: shipped.length,
  countedBytes: [...rows.values()].reduce((a, r) => a + r.raw, 0) - js.length,
  jsBytes: js.length,
  totalGzip,
  scale,
  rows: out,
};
writeFileSync(outPath, `${JSON.stringify(summary, null, 1)}\n`);
for (const r of out) console.error(`${String(r.gzipShare).padStart(7)} B gzip  ${String(r.raw).padStart(8)} B raw  ${r.row}`);
console.error(`total gzip (wasm + js) ${totalGzip} B; rows gzipped alone scaled by ${scale.toFixed(3)}`);
