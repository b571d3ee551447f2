"""Turns target/bench/results/*.json into the benchmark table: printed, and written to
docs/benchmarks.md with the machine description, the targets and bench/notes.md.

    python3 bench/report.py RESULTS_DIR OUT.md PART...

Parts not run in this invocation are taken from earlier results when present and marked with
the time they were measured. A part with no results file at all (another machine, a cleaned
target/) keeps its section and its target rows from the OUT.md being replaced, so running only
some parts never deletes the others' figures.
"""

import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys

results, out, ran = sys.argv[1], sys.argv[2], set(sys.argv[3:])
here = os.path.dirname(os.path.abspath(__file__))


def load(name):
    path = os.path.join(results, name)
    if not os.path.exists(path):
        return None, None
    when = datetime.datetime.fromtimestamp(os.path.getmtime(path)).strftime("%Y-%m-%d %H:%M")
    with open(path) as f:
        if name.endswith(".jsonl"):
            return [json.loads(line) for line in f if line.strip()], when
        return json.load(f), when


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # noqa: BLE001 - a missing tool just leaves the field empty
        return ""


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            cpu = m.group(1) if m else ""
    except OSError:
        pass
    ram = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
            ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    return [
        ("CPU", cpu or platform.processor() or "unknown"),
        ("cores available", str(os.cpu_count())),
        ("RAM", ram),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("rustc", sh("rustc -V")),
        ("Chromium", sh("/usr/bin/chromium --version")),
        ("Node", sh("node --version")),
        ("date", datetime.datetime.now().strftime("%Y-%m-%d %H:%M %Z").strip()),
    ]


def spread(values, fmt="{:.0f}"):
    """min / median / max."""
    if not values:
        return "—"
    return "{} / {} / {}".format(fmt.format(min(values)), fmt.format(statistics.median(values)), fmt.format(max(values)))


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def stamp(part, when):
    return "" if part in ran else f" *(not re-run this time; measured {when})*"


# The document being replaced: its numbered sections ("## N. …" up to the next "## ") and its
# target rows, for parts whose results file is gone (see keep()).
PART_NUMBER = {"ingest": "1.", "bundle": "2.", "cursors": "3.", "fanout": "4.", "setup": "5.", "recovery": "6.",
               "soak": "7.", "headtohead": "8."}
PART_TARGETS = {"ingest": ("ingest",), "bundle": ("default app",), "cursors": ("cursors",), "fanout": ("fan-out",),
                "setup": (), "recovery": ("recovery",), "soak": ("soak",), "headtohead": ()}
previous_sections, previous_targets, previous_date = {}, [], ""
if os.path.exists(out):
    with open(out) as f:
        text = f.read()
    # The run that wrote it: its machine table's date row, where a kept section was measured.
    found = re.search(r"^\| date \| ([^|]+?) \|$", text, flags=re.M)
    previous_date = found.group(1) if found else ""
    chunks = re.split(r"^(?=## )", text, flags=re.M)
    for chunk in chunks:
        heading, _, body = chunk.partition("\n")
        number = re.match(r"## (\d+\.) ", heading)
        if number:
            previous_sections[number.group(1)] = (heading[3:], body.strip())
        elif heading.strip() == "## Targets":
            for line in body.splitlines():
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if line.startswith("|") and len(cells) == 3 and cells[0] not in ("target", "---") and set(cells[0]) != {"-"}:
                    previous_targets.append(tuple(cells))


def keep(part):
    """No results for PART: keep its section and target rows from the document being replaced."""
    old = previous_sections.get(PART_NUMBER[part])
    if not old:
        return
    heading, body = old
    if "*(" not in heading:
        source = f"the docs/benchmarks.md of {previous_date}" if previous_date else "the previous docs/benchmarks.md"
        heading += f" *(not re-run this time; kept from {source}: no results file here)*"
    sections.append(("## " + heading, body))
    targets.extend(t for t in previous_targets if t[0].startswith(PART_TARGETS[part]) and PART_TARGETS[part])


sections = []
targets = []  # (target, figure, met: True/False/None, or the mark text of a kept row)

# -- 1. ingest ------------------------------------------------------------------------------
ingest, when = load("ingest.json")
if ingest:
    runs = ingest["runs"]
    sizes = sorted({r["n"] for r in runs})
    rows = []
    for n in sizes:
        by = {m: [r for r in runs if r["n"] == n and r["mode"] == m] for m in ("raw", "hook", "seed")}
        med = {}
        for mode, label in (("raw", "(c) raw JS WebSocket + JSON.parse"), ("hook", "(a) our use_typed_websocket"),
                            ("seed", "(b) seed pattern in Yew")):
            rs = by[mode]
            done = [r for r in rs if r["finished"]]
            if done and len(done) == len(rs):
                ms = [r["ms"] for r in done]
                med[mode] = statistics.median(ms)
                rows.append([f"{n:,}", label, len(rs), spread(ms), spread([r["renders"] for r in done]),
                             spread([r["frames"] for r in done]), max(r["lost"] for r in done), ""])
            elif rs:
                r = next(r for r in rs if not r["finished"])
                med[mode] = None
                rows.append([f"{n:,}", label, len(rs), f"unfinished: > {r['budgetS'] * 1000:.0f}" + (f" ({r['received']:,} of {n:,} rendered)" if r.get("received") is not None else " (page too busy to answer)"),
                             "—", "—", "—", "not done in budget"])
        for row in rows:
            if row[0] != f"{n:,}" or row[7]:
                continue
            mode = "raw" if "raw" in row[1] else "hook" if "our" in row[1] else "seed"
            if mode != "raw" and med.get(mode) and med.get("raw"):
                row[7] = f"{med[mode] / med['raw']:.2f}× raw"
            if mode == "hook" and med.get("hook"):
                seed = med.get("seed")
                if seed:
                    row[7] += f"; {seed / med['hook']:.0f}× faster than seed"
                elif "seed" in med:
                    budget = next(r for r in by["seed"] if not r["finished"])["budgetS"] * 1000
                    row[7] += f"; > {budget / med['hook']:.0f}× faster than seed"
        size = f"{n // 1000}k"
        if n in (10000, 100000) and med.get("hook") and med.get("raw"):
            ratio = med["hook"] / med["raw"]
            targets.append((f"ingest {size} ≤ 1.1× raw JS", f"{ratio:.2f}×", ratio <= 1.1))
            hooks = [r for r in by["hook"] if r["finished"]]
            lost = max(r["lost"] for r in hooks)
            over = [r for r in hooks if r["renders"] > r["frames"]]
            targets.append((f"ingest {size}: 0 lost", str(lost), lost == 0))
            targets.append((f"ingest {size}: renders ≤ frames elapsed",
                            f"{len(hooks) - len(over)} of {len(hooks)} runs", not over))
        if n == 10000 and med.get("hook") and med.get("raw"):
            seed = med.get("seed")
            if seed:
                targets.append(("ingest 10k ≥ 20× faster than seed", f"{seed / med['hook']:.0f}×", seed / med["hook"] >= 20))
            elif "seed" in med:
                budget = next(r for r in by["seed"] if not r["finished"])["budgetS"] * 1000
                targets.append(("ingest 10k ≥ 20× faster than seed", f"> {budget / med['hook']:.0f}× (seed unfinished)",
                                budget / med["hook"] >= 20))
    sections.append((
        "## 1. Ingest: a burst from the server to one page" + stamp("ingest", when),
        "Time from firing the burst (the page's `POST /api/test/inject`; the dev server pushes every frame to the "
        "page's `/ws/chat` socket) until the page has received all of them and the DOM shows the final state. "
        "Same page, same server, fresh browser context per run; (a) and (c) alternate run by run. (a) and (c) keep/render the newest 500 "
        "(the hook's default history) once per animation frame; (b) copies the whole list per message and "
        "re-renders everything per message, as the seed does. min / median / max over the runs.\n\n"
        + table(["messages", "variant", "runs", "time ms", "renders", "frames elapsed", "lost", "ratio (medians)"], rows)))
else:
    keep("ingest")

# -- 2. bundle ------------------------------------------------------------------------------
def page_breakdown(all_rows, by_page):
    """Where the default app's bytes go: the shell alone, and the shell with each page alone."""
    if not by_page:
        return ""
    default = next((r for r in all_rows if r["label"].startswith("default") and "without" not in r["variant"]), None)
    shell = next((r for r in by_page if r["label"] == "pages: none"), None)
    rows = []
    for r in by_page:
        name = r["label"][len("pages: "):]
        kb = r["total"]["gzip"] / 1000
        extra = f"+{(r['total']['gzip'] - shell['total']['gzip']) / 1000:.1f} KB" if shell and r is not shell else "—"
        rows.append(["app shell only (no page)" if name == "none" else f"shell + {name} only",
                     f"{kb:.1f} KB", extra, f"{r['total']['brotli'] / 1000:.1f} KB"])
    if default and shell:
        singles = sum(r["total"]["gzip"] - shell["total"]["gzip"] for r in by_page if r is not shell)
        together = default["total"]["gzip"] - shell["total"]["gzip"]
        rows.append(["default app (all four pages)", f"{default['total']['gzip'] / 1000:.1f} KB",
                     f"+{together / 1000:.1f} KB (the four alone add up to +{singles / 1000:.1f}: "
                     "the pages share hooks and serde code)", f"{default['total']['brotli'] / 1000:.1f} KB"])
    return ("\n\nBy page (each page is a cargo feature; `--no-default-features --features PAGE`), with wasm-opt -Oz:\n\n"
            + table(["build", "gzip (wasm + js)", "over the shell", "brotli"], rows))


# What taking each crate's share out of the default app would cost (bench/crates.mjs gives the
# bytes). Keyed by the row bench/crates.mjs prints; a row without an entry says so.
CUT_COST = {
    "yew": "The framework: virtual DOM, diff, scheduler, hooks, and the components' `view`s it instantiates. "
           "Not cuttable in a Yew template; a Yew hello world alone is 55.9 KB (table above).",
    "realtime_hooks": "The connection engine every page shares: reconnect with backoff, the send queue, heartbeat, "
                      "typed errors, resume and acks (issue #16: 6.6 KB on pages without a chat), the token source "
                      "(issue #15). Each piece is a feature some page relies on; cutting one loses it in every app.",
    "realtime_pages": "The four pages' views and state. Each page is a cargo feature: an app without a page saves "
                      "its share (the by-page table: +32 to +55 KB alone, less together as they share code).",
    "yew_realtime_app": "The shell: router, header, the sign-in screen and session (issue #15: about 10 KB). Sign-in "
                        "as a cargo feature would save that in apps generated with `auth_login_url` empty; the "
                        "default app signs in, so not here.",
    "core": "Rust's core library as used: `fmt`, slices, `str` search, panics. `panic_immediate_abort` would drop "
            "panic messages and locations (a few KB) but needs `-Zbuild-std` on nightly, which the pinned "
            "stable toolchain rules out.",
    "alloc": "`Vec`/`String`/`Rc`/`VecDeque` code instantiated for the app's types (charged to `alloc`). Falls "
             "only with fewer distinct element types.",
    "std": "Allocator entry points, panic machinery, thread-locals. Fixed.",
    "dlmalloc": "Rust's default wasm allocator. A smaller one (`talc`, `lol_alloc`) would save 2–5 KB (estimate), "
                "but the simple ones leak or slow down under per-frame churn (a 100k burst allocates per frame); "
                "wee_alloc is unmaintained. Not taken.",
    "serde_json": "Reading and writing every wire frame, the session in `sessionStorage`. A hand-written reader "
                  "for our frames would lose serde's typed errors for malformed frames; about 10 KB for a "
                  "parser to maintain (estimate). Not taken.",
    "serde": "serde's derive support for the message types (tagged-enum buffering lives here). Falls with fewer "
             "`Deserialize` types.",
    "serde_core": "serde's traits and primitive impls. Fixed with serde_json.",
    "wasm_bindgen": "wasm-bindgen's side of the JS glue: closure shims, externref table. Fixed per closure "
                    "signature.",
    "js_sys": "Bindings to JS builtins (Date, Array, Promise). Fixed.",
    "web_sys": "Bindings to the web APIs the app calls. Fixed per API used.",
    "wasm_bindgen_futures": "Async glue (fetch, URL sources, timers). Fixed; the design names it.",
    "gloo_net": "The sign-in's and publish form's HTTP calls (issue #15 measured about 7 KB with its "
                "bindings). The design names gloo-net for the pages' HTTP calls; a hand-written `fetch` would "
                "keep most of the bindings (estimate: saves half).",
    "hashbrown": "Hash maps: the send queue's keys and resume's streams here, Yew's internals. Sorted `Vec`s saved "
                 "5–9 KB each time they replaced a `BTreeMap` (session 2, 3); these maps are keyed by "
                 "strings on paths that must stay O(1).",
    "indexmap": "Yew's internals (keyed children). Fixed with Yew.",
    "implicit_clone": "Yew's `IString`/`IArray` props. Fixed with Yew.",
    "console_error_panic_hook": "Prints a readable panic in the console. Stays: a panic must never be silent.",
    "(data: strings, tables, panic locations)": "String literals (event names, error texts, the scoped "
        "styles' CSS: 7.7 KB raw), panic locations, number tables. Shorter texts would save bytes but lose "
        "the readable errors the UI shows.",
    "(wasm-bindgen JS glue: the .js file)": "One JS shim per imported web API and closure signature. Falls "
                                            "with fewer distinct APIs.",
    "zmij": "Float formatting for JSON numbers (cursor positions on the wire). Sending integers (thousandths) "
            "instead would drop it: 1.5 KB, at the cost of a wire-format change every client and server shares.",
    "(unnamed functions)": "Functions wasm-opt left without a name (outlined or merged code from the rows above). "
                           "Falls with them.",
    "(other: exports and shims)": "The wasm's exports and wasm-bindgen's generated shims. Fixed per export.",
    "(wasm sections: types, imports, exports, tables)": "Function signatures, import names, the indirect-call "
                                                        "table. Falls with the code above.",
}


def cut_cost(row):
    """What cutting a by-crate row would cost, or None when nobody assessed it."""
    if row["row"] in CUT_COST:
        return CUT_COST[row["row"]]
    if row["gzipShare"] < 1000:
        return "Under 1 KB gzip: no cut here would move the total."
    return None


def crate_breakdown(crates, gap):
    """The default app's bytes by crate, and what cutting each would cost."""
    if not crates:
        return ""
    rows = []
    for r in crates["rows"]:
        rows.append([f"`{r['row']}`" if not r["row"].startswith("(") else r["row"], f"{r['functions']:,}" if r["functions"] else "—",
                     f"{r['raw']:,}", f"{r['gzipShare'] / 1000:.1f} KB",
                     cut_cost(r) or "**not assessed**"])
    return ("\n\nBy crate (the default app, the same wasm-opt -Oz with the name section kept: `bench/crates.mjs`). Each "
            "function is charged to the crate its name starts with (for `<T as Trait>::f`, T's crate: a `Vec<OurType>` "
            "method counts as `alloc`); raw bytes are exact, the gzip column is an estimate (each row gzipped alone, "
            f"scaled by {crates['scale']:.3f} so the rows add up to the app's {crates['totalGzip'] / 1000:.1f} KB). "
            + (f"The gap to 130 KB is {gap / 1000:.1f} KB. " if gap > 0 else "")
            + "The last column says what taking the row out (or most of it) would cost.\n\n"
            + table(["crate", "functions", "raw bytes", "gzip (est.)", "what cutting it would cost"], rows))


bundle, when = load("bundle.json")
crates, _ = load("crates.json")
if bundle:
    rows = []
    gap = 0
    by_page = [r for r in bundle["rows"] if r["label"].startswith("pages: ")]
    for r in bundle["rows"]:
        if r in by_page:
            continue
        css = r.get("css")
        rows.append([r["label"], r["variant"], f"{r['wasm']['raw']:,}", f"{r['js']['raw']:,}",
                     f"{r['total']['gzip'] / 1000:.1f} KB", f"{r['total']['brotli'] / 1000:.1f} KB",
                     f"{css['raw']:,} B, {css['gzip'] / 1000:.1f} KB gzip" if css else "—"])
        if r["label"].startswith("default") and "with" in r["variant"] and "without" not in r["variant"]:
            kb = r["total"]["gzip"] / 1000
            figure = f"{kb:.1f} KB"
            if kb > 130:
                # State the gap, and which one-page builds (cargo features) are within the target.
                within = [f"{p['label'][len('pages: '):]} {p['total']['gzip'] / 1000:.1f} KB" for p in by_page
                          if p["label"] != "pages: none" and p["total"]["gzip"] / 1000 <= 130]
                figure += f": {kb - 130:.1f} KB over (all four pages)"
                if within:
                    figure += "; one-page builds within it: " + ", ".join(within)
            targets.append(("default app ≤ 130 KB gzip (wasm + js)", figure, kb <= 130))
            gap = r["total"]["gzip"] - 130_000
            if gap > 0 and crates:
                assessed = sum(1 for c in crates["rows"] if cut_cost(c))
                targets.append(("default app over 130 KB: the gap itemised by crate, with what each cut would cost",
                                f"{len(crates['rows'])} rows, {assessed} with the cost of cutting them (section 2)",
                                assessed == len(crates["rows"])))
    sections.append((
        "## 2. Bundle size" + stamp("bundle", when),
        "Release build with the template's profile (`opt-level = \"z\"`, LTO, one codegen unit); "
        "`.wasm` + wasm-bindgen `.js`; gzip -9 and brotli q11 (KB = 1,000 bytes). \"with wasm-opt\" is trunk's "
        "output (`-Oz` from npm binaryen 132, as index.html asks); \"without\" is wasm-bindgen on cargo's own `.wasm`.\n\n"
        + table(["app", "variant", "wasm bytes", "js bytes", "gzip (wasm + js)", "brotli (wasm + js)",
                 "stylesheet (own file)"], rows)
        + page_breakdown(bundle["rows"], by_page)
        + crate_breakdown(crates, gap)))
else:
    keep("bundle")

# -- 3. cursors -----------------------------------------------------------------------------
cur, when = load("cursors.json")
if cur:
    runs = cur["runs"]
    rows = [[len(runs), spread([r["frames"] for r in runs]), spread([r["p50"] for r in runs], "{:.1f}"),
             spread([r["p95"] for r in runs], "{:.1f}"), spread([r["p99"] for r in runs], "{:.1f}"),
             spread([r["max"] for r in runs], "{:.1f}"), spread([r["dropped"] for r in runs]),
             spread([r["busyMsPerFrame"] for r in runs if "busyMsPerFrame" in r], "{:.1f}"),
             spread([r["workP50"] for r in runs if r.get("workP50") is not None], "{:.1f}"),
             spread([r["workP95"] for r in runs if r.get("workP95") is not None], "{:.1f}")]]
    p95 = statistics.median(r["p95"] for r in runs)
    work = [r["workP95"] for r in runs if r.get("workP95") is not None]
    if work:
        # A frame interval cannot be under one vsync (16.7 ms at 60 Hz); the work done for a
        # frame can, and is what "frame time ≤ 16 ms" asks of the page.
        w95 = statistics.median(work)
        targets.append(("cursors p95 frame ≤ 16 ms",
                        f"work per frame p95 {w95:.1f} ms; interval p95 {p95:.1f} ms = one 60 Hz vsync "
                        "(medians of runs)", w95 <= 16.0))
    else:
        targets.append(("cursors p95 frame ≤ 16 ms", f"{p95:.1f} ms (median of runs)", p95 <= 16.0 + 0.75))
    sections.append((
        "## 3. Frame time: the cursors page with simulated peers" + stamp("cursors", when),
        f"The default generated app's `/cursors` page, {cur['peers']} peers (Node `ws` clients on `/ws/presence`, in a "
        "process of their own at `nice 19`: `bench/peers.mjs`) each "
        f"moving at {cur['hz']} Hz, {cur['seconds']} s per run (with more than 20 cursors the page turns their glide "
        "off: `GLIDE_LIMIT` in pages/src/cursors.rs), frame times from `requestAnimationFrame` deltas in "
        "headless Chromium (60 Hz, so 16.7 ms is one frame; a delta of k frames counts k − 1 dropped). "
        "An interval cannot be shorter than one vsync, so the last column adds the work behind each frame: "
        "main-thread busy time (CDP `TaskDuration`) divided by frames, a mean; and, from a Chromium trace of "
        "a second window of the same length (tracing adds main-thread work, so it never overlaps the first), "
        "the main thread's top-level task time between consecutive `BeginMainThreadFrame`s: its p50 and p95 "
        "per run. "
        "min / median / max over the runs.\n\n"
        + table(["runs", "frames", "p50 ms", "p95 ms", "p99 ms", "max ms", "dropped frames",
                 "main thread ms/frame (mean)", "work/frame p50 ms (traced)", "work/frame p95 ms (traced)"], rows)))
else:
    keep("cursors")

# -- 4. fan-out -----------------------------------------------------------------------------
REDIS = "dev server + Redis broker (2 instances)"
OURS, NODE, SIO = "our dev server", "Node ws", "socket.io 4"
GENERATORS = {"rust": "Rust (fanout_bench)", "node": "Node (loadgen.mjs)"}


def generator_key(r):
    """`rust`, or `node` plus its worker threads (`node1`, `node2`): each is its own yardstick."""
    generator = r.get("generator", "rust")
    return generator if generator != "node" else f"node{r.get('workers', 1)}"


def generator_name(key):
    if key == "rust":
        return GENERATORS["rust"]
    threads = int(key[4:])
    return f"{GENERATORS['node']}, {threads} thread{'s' if threads > 1 else ''}"


fan, when = load("fanout.jsonl")
if fan:
    groups = {}
    for r in fan:
        server, clients, mode = r["label"].split("|")
        key = (generator_key(r), server, int(clients))
        groups.setdefault(key, {}).setdefault(mode, []).append(r)
    generators = sorted({k[0] for k in groups}, key=lambda g: (g != "rust", len(g), g))
    servers = list(dict.fromkeys(k[1] for k in groups))
    sizes = sorted({k[2] for k in groups})
    # The targets' Node yardstick: the thread count bursts ran with (one, unless told otherwise).
    # (By the label's mode: a failed run's row has no rate.)
    burst_node = sorted({generator_key(r) for r in fan
                         if r.get("generator") == "node" and r["label"].split("|")[2] == "burst"})
    paced_node = sorted({generator_key(r) for r in fan
                         if r.get("generator") == "node" and r["label"].split("|")[2] == "paced"}, key=lambda g: int(g[4:]))
    count = lambda keys: " and ".join(k[4:] for k in keys) or "—"  # noqa: E731
    target_generators = ["rust"] + burst_node[:1]
    rows = []
    burst_med, p99_med = {}, {}
    for clients in sizes:
        for generator in generators:
            for server in servers:
                g = groups.get((generator, server, clients))
                if not g:
                    continue
                burst = [r for r in g.get("burst", []) if "error" not in r]
                paced = [r for r in g.get("paced", []) if "error" not in r]
                errors = sum(1 for r in g.get("burst", []) + g.get("paced", []) if "error" in r)
                rate = [r["msgs_per_s"] for r in burst]
                burst_med[(generator, server, clients)] = statistics.median(rate) if rate else None
                p99 = [r["p99_ms"] for r in paced]
                p99_med[(generator, server, clients)] = statistics.median(p99) if p99 else None
                lost = sum(r["expected"] - r["delivered"] for r in burst + paced)
                offered = f"{paced[0]['rate']} msg/s × {clients}" if paced else "—"
                first = [r["first_ms"] for r in paced if r.get("first_ms") is not None]
                drain = [r["drain_ms"] for r in paced if r.get("drain_ms") is not None]
                # The Node generator reports each worker thread's busy; its busiest one counts.
                busy = [max(b) if isinstance(b, list) else b
                        for b in (r["loadgen_busy"] for r in burst + paced if "loadgen_busy" in r)]
                # Who waited for a core (Linux schedstat, first send to last receipt): the server's
                # CPU per delivery, and the generator's wait per paced message.
                cpu = lambda runs: [r["server_cpu_ms"] * 1000 / r["delivered"] for r in runs  # noqa: E731
                                    if r.get("server_cpu_ms") is not None and r["delivered"]]
                cpu_burst, cpu_paced = cpu(burst), cpu(paced)
                wait = [r["loadgen_wait_ms"] / r["messages"] for r in paced if r.get("loadgen_wait_ms") is not None]
                rows.append([f"{clients:,}", generator_name(generator), server, spread(rate) if rate else "—", offered,
                             spread([r["p50_ms"] for r in paced], "{:.1f}"), spread(p99, "{:.1f}"),
                             spread(first, "{:.2f}") if first else "—", spread(drain, "{:.1f}") if drain else "—",
                             f"{lost:,}" + (f" ({errors} failed runs)" if errors else ""),
                             spread(busy, "{:.2f}") if busy else "—",
                             " / ".join(f"{statistics.median(v):.1f}" if v else "—" for v in (cpu_burst, cpu_paced)),
                             spread(wait, "{:.2f}") if wait else "—"])
    for clients in sizes:
        for generator in generators:
            gen = generator_name(generator)
            a = burst_med.get((generator, OURS, clients))
            for other in (NODE, SIO):
                b = burst_med.get((generator, other, clients))
                if a and b:
                    rows.append([f"{clients:,}", gen, f"**ratio** ours / {other}", f"**{a / b:.2f}×**"] + [""] * 9)
            r = burst_med.get((generator, REDIS, clients))
            if a and r:
                rows.append([f"{clients:,}", gen, "**ratio** Redis (2 instances) / in-process", f"**{r / a:.2f}×**"] + [""] * 9)
    # The targets at 1,000 clients, with each generator (the Node one as bursts ran it).
    for generator in target_generators:
        gen = generator_name(generator).split(" ")[0]
        a = burst_med.get((generator, OURS, 1000))
        for other, want in ((NODE, 2), (SIO, 3)):
            b = burst_med.get((generator, other, 1000))
            if a and b:
                targets.append((f"fan-out 1,000, {gen} generator: saturated ≥ {want}× {other}", f"{a / b:.2f}×", a / b >= want))
        ours_p99 = p99_med.get((generator, OURS, 1000))
        for other in (NODE, SIO):
            theirs = p99_med.get((generator, other, 1000))
            if ours_p99 and theirs:
                targets.append((f"fan-out 1,000, {gen} generator: paced p99 ≤ {other}'s",
                                f"{ours_p99:.1f} ms vs {theirs:.1f} ms", ours_p99 <= theirs))
    # The same paced runs with the Node generator on other thread counts: not targets, but the
    # reader should see how much of the paced p99 is the stopwatch sharing the cores.
    other_threads = []
    for generator in generators:
        if generator in target_generators:
            continue
        ours_p99, theirs = p99_med.get((generator, OURS, 1000)), p99_med.get((generator, NODE, 1000))
        if ours_p99 and theirs:
            other_threads.append(f"{generator_name(generator)}: ours {ours_p99:.1f} ms vs Node ws {theirs:.1f} ms")
    threads_line = ""
    if other_threads:
        threads_line = ("\n\nPaced p99 at 1,000 clients with the Node generator on other thread counts (medians; not a target "
                        "row, which keeps the thread count the bursts ran with): " + "; ".join(other_threads) + ". "
                        "On 2 shared cores the figure depends on how the server's and the generator's threads share "
                        "them: *drain* shows when the generator, not the server, set the pace of a broadcast.")
    sections.append((
        "## 4. Server fan-out: one sender, everyone in one room" + stamp("fanout", when),
        "Two load generators: `server/examples/fanout_bench.rs` "
        "(Rust, tokio-tungstenite) and `bench/fanout/loadgen.mjs` (Node, npm `ws` and `socket.io-client`, the "
        f"clients spread over the worker threads its row names: bursts in {count(burst_node)}, paced runs in "
        f"{count(paced_node)}, a pass each; "
        "*generator busy* is the event-loop utilisation of its busiest "
        "worker, near 1 when it set the pace; *first receipt* is the median over messages of a message's first "
        "delivery, *drain* the median over messages of its last receipt − its first, both Node generator only; "
        "from Linux's per-thread `schedstat` between the first send and the last receipt: the server's *CPU* "
        "per delivery (medians; its threads summed) and the time the *generator waited for a core* "
        "(runnable, not running) per paced message, latency no server caused but every server's co-located "
        "threads can cause). "
        "Each connects N "
        "clients, joins one room, waits until every member has seen every join, then one member sends; every "
        "member (the sender included) must receive every message. The three single-instance servers take turns "
        "run by run (ours, Node ws, socket.io 4, ours, …), each run on a server started for it, so drift on the "
        "shared machine falls on every row alike. *Throughput*: a burst sent at once, "
        "deliveries/s until the last member has the last message. *Latency*: a paced run offering 50,000 "
        "deliveries/s, send → receipt per delivery. Same machine (load generator and server share the 2 cores). "
        "Servers: ours on `/ws/typed-chat` with its limits raised (`--max-connections 5000 --rate-per-sec 100000 "
        "--rate-burst 100000 --outbound-queue 65536`; every message also gets its `seq` and a place in the room's "
        "history); `bench/node-ws/server.mjs` (npm `ws`, the same protocol subset); `bench/fanout/socketio-server.mjs` "
        "(socket.io 4 with its default settings, `io.to(room).emit`, clients on its WebSocket transport). "
        "The Redis row runs two instances of our server with the same flags plus `--redis-url` to one local "
        "`redis-server` (no persistence): the sender is on instance A, receivers alternate between A and B, "
        "so every message is delivered locally on A and crosses Redis pub/sub once to reach B's half. "
        "min / median / max over the runs.\n\n"
        + table(["clients", "generator", "server", "burst deliveries/s", "paced offer", "paced p50 ms", "paced p99 ms",
                 "paced first receipt ms", "paced drain ms", "lost", "generator busy",
                 "server CPU µs/delivery (burst / paced)", "paced: generator waited for a core, ms/message"], rows)
        + threads_line))
else:
    keep("fanout")

# -- 5. setup -------------------------------------------------------------------------------
setup, when = load("setup.json")
if setup:
    fmt = lambda s: "—" if s is None else f"{s:.0f} s ({s / 60:.1f} min)"  # noqa: E731
    sections.append((
        "## 5. Setup: wall time of `scripts/test.sh`" + stamp("setup", when),
        table(["cold", "warm", "where the figures come from"], [[fmt(setup["cold_s"]), fmt(setup["warm_s"]), setup["source"]]])))
else:
    keep("setup")

# -- 6. recovery ----------------------------------------------------------------------------
def median_range(values, fmt="{:,.0f}"):
    """median [min–max]."""
    if not values:
        return "—"
    return "{} [{}–{}]".format(fmt.format(statistics.median(values)), fmt.format(min(values)), fmt.format(max(values)))


rec, when = load("recovery.jsonl")
if rec:
    groups = {}
    for r in rec:
        groups.setdefault((r["target"], r["label"]), []).append(r)
    rows, med = [], {}
    for (target, label), runs in groups.items():
        done = [r for r in runs if "error" not in r and r.get("time_ms") is not None]
        failed = [r for r in runs if r not in done]
        rates = [r["deliveries_per_s"] for r in done]
        med[target] = statistics.median(rates) if rates else None
        recovered = [r.get("recovered_clients", 0) for r in runs]
        counted = [r for r in runs if r.get("lost") is not None]
        total = lambda key: f"{sum(r[key] for r in counted):,}" if counted else "—"  # noqa: E731
        rows.append([label, f"{runs[0]['clients']:,}", runs[0]["messages"], len(runs),
                     median_range([r["time_ms"] for r in done]) + (f" ({len(failed)} failed: {failed[0]['error']})" if failed else ""),
                     median_range(rates),
                     (f"{min(recovered):,}" if min(recovered) == max(recovered) else f"{min(recovered):,}–{max(recovered):,}")
                     + f" of {runs[0]['clients']:,}",
                     total("lost"), total("duplicates"), total("out_of_order"),
                     median_range([r["rejoined_ms"] for r in done if r.get("rejoined_ms") is not None]),
                     median_range([r["client_ms_p50"] for r in done]),
                     median_range([r["presence_frames"] for r in done if r.get("presence_frames") is not None]),
                     median_range([max(r["loadgen_busy"]) for r in done if r.get("loadgen_busy")], "{:.2f}")])
    # Like for like: /ws/chat is one stream without members or presence, as a socket.io room is.
    chat, room, sio = med.get("ours-chat"), med.get("ours"), med.get("socketio")
    ratio_line = ""
    if chat and sio:
        ratio = chat / sio
        ratio_line = f"\n\n**Ratio ours (/ws/chat) / socket.io, deliveries/s (medians): {ratio:.2f}×** (target ≥ 2×)."
        targets.append((f"recovery {rec[0]['clients']:,} × {rec[0]['messages']}: ≥ 2× socket.io deliveries/s",
                        f"{ratio:.2f}×", ratio >= 2))
    if room and sio:
        ratio_line += (f" A typed-chat room, which also re-announces every member, does "
                       f"{room / sio:.2f}× socket.io.")
    mine = [r for (target, _), runs in groups.items() if target in ("ours", "ours-chat") for r in runs]
    if mine:
        bad = sum(r.get("lost") or 0 for r in mine) + sum(r.get("duplicates") or 0 for r in mine) \
            + sum(r.get("out_of_order") or 0 for r in mine)
        failed = [r for r in mine if "error" in r or r.get("recovered_clients") != r["clients"]]
        targets.append(("recovery: every client recovers, 0 lost / duplicated / out of order",
                        f"{len(mine) - len(failed)} of {len(mine)} runs complete; {bad} lost + duplicated + out of order",
                        bad == 0 and not failed))
    sections.append((
        f"## 6. Recovery: {rec[0]['clients']:,} clients dropped, {rec[0]['messages']} messages while they are down"
        + stamp("recovery", when),
        "One load generator (`bench/recovery/loadgen.mjs`, Node; the clients in one worker thread, "
        "`BENCH_RECOVERY_WORKERS`) with two protocol adapters: our dev "
        "server — `/ws/chat` (reconnect with `?since=EPOCH:SEQ`, replay, `replayed`: one stream, no members, "
        "the like-for-like row) and `/ws/typed-chat` (rejoin with `since: EPOCH:SEQ`; each rejoin also gets the "
        "member list and is announced to every member) — and socket.io 4 with "
        "`connectionStateRecovery` (`bench/recovery/socketio-server.mjs`: `maxDisconnectionDuration` 2 min, "
        "`skipMiddlewares`, `io.to(room).emit`; WebSocket transport only on both sides). Per run: N clients join "
        "one room and each gets one message (its position); a server-side drop (`POST /api/test/drop-sockets` on "
        "both servers: TCP closed without a close frame; socket.io reports \"transport close\") takes them all down; "
        "while they are down a separate sender (connected after the drop, not measured) sends M messages and has "
        "all M acked; then every client reconnects through its library's reconnect path after socket.io's first "
        "reconnect delay (100 ms ± 50 %). *Time to full recovery*: from the first reconnect attempt until every "
        "client has all M; deliveries/s = N × M / that time. *Recovered*: has all M and the server said so "
        "(`replayed {recovered: true}` / `socket.recovered`). Lost, duplicates (a seq received twice) and out of "
        "order (a seq other than the next one) are totals over the runs. *All back in the room*: from the first "
        "attempt until the last client is in again: ours, its `joined`, which comes before its replay; socket.io, "
        "its `connect`, which comes after (socket.io sends the missed packets first), so there it equals the time "
        "to full recovery. *Per client*: its own attempt → all M. *Presence frames*: `user:joined`/`user:left` "
        "received while recovering (ours announces every rejoin to every member already back; socket.io "
        "restores rooms silently). *Load generator busy*: event-loop utilisation of its busiest thread while "
        "recovering (near 1: the load generator set the pace, not the server). Same machine: the load "
        "generator and the server share its cores. median [min–max] over the runs.\n\n"
        + table(["target", "clients", "messages", "runs", "time to full recovery ms", "deliveries/s",
                 "recovered clients", "lost", "duplicates", "out of order", "all back in the room ms",
                 "per client ms (p50)", "presence frames", "load generator busy"], rows)
        + ratio_line))
else:
    keep("recovery")

# -- 7. soak --------------------------------------------------------------------------------
def soak_section(lines, when):
    load = next((r for r in lines if r.get("kind") == "load"), None)
    inst = [r for r in lines if r.get("kind") == "instance"]
    if not load or "error" in load:
        body = "The load generator reported no result" + (f": {load['error']}" if load else "") + "."
        targets.append(("soak: 0 messages lost (steady clients)", "no result", False))
        return body
    st, lat, rd, ch, bad = load["steady"], load["latency_ms"], load["redis"], load["churn"], load["bad"]
    roles = load["roles"]
    ms = lambda v: "—" if v is None else f"{v:.1f}"  # noqa: E731
    n = lambda v: f"{v:,}"  # noqa: E731
    role_text = lambda kind: ", ".join(f"{v} {k}" for k, v in sorted(roles.get(kind, {}).items()))  # noqa: E731
    sent = load["sent"]["chat"] + load["sent"]["typed"]
    acked = load["acked"]["chat"] + load["acked"]["typed"]
    refused = load["unavailable"]["chat"] + load["unavailable"]["typed"]
    unresolved = load["unresolved"]["chat"] + load["unresolved"]["typed"]
    closed = load.get("sender_closed", {"chat": 0, "typed": 0})
    closed = closed["chat"] + closed["typed"]
    down = (rd["start_s"] - rd["stop_s"]) if rd.get("stop_s") is not None and rd.get("start_s") is not None else None
    # Instances by name (A, B): the load generator knows them by the tag in user ids.
    name_of_url = {r.get("url"): r["name"] for r in inst}
    tag_name = {tag: name_of_url.get(url, tag) for url, tag in load.get("instance_tags", {}).items()}
    ok_at = {name_of_url.get(url, url): t for url, t in rd.get("ok_s_by_instance", {}).items()}
    by_inst = lambda d: ", ".join(f"{tag_name.get(k, k)}: {v:,}" for k, v in sorted(d.items(), key=lambda kv: tag_name.get(kv[0], kv[0])))  # noqa: E731
    plain = lambda d: ", ".join(f"{k}: {v:,}" for k, v in d.items()) or "none"  # noqa: E731
    lost_text = ""
    if st["lost"]:
        lm = st.get("lost_messages", [])
        acked_s = [m["acked_s"] for m in lm if m.get("acked_s") is not None]
        senders = sorted({tag_name.get(m.get("sender_instance"), m.get("sender_instance")) for m in lm})
        lost_text = (f" — {st['lost_distinct_messages']} distinct messages, missed on instance(s) {by_inst(st['lost_by_instance'])}"
                     + (f"; acked at {min(acked_s):.2f}–{max(acked_s):.2f} s to senders on {', '.join(map(str, senders))}" if acked_s else "")
                     + (f" (Redis started again at {rd['start_s']:.2f} s; /healthz `ok` again: "
                        + ", ".join(f"{k} at {v:.2f} s" for k, v in sorted(ok_at.items())) + ")" if ok_at and rd.get("start_s") is not None else "")
                     + "; by stream: " + plain(st["lost_by_stream"]))
    run_rows = [
        ["clients", f"{load['clients']:,} for {load['seconds']} s: chat {sum(roles.get('chat', {}).values())} ({role_text('chat')}), "
                    f"typed-chat {sum(roles.get('typed', {}).values())} ({role_text('typed')}), "
                    f"presence {sum(roles.get('presence', {}).values())} ({role_text('presence')}); seed {load['seed']}"],
        ["chat messages sent (chat + rooms)", f"{n(sent)} ({load['chat_rate']} + {load['typed_rate']} msg/s): {n(acked)} acked, "
                                              f"{n(refused)} refused `unavailable` (Redis down), {n(closed)} unanswered because the sender's socket closed, "
                                              f"{n(unresolved)} unanswered at the end"],
        ["steady clients checked", f"{st['checked']} of {st['clients']} (chat + typed-chat; {st['disconnected']} closed during the run)"],
        ["**messages lost** (steady clients)", f"**{n(st['lost'])}** of {n(st['expected_deliveries'])} expected deliveries" + lost_text],
        ["duplicates / out of order (steady)", f"{n(st['duplicates'])} / {n(st['out_of_order'])}"],
        ["delivery latency, steady clients", f"p50 {ms(lat['p50'])} ms, **p99 {ms(lat['p99'])} ms**, p99.9 {ms(lat.get('p999'))} ms, "
                                             f"max {ms(lat['max'])} ms ({n(lat['n'])} deliveries)"],
        ["Redis restart", (f"stopped at {rd['stop_s']:.1f} s, started again {down:.1f} s later; both instances `ok` "
                           f"{rd['healthy_after_start_s']:.2f} s after the start" if rd.get("healthy_after_start_s") is not None and down is not None
                           else "not done" if rd.get("stop_s") is None else f"stopped at {rd['stop_s']:.1f} s; not healthy again in 30 s")],
        ["churn", f"{n(ch['disconnects'])} disconnects (half close frame, half dropped TCP), {n(ch['reconnects'])} reconnects; "
                  f"replays after a reconnect: {n(ch['replays_recovered'])} recovered, not recovered: {plain(ch['replays_not_recovered'])} "
                  "(`unavailable`: reconnected while Redis was down)"],
        ["slow readers", "; ".join(f"{s['client']} paused {s['pause_s']} s at {s['at_s']} s → {s['closed']}" for s in load["slow"]) or "—"],
        ["bad frames", f"{bad['frames_sent']} sent (+ a message to a room not joined); error frames received by all clients: "
                       f"{plain(load['errors_by_code'])}; {bad['oversize_sent']} oversized (70 KiB) → the oversize clients' closes: "
                       f"{plain(bad['close_codes_oversize'])} (1000: their later reconnected sockets closed at the end)"],
        ["presence", f"{n(load['presence']['updates_sent'])} updates and {n(load['presence']['pings_sent'])} pings sent, "
                     f"{n(load['presence']['frames_received'])} presence frames received; steady presence sockets closed: "
                     f"{load['presence'].get('steady_disconnected', '—')} of {load['presence'].get('steady', '—')}"],
        ["load generator", f"event-loop utilisation {load['loadgen']['elu']}, loop delay p99 {load['loadgen']['loop_delay_p99_ms']} ms"],
    ]
    keys = ["realtime_messages_in_total", "realtime_messages_out_total", "realtime_slow_consumers_total",
            "realtime_rate_limited_total", "realtime_redis_reconnects"]
    codes = sorted({k for r in inst for k in r["metrics"] if k.startswith("realtime_closes_total{")},
                   key=lambda k: (not re.search(r'"\d+"', k), k))
    code_of = lambda k: re.search(r'code="([^"]*)"', k).group(1)  # noqa: E731
    head = ["instance", "peak RSS (VmRSS, 1 s samples)", "VmHWM", "panics", "messages in", "messages out",
            "closes by code", "slow consumers", "rate limited", "Redis reconnects"]
    mib = lambda kb: "—" if kb is None else f"{kb / 1024:.1f} MiB"  # noqa: E731
    rows = []
    for r in inst + ([{"name": "total", "metrics": {k: sum(i["metrics"].get(k, 0) for i in inst) for k in set().union(*(i["metrics"] for i in inst))},
                       "panics": sum(i["panics"] for i in inst), "peak_rss_kb": None, "vmhwm_kb": None}] if len(inst) > 1 else []):
        m = r["metrics"]
        rows.append([r["name"], mib(r["peak_rss_kb"]), mib(r["vmhwm_kb"]), r["panics"],
                     f"{m.get(keys[0], 0):,.0f}", f"{m.get(keys[1], 0):,.0f}",
                     ", ".join(f"{code_of(k)}: {m[k]:,.0f}" for k in codes if m.get(k)) or "—",
                     f"{m.get(keys[2], 0):,.0f}", f"{m.get(keys[3], 0):,.0f}", f"{m.get(keys[4], 0):,.0f}"])
    panics = sum(r["panics"] for r in inst)
    targets.append(("soak: 0 messages lost (steady clients)",
                    f"{st['lost']:,} of {st['expected_deliveries']:,} deliveries ({st['checked']} steady clients, "
                    f"{st['disconnected']} closed during the run)", st["lost"] == 0 and st["checked"] > 0))
    targets.append(("soak: 0 panics", f"{panics} (both instances' logs)" if inst else "no instance data", panics == 0 and bool(inst)))
    return (
        "Two dev-server instances (`--redis-url` to one `redis-server`, `--trusted-proxies 127.0.0.1/32`, limits raised "
        "as in the fan-out part, default outbound queue) behind `server/deploy/nginx.conf` (filled in as "
        "`server/tests/redis.rs` does); every client connects through nginx, which alternates the instances. "
        "The load generator (`bench/soak/soak.mjs`, Node `ws`, one process, seeded) runs chat clients on `/ws/chat`, "
        "typed-chat clients in 2 of 5 rooms and presence clients (`presence:update` with a cursor every 1-4 s, a "
        "`ping` every 10 s) in 5 rooms. Roles: *steady* clients are never disconnected by the load generator, never "
        "paused and send nothing bad; *churn* clients disconnect at random (a close frame or a dropped TCP connection) "
        "and come back 0.5-3 s later resuming from their position; *slow* readers stop reading their socket once; "
        "*bad* clients send malformed JSON, unknown types and non-objects, and two send one oversized frame "
        "(over the 64 KiB limit: close 1009). In the middle the Redis server is shut down (`SHUTDOWN SAVE`) and "
        "started again on the same port with its dump; chat messages sent meanwhile are refused with "
        "`error {code:\"unavailable\"}` (counted, not acked, so not expected anywhere). Chat messages are sent by "
        "steady and churn clients with a `clientId`, the send time in the text. *Lost*: for each steady chat or "
        "typed-chat client still connected at the end (connected before the first message), each `seq` acked to any "
        "sender in a stream it is in (the chat; its two rooms) and never received by it, after up to 15 s of drain. "
        "*Latency*: send time → first receipt, over every delivery to a steady client. Peak RSS: `/proc/PID/status` "
        "every second; panics: `panicked` in both instances' logs; metrics: each instance's `GET /metrics` at the end "
        "(closes labelled `client` are closes the client started).\n\n"
        + table(["", ""], run_rows) + "\n\n" + table(head, rows))


soak, when = load("soak.jsonl")
if soak:
    load_line = next((r for r in soak if r.get("kind") == "load"), {})
    title = (f"## 7. Soak: {load_line.get('clients', '?'):,} clients for {load_line.get('seconds', '?')} s through nginx, "
             "2 instances + Redis, with faults" if isinstance(load_line.get("clients"), int) else "## 7. Soak")
    sections.append((title + stamp("soak", when), soak_section(soak, when)))
else:
    keep("soak")

# -- 8. head to head ------------------------------------------------------------------------
def sign_test(wins, losses):
    """Two-sided sign test: the chance that two equal servers split at least this unevenly."""
    n = wins + losses
    if n == 0:
        return None
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


h2h, when = load("headtohead.jsonl")
if h2h:
    runs = {}
    for r in h2h:
        generator, placement, server, rnd = r["label"].split("|")
        runs.setdefault((generator, placement), {}).setdefault(server, {})[int(rnd)] = r
    rows = []
    for (generator, placement), by_server in runs.items():
        ours, theirs = by_server.get(OURS, {}), by_server.get(NODE, {})
        ok = lambda r: r is not None and "error" not in r and r["delivered"] == r["expected"]  # noqa: E731
        paired = [(ours[k], theirs[k]) for k in sorted(set(ours) & set(theirs)) if ok(ours[k]) and ok(theirs[k])]
        failed = sum(1 for side in (ours, theirs) for r in side.values() if not ok(r))
        # A run that printed no RESULT (timed out, crashed; its stderr is in logs/headtohead.err)
        # is missing from the file: counted against the highest round number seen.
        last_round = max([*ours, *theirs], default=0)
        missing = 2 * last_round - len(ours) - len(theirs)
        wins = sum(1 for a, b in paired if a["p99_ms"] < b["p99_ms"])
        losses = sum(1 for a, b in paired if a["p99_ms"] > b["p99_ms"])
        p = sign_test(wins, losses)
        med = lambda side, key: statistics.median(x[key] for x in side) if side else None  # noqa: E731
        a_side, b_side = [a for a, _ in paired], [b for _, b in paired]
        cpu = lambda side: [x["server_cpu_ms"] for x in side if x.get("server_cpu_ms") is not None]  # noqa: E731
        wait = lambda side: [x["loadgen_wait_ms"] / x["messages"] for x in side if x.get("loadgen_wait_ms") is not None]  # noqa: E731
        fmt = lambda v, f="{:.1f}": "—" if v is None else f.format(v)  # noqa: E731
        both = lambda f, xs, ys: f"{f(xs)} / {f(ys)}"  # noqa: E731
        rows.append([
            GENERATORS[generator] + (", 1 thread" if generator == "node" else ""),
            "pinned: servers on one CPU, generator on another" if placement == "pinned" else "shared (as in section 4)",
            f"{len(paired)}" + (f" ({failed} failed runs left out)" if failed else "")
            + (f" ({missing} run{'s' if missing > 1 else ''} printed no result)" if missing else ""),
            spread([a["p99_ms"] for a in a_side], "{:.1f}"), spread([b["p99_ms"] for b in b_side], "{:.1f}"),
            f"**{wins} of {len(paired)}**" + (f" ({len(paired) - wins - losses} tied)" if len(paired) - wins - losses else ""),
            fmt(p, "{:.2f}"),
            both(lambda side: fmt(med(side, "p50_ms")), a_side, b_side),
            both(lambda v: fmt(statistics.median(v) if v else None, "{:,.0f}"), cpu(a_side), cpu(b_side)),
            both(lambda v: fmt(statistics.median(v) if v else None, "{:.2f}"), wait(a_side), wait(b_side)),
        ])
    sections.append((
        "## 8. Paced p99 head to head: ours and Node ws, many alternated rounds" + stamp("headtohead", when),
        "The paced scenario of section 4 at 1,000 clients (150 messages at 50 msg/s, 50,000 deliveries/s offered), "
        "ours against `bench/node-ws/server.mjs` only, in many rounds per yardstick: in each round both servers "
        "run once, each on a server started for it, in alternating order (ours first in odd rounds). Five runs "
        "(section 4) cannot rank two servers whose p99 differ by less than the 2-3 ms one run varies from the "
        "next; this section counts the rounds in which ours had the lower p99, and the sign test gives the chance "
        "that two servers with the same p99 would split the rounds at least that unevenly (near 1: no difference "
        "this many rounds can see; below 0.05: a difference). *Pinned*: both servers on the first CPU this run may use "
        "(`taskset`), the generator on the second, so neither waits behind the other's threads. Server CPU per run and the "
        "generator's wait for a core per message are medians, from Linux's per-thread `schedstat` as in section 4. "
        "min / median / max over the rounds.\n\n"
        + table(["generator", "cores", "rounds", "ours p99 ms", "Node ws p99 ms", "ours lower in", "sign test p",
                 "p50 ms (ours / Node ws)", "server CPU ms/run (ours / Node ws)",
                 "generator waited, ms/message (ours / Node ws)"], rows)))
else:
    keep("headtohead")

# -- output ---------------------------------------------------------------------------------
mark = {True: "met", False: "**missed**", None: "?"}
target_table = table(["target", "measured", ""], [[t, f, mark.get(m, m)] for t, f, m in targets])
printed = "\n\n".join(f"{h}\n\n{b}" for h, b in sections) + "\n\n## Targets\n\n" + target_table + "\n"
print(printed)

notes_path = os.path.join(here, "notes.md")
notes = open(notes_path).read().strip() if os.path.exists(notes_path) else ""
doc = (
    "# Benchmarks\n\n"
    "Written by `scripts/bench.sh` (do not edit by hand; the notes come from `bench/notes.md`). "
    "Every comparison below ran in the same invocation on the same machine.\n\n"
    "## Machine\n\n" + table(["", ""], machine()) + "\n\n" + printed
    + ("\n" + notes + "\n" if notes else "")
)
with open(out, "w") as f:
    f.write(doc)
print(f"wrote {out}")
