#!/usr/bin/env node
// scripts/bench's driver: pixelproof's whole pipeline through `serve`'s API against the
// puppeteer-core script (bench/puppeteer.mjs) on the same documents, the same machine, in the
// same run. Reports; never fails on timing. See HELP below (or `scripts/bench --help`).

import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Documents, KINDS } from './docs.mjs';
import { endTree, killTreeNow, machineBusyMs, processCpuMs, RssSampler, treePss, treeRss } from './proc.mjs';
import { readPins, writeFontconfig } from './puppeteer.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');

const HELP = `usage: scripts/bench [OPTIONS]

Measures pixelproof's full pipeline (serve's POST /v1/jobs: embedded queue, verification on;
and POST /v1/render) against a puppeteer-core script (bench/puppeteer.mjs) on the pinned
Chromium, on the same documents, one peer at a time, and prints one table:
  rows     kind (html-font: 1 MB HTML with an inline 760 KB font; invoice, report: the
           bundled templates) x concurrency x peer; "render" rows are warm POST /v1/render
  docs/s   documents / wall time of a closed loop of C clients (submit, wait for the
           outcome with GET /v1/jobs/ID?wait=30 (older binaries: poll every 10 ms), next)
  p50/p95  latency of one document, ms (jobs: submit -> settled; script: request -> PDF)
  RSS      peak summed RSS of the peer's process tree (serve + Chromium + WeasyPrint;
           node + its Chromium), sampled every 100 ms, MiB; PSS: the same with shared
           pages split between processes (sampled every second)
  CPU      CPU time per document, ms: the machine's busy time over the cell (/proc/stat) less
           the bench client's own, so every Chromium process counts, however short-lived; on
           a machine doing other work it counts that too. "own": the part the peer's own
           process used (serve, or the script's node); the rest is its Chromium's
  ratio    pixelproof docs/s / script docs/s at the same kind and concurrency (> 1: faster);
           render rows: script p50 / pixelproof p50 (> 1: faster)
then pixelproof's per-stage times (mean, p50 per kind, concurrency 1, from the job records'
stages) and a pixel parity check of one document per kind (pdftoppm -r 72, exact compare).

options:
  --n N              documents per cell (default 30)
  --warmup N         documents of each kind per peer before measuring (default 3)
  --kinds LIST       comma-separated, from html-font,invoice,report (default: all)
  --concurrency LIST (default 1,2)
  --bin [NAME=]PATH  a pixelproof binary to measure; repeat to measure several in the same run
                     (default: $PIXELPROOF_BIN, else target/release/pixelproof)
  --compare-bin PATH an older binary, measured as "pixelproof-old" before the current one
  --no-script        measure pixelproof only (no ratios)
  --no-render        skip the POST /v1/render rows
  --no-parity        skip the parity check
  --workers N        serve --workers (default 2)
  --soak N           instead of the table: N html-font jobs at concurrency 2 to one serve,
                     RSS of its tree after job 100 and every 200 jobs, and the change in %
  --json FILE        also write the results as JSON
  --keep             keep the temp dir (documents, PDFs, serve's data and logs)
  --ready-timeout S  seconds to wait for GET /readyz (start-up verification; default 300)
  -h, --help

example:
  scripts/bench --n 50 --compare-bin /tmp/pixelproof-main --json bench.json
  PIXELPROOF_BIN=/path/to/pixelproof scripts/bench --kinds html-font --n 10

Timing never fails the run. Noise: run on a quiet machine; peers run one after another, in the
same order for every cell; idle peers stay up between cells.

exit codes: 0 measured (failed jobs are counted in the table's "err" column and listed);
1 something could not run (a binary, Chromium, serve not ready, npm packages missing: the
message says what and what to do); 2 bad options.`;

// ---------- small helpers ----------

class Fatal extends Error {}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const log = (...a) => process.stderr.write(a.join(' ') + '\n');

function quantile(values, q) {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
const mean = (v) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
const fmt = (v, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));
const mib = (b) => (b ? b / 1048576 : NaN);

function table(headers, rows, align) {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const w = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) =>
    r.map((c, i) => ((align?.[i] ?? 'r') === 'l' ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [line(cells[0]), w.map((x) => '-'.repeat(x)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function sh(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }).trim();
  } catch {
    return null;
  }
}

// ---------- options ----------

function parseArgs(argv) {
  const o = {
    n: 30, warmup: 3, kinds: [...KINDS], concurrency: [1, 2], bins: [], compareBin: null, script: true,
    render: true, parity: true, workers: 2, soak: 0, json: null, keep: false, readyTimeout: 300,
  };
  const int = (a, v, min = 0) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Fatal(`${a} needs an integer >= ${min}, not ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline;
    if (a.startsWith('--') && a.includes('=') && !a.startsWith('--bin=')) [a, inline] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
    else if (a.startsWith('--bin=')) [a, inline] = ['--bin', a.slice(6)];
    const val = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new Fatal(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '-h': case '--help': o.help = true; break;
      case '--n': o.n = int(a, val(), 1); break;
      case '--warmup': o.warmup = int(a, val()); break;
      case '--kinds':
        o.kinds = val().split(',').map((s) => s.trim()).filter(Boolean);
        for (const k of o.kinds) if (!KINDS.includes(k)) throw new Fatal(`--kinds: unknown kind ${k} (known: ${KINDS.join(', ')})`);
        break;
      case '--concurrency': o.concurrency = val().split(',').map((s) => int(a, s.trim(), 1)); break;
      case '--bin': o.bins.push(val()); break;
      case '--compare-bin': o.compareBin = val(); break;
      case '--no-script': o.script = false; break;
      case '--no-render': o.render = false; break;
      case '--no-parity': o.parity = false; break;
      case '--workers': o.workers = int(a, val(), 1); break;
      case '--soak': o.soak = int(a, val(), 1); break;
      case '--json': o.json = resolve(val()); break;
      case '--keep': o.keep = true; break;
      case '--ready-timeout': o.readyTimeout = int(a, val(), 1); break;
      default: throw new Fatal(`unknown option ${a}`);
    }
  }
  return o;
}

function binaries(o) {
  const list = [];
  const add = (spec, fallbackName) => {
    const eq = spec.indexOf('=');
    const [name, path] = eq > 0 && !spec.slice(0, eq).includes('/') ? [spec.slice(0, eq), spec.slice(eq + 1)] : [fallbackName, spec];
    list.push({ name, path: resolve(path) });
  };
  if (o.compareBin) add(o.compareBin, 'pixelproof-old');
  const bins = o.bins.length ? o.bins : [process.env.PIXELPROOF_BIN || join(ROOT, 'target/release/pixelproof')];
  bins.forEach((b, i) => add(b, bins.length > 1 ? `pixelproof-${i + 1}` : 'pixelproof'));
  for (const b of list) {
    if (!existsSync(b.path)) throw new Fatal(`pixelproof binary ${b.path} does not exist: build it (cargo build --release --locked) or give --bin PATH / PIXELPROOF_BIN`);
  }
  const names = new Set(list.map((b) => b.name));
  if (names.size !== list.length) throw new Fatal(`two binaries are both named ${list.map((b) => b.name).join(', ')}: name them with --bin NAME=PATH`);
  return list;
}

// ---------- cleanup: nothing outlives the run ----------

const running = new Set(); // pids of process-group leaders we started
let tmpRoot = null;
let keepTmp = false;
let cleaning = null;
let stopping = null; // the signal that asked us to stop

class Interrupted extends Error {}
function checkStop() {
  if (stopping) throw new Interrupted(stopping);
}

async function cleanup() {
  if (!cleaning) {
    cleaning = (async () => {
      await Promise.all([...running].map((pid) => endTree(pid, 10000).catch(() => {})));
      running.clear();
      if (tmpRoot && !keepTmp) rmSync(tmpRoot, { recursive: true, force: true });
    })();
  }
  return cleaning;
}

process.on('exit', () => {
  for (const pid of running) killTreeNow(pid);
  if (tmpRoot && !keepTmp) {
    try {
      rmSync(tmpRoot, { recursive: true, force: true });
    } catch {}
  }
});
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = sig;
    log(`\nbench: ${sig}: stopping what it started…`);
    cleanup().finally(() => process.exit(code));
  });
}

// ---------- HTTP (127.0.0.1 only) ----------

function loopbackOnly(url) {
  const u = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) throw new Error(`refusing to connect to ${u.host}: the bench talks to 127.0.0.1 only`);
  return u;
}

async function getJson(url) {
  const r = await fetch(loopbackOnly(url));
  const text = await r.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: r.status, body };
}

// ---------- peers ----------

const SETTLED = new Set(['done', 'fallback', 'held', 'failed']);

class ServePeer {
  constructor(bin, o, tmp) {
    this.name = bin.name;
    this.bin = bin.path;
    this.kind = 'pixelproof';
    this.o = o;
    this.dir = join(tmp, `serve-${bin.name}`);
    this.pid = null;
  }

  version() {
    return sh(this.bin, ['--version']) ?? '?';
  }

  async start() {
    mkdirSync(this.dir, { recursive: true });
    const outPath = join(this.dir, 'serve.out');
    const errPath = join(this.dir, 'serve.log');
    const out = openSync(outPath, 'w');
    const err = openSync(errPath, 'w');
    const env = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('PIXELPROOF_') || ['PIXELPROOF_CHROMIUM', 'PIXELPROOF_PDFIUM', 'PIXELPROOF_LOG'].includes(k)) env[k] = v;
    }
    const args = ['serve', '--listen', '127.0.0.1:0', '--data', join(this.dir, 'data'), '--workers', String(this.o.workers)];
    log(`bench: starting ${this.name}: ${this.bin} ${args.join(' ')}`);
    const child = spawn(this.bin, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', out, err] });
    closeSync(out);
    closeSync(err);
    this.pid = child.pid;
    running.add(child.pid);
    let exited = null;
    child.on('exit', (code, sig) => {
      exited = sig ?? code;
      running.delete(child.pid);
    });
    const tail = () => readFileSync(errPath, 'utf8').trim().split('\n').slice(-15).join('\n');
    const started = Date.now();
    const deadline = started + this.o.readyTimeout * 1000;
    // The address it bound ("listening on http://ADDR" on stdout).
    while (!this.base) {
      checkStop();
      if (exited !== null) throw new Fatal(`${this.name}: serve exited (${exited}) before listening; its log:\n${tail()}`);
      if (Date.now() > deadline) throw new Fatal(`${this.name}: serve did not print "listening on" within ${this.o.readyTimeout} s; log in ${errPath}`);
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(readFileSync(outPath, 'utf8'));
      if (m) this.base = m[1];
      else await sleep(100);
    }
    // Start-up verification of every template (Chromium, then the fallback) before measuring.
    let last = null;
    while (true) {
      checkStop();
      if (exited !== null) throw new Fatal(`${this.name}: serve exited (${exited}) during start-up verification; its log:\n${tail()}`);
      if (Date.now() > deadline) {
        throw new Fatal(`${this.name}: GET /readyz still ${last?.status} after ${this.o.readyTimeout} s (start-up verification of every template); raise --ready-timeout or read ${errPath}. Last answer: ${JSON.stringify(last?.body)}`);
      }
      try {
        last = await getJson(`${this.base}/readyz`);
        if (last.status === 200) break;
      } catch {}
      await sleep(500);
    }
    this.readyz = last.body;
    this.readySecs = (Date.now() - started) / 1000;
    log(`bench: ${this.name} ready at ${this.base} after ${this.readySecs.toFixed(1)} s`);
  }

  /** Templates not verified on Chromium at start-up (their jobs do not measure Chromium). */
  unverified() {
    const t = this.readyz?.templates;
    if (!t || typeof t !== 'object') return [];
    return Object.entries(t).filter(([, v]) => v !== 'verified').map(([k, v]) => `${k}: ${v}`);
  }

  /** One job: submit, then GET its status with ?wait=30 (a long poll: it answers when the job
   *  settles) until settled; a binary without long polls answers at once, so it is polled every
   *  10 ms. */
  async job(body, keepRecord) {
    const r = await fetch(loopbackOnly(`${this.base}/v1/jobs`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const accepted = await r.json().catch(() => null);
    if (r.status !== 202 && r.status !== 200) {
      return { ok: false, error: `POST /v1/jobs ${r.status}: ${accepted?.detail ?? accepted?.title ?? ''}` };
    }
    const url = `${this.base}/v1/jobs/${accepted.id}`;
    const until = Date.now() + 180000;
    for (let first = true; ; first = false) {
      if (!first) await sleep(10);
      if (stopping) return { ok: false, error: 'stopped' };
      const s = await fetch(`${url}?wait=30`);
      const rec = await s.json().catch(() => null);
      if (s.status === 200 && rec && SETTLED.has(rec.state)) {
        const ok = rec.state === 'done';
        return {
          ok, id: rec.id, record: keepRecord ? rec : undefined,
          error: ok ? undefined : `${rec.state}${rec.error ? ': ' + rec.error : ''}`,
        };
      }
      if (s.status !== 200) return { ok: false, error: `GET /v1/jobs/ID ${s.status}` };
      if (Date.now() > until) return { ok: false, error: `not settled after 180 s (state ${rec?.state})` };
    }
  }

  /** One POST /v1/render: answers the PDF. */
  async render(body) {
    const r = await fetch(loopbackOnly(`${this.base}/v1/render`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const buf = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200) {
      let detail = '';
      try {
        detail = JSON.parse(buf.toString()).detail ?? '';
      } catch {}
      return { ok: false, error: `POST /v1/render ${r.status}: ${detail}` };
    }
    const state = r.headers.get('x-pixelproof-state');
    return state && state !== 'done' ? { ok: false, error: `render state ${state}` } : { ok: true, bytes: buf.length };
  }

  /** The PDF of a job (a 307 is followed only to 127.0.0.1). */
  async pdf(id) {
    let url = `${this.base}/v1/jobs/${id}/pdf`;
    for (let hop = 0; hop < 3; hop++) {
      const r = await fetch(loopbackOnly(url), { redirect: 'manual' });
      if (r.status >= 300 && r.status < 400) {
        url = new URL(r.headers.get('location'), url).toString();
        continue;
      }
      if (r.status !== 200) throw new Error(`GET /v1/jobs/${id}/pdf answered ${r.status}`);
      return Buffer.from(await r.arrayBuffer());
    }
    throw new Error(`GET /v1/jobs/${id}/pdf: too many redirects`);
  }

  async metrics() {
    try {
      const r = await fetch(loopbackOnly(`${this.base}/metrics`));
      return r.status === 200 ? await r.text() : null;
    } catch {
      return null;
    }
  }

  async stop() {
    if (this.pid && running.has(this.pid)) {
      const left = await endTree(this.pid, 35000);
      if (left) log(`bench: ${this.name}: ${left} process(es) needed SIGKILL`);
      running.delete(this.pid);
    }
  }
}

class ScriptPeer {
  constructor(o, tmp, docroot) {
    this.name = 'puppeteer';
    this.kind = 'script';
    this.o = o;
    this.tmp = tmp;
    this.docroot = docroot;
    this.pending = new Map();
    this.seq = 0;
  }

  async start() {
    const entry = join(HERE, 'node_modules/puppeteer-core/package.json');
    if (!existsSync(entry)) throw new Fatal(`puppeteer-core is not installed: run \`npm ci --prefix bench\` (scripts/bench does it when bench/node_modules is missing)`);
    this.puppeteerVersion = JSON.parse(readFileSync(entry, 'utf8')).version;
    const pins = readPins(ROOT);
    this.chromium = process.env.PIXELPROOF_CHROMIUM || pins.CHROMIUM_BINARY;
    if (!existsSync(this.chromium)) throw new Fatal(`Chromium ${this.chromium} (pins.env CHROMIUM_BINARY) is missing: run scripts/setup`);
    const fcDir = join(this.tmp, 'script-fonts');
    mkdirSync(fcDir, { recursive: true });
    const fontconfig = writeFontconfig(fcDir, join(ROOT, 'fonts'));
    const errPath = join(this.tmp, 'script.log');
    const err = openSync(errPath, 'w');
    const child = spawn(
      process.execPath,
      [join(HERE, 'puppeteer.mjs'), '--stdio', '--docroot', this.docroot, '--fontconfig', fontconfig, '--chromium', this.chromium],
      { cwd: ROOT, detached: true, stdio: ['pipe', 'pipe', err] },
    );
    closeSync(err);
    this.child = child;
    this.pid = child.pid;
    running.add(child.pid);
    let exited = null;
    child.on('exit', (code, sig) => {
      exited = sig ?? code;
      running.delete(child.pid);
      for (const [, p] of this.pending) p({ ok: false, error: `the script exited (${exited})` });
      this.pending.clear();
    });
    child.stdin.on('error', () => {});
    const ready = new Promise((ok) => (this.onReady = ok));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.ready) return this.onReady(msg);
      const p = this.pending.get(msg.id);
      if (p) {
        this.pending.delete(msg.id);
        p(msg);
      }
    });
    const first = await Promise.race([ready, sleep(60000).then(() => null), new Promise((ok) => child.on('exit', () => ok(null)))]);
    if (!first) throw new Fatal(`the puppeteer script did not start (${exited !== null ? 'exited ' + exited : 'no answer in 60 s'}); its log:\n${readFileSync(errPath, 'utf8').trim().split('\n').slice(-15).join('\n')}`);
    this.browserVersion = first.browser;
    log(`bench: puppeteer-core ${this.puppeteerVersion} ready (${first.browser})`);
  }

  request(req) {
    const id = ++this.seq;
    return new Promise((ok) => {
      this.pending.set(id, ok);
      this.child.stdin.write(JSON.stringify({ ...req, id }) + '\n');
    });
  }

  async stop() {
    if (this.pid && running.has(this.pid)) {
      this.child.stdin.end(); // the script closes its browser and exits
      const until = Date.now() + 10000;
      while (running.has(this.pid) && Date.now() < until) await sleep(100);
      await endTree(this.pid, 5000); // and nothing of its tree is left (Chromium is detached)
      running.delete(this.pid);
    }
  }
}

// ---------- documents ----------

class Corpus {
  constructor(o, tmp, exporter) {
    this.docs = new Documents(ROOT);
    this.dir = join(tmp, 'docs');
    mkdirSync(this.dir, { recursive: true });
    this.exporter = exporter; // a pixelproof binary with `render --save-document`
    this.exportError = null;
  }

  /** The body of POST /v1/jobs for document i (built before the clock starts). */
  body(kind, i) {
    return JSON.stringify(this.docs.request(kind, i));
  }

  /** What the script gets for document i: a file for html-font, an exported DIR for templates. */
  async scriptDoc(kind, i) {
    if (kind === 'html-font') {
      const file = join(this.dir, `html-font-${i}.html`);
      if (!existsSync(file)) writeFileSync(file, this.docs.htmlFont(i));
      return { html: file };
    }
    const name = `${kind}-${i}`;
    const dir = join(this.dir, name);
    if (!existsSync(join(dir, 'print.json'))) await this.export(kind, i, dir);
    return { dir: name };
  }

  async export(kind, i, dir) {
    if (this.exportError) throw new Error(this.exportError);
    const data = join(this.dir, `${kind}-${i}.json`);
    writeFileSync(data, JSON.stringify(this.docs.templateData(kind, i)));
    const args = ['render', '--template', kind, '--data', data, '--save-document', dir];
    const res = await new Promise((ok) => {
      const c = spawn(this.exporter, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.on('exit', (code) => ok({ code, err }));
      c.on('error', (e) => ok({ code: -1, err: String(e) }));
    });
    if (res.code !== 0 || !existsSync(join(dir, 'print.json')) || !existsSync(join(dir, 'index.html'))) {
      this.exportError =
        `\`${basename(this.exporter)} ${args.join(' ')}\` failed (exit ${res.code}): ${res.err.trim().split('\n').slice(-3).join(' / ')}. ` +
        'The script needs `pixelproof render --save-document` (writes index.html, assets, print.json, fonts.conf) for template documents: use a binary that has it.';
      throw new Error(this.exportError);
    }
  }

  /** Exports the template documents of `indices` (two at a time; not timed). */
  async prepare(kind, indices) {
    if (kind === 'html-font') {
      for (const i of indices) await this.scriptDoc(kind, i);
      return;
    }
    let next = 0;
    await Promise.all([0, 1].map(async () => {
      while (next < indices.length) await this.scriptDoc(kind, indices[next++]);
    }));
  }
}

// ---------- measuring ----------

/** A closed loop: C clients, each runs one document, then the next, until N are done. */
async function closedLoop(c, n, runOne) {
  let next = 0;
  const lat = [];
  const results = [];
  const t0 = now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (true) {
        const j = next++;
        if (j >= n || stopping) return;
        const t = now();
        let r;
        try {
          r = await runOne(j);
        } catch (e) {
          r = { ok: false, error: String(e?.message ?? e) };
        }
        lat.push(now() - t);
        results[j] = r;
      }
    }),
  );
  const wall = (now() - t0) / 1000;
  return { wall, lat, results };
}

function cellSummary(loop) {
  const errors = loop.results.filter((r) => !r.ok).map((r) => r.error);
  return {
    n: loop.results.length,
    docsPerSec: loop.results.length / loop.wall,
    p50: quantile(loop.lat, 0.5),
    p95: quantile(loop.lat, 0.95),
    mean: mean(loop.lat),
    wallSec: loop.wall,
    errors: errors.length,
    errorSamples: [...new Set(errors)].slice(0, 3),
  };
}

// Index ranges: every document of a run is distinct, and the same for every peer.
const IDX = { warm: 90000, render: 80000, cell: (c) => c * 10000 };

// Job-record stages in the pipeline's order; the job states (time in each state) come last.
const STAGE_ORDER = ['queued', 'context', 'navigate', 'settle', 'print', 'fonts', 'raster', 'verify', 'store'];
const STATE_STAGES = ['rendering', 'verifying', 'fallback', 'storing'];

function stagesOf(rec) {
  const s = rec?.stages_ms && Object.keys(rec.stages_ms).length ? rec.stages_ms : rec?.timings_ms;
  return s && typeof s === 'object' ? s : {};
}

function parseStageMetrics(text) {
  // Prometheus text: NAME_sum{...stage="X"...} V and NAME_count{...} V for families about stages.
  const out = {};
  if (!text) return out;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*stage\w*)_(sum|count)\{([^}]*)\}\s+([0-9.eE+-]+)/.exec(line);
    if (!m) continue;
    const stage = /stage="([^"]*)"/.exec(m[3])?.[1];
    if (!stage) continue;
    const key = `${m[1]}|${stage}`;
    out[key] ??= { family: m[1], stage, sum: 0, count: 0 };
    out[key][m[2]] += Number(m[4]);
  }
  return out;
}

function metricDelta(before, after) {
  const rows = [];
  for (const [k, a] of Object.entries(after)) {
    const b = before[k] ?? { sum: 0, count: 0 };
    const count = a.count - b.count;
    if (count > 0) rows.push({ family: a.family, stage: a.stage, count, meanMs: ((a.sum - b.sum) / count) * 1000 });
  }
  return rows;
}

// ---------- parity ----------

function ppmPages(pdf, dir, prefix) {
  writeFileSync(join(dir, `${prefix}.pdf`), pdf);
  execFileSync('pdftoppm', ['-r', '72', join(dir, `${prefix}.pdf`), join(dir, prefix)], { stdio: 'ignore' });
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix + '-') && f.endsWith('.ppm'))
    .sort((a, b) => Number(/-(\d+)\.ppm$/.exec(a)[1]) - Number(/-(\d+)\.ppm$/.exec(b)[1]))
    .map((f) => join(dir, f));
}

function readPpm(path) {
  const buf = readFileSync(path);
  // P6\n<w> <h>\n<max>\n<data>: four whitespace-separated tokens, then one whitespace byte.
  let pos = 0;
  const tok = [];
  while (tok.length < 4) {
    while (/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    let s = '';
    while (!/\s/.test(String.fromCharCode(buf[pos]))) s += String.fromCharCode(buf[pos++]);
    tok.push(s);
  }
  pos++;
  if (tok[0] !== 'P6' || tok[3] !== '255') throw new Error(`${path}: not an 8-bit P6 PPM`);
  return { w: Number(tok[1]), h: Number(tok[2]), data: buf.subarray(pos) };
}

function comparePdfs(a, b, dir, tag) {
  const pa = ppmPages(a, dir, `${tag}-script`);
  const pb = ppmPages(b, dir, `${tag}-pixelproof`);
  let diff = 0;
  let total = 0;
  const notes = [];
  if (pa.length !== pb.length) notes.push(`pages ${pa.length} vs ${pb.length}`);
  for (let p = 0; p < Math.min(pa.length, pb.length); p++) {
    const x = readPpm(pa[p]);
    const y = readPpm(pb[p]);
    if (x.w !== y.w || x.h !== y.h) {
      notes.push(`page ${p + 1}: ${x.w}x${x.h} vs ${y.w}x${y.h}`);
      continue;
    }
    total += x.w * x.h;
    for (let i = 0; i < x.w * x.h * 3; i += 3) {
      if (x.data[i] !== y.data[i] || x.data[i + 1] !== y.data[i + 1] || x.data[i + 2] !== y.data[i + 2]) diff++;
    }
  }
  return { pagesScript: pa.length, pagesPixelproof: pb.length, diffPixels: diff, totalPixels: total, notes, same: diff === 0 && notes.length === 0 };
}

// ---------- the header ----------

function machine(peers) {
  const git = sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']);
  const pins = readPins(ROOT);
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: Number(sh('nproc', []) ?? cpus().length),
    cpu: cpus()[0]?.model ?? '?',
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    chromium: sh(process.env.PIXELPROOF_CHROMIUM || pins.CHROMIUM_BINARY, ['--version']) ?? '?',
    gitCommit: git ? git + (dirty ? '-dirty' : '') : '?',
    node: process.version,
    binaries: peers.filter((p) => p.kind === 'pixelproof').map((p) => {
      const st = statSync(p.bin);
      // The commit of the tree it was built in, when it is TREE/target/{release,debug}/NAME.
      const tree = resolve(dirname(p.bin), '../..');
      const rev = basename(dirname(dirname(p.bin))) === 'target' ? sh('git', ['-C', tree, 'rev-parse', '--short', 'HEAD']) : null;
      const dirtyBin = rev ? sh('git', ['-C', tree, 'status', '--porcelain', '--untracked-files=no']) : null;
      return {
        name: p.name, path: p.bin, version: p.version(), built: st.mtime.toISOString().replace(/\.\d+Z$/, 'Z'),
        source: rev ? `${tree} @ ${rev}${dirtyBin ? '-dirty' : ''}` : null,
      };
    }),
  };
}

function header(m, o, script) {
  const lines = [
    `pixelproof bench  ${m.date}`,
    `machine   nproc ${m.nproc}, ${m.cpu}, load ${m.loadavg.join(' ')} at start`,
    `chromium  ${m.chromium}${script?.puppeteerVersion ? `; puppeteer-core ${script.puppeteerVersion}, node ${m.node}` : ''}`,
    `git       ${m.gitCommit} (${ROOT})`,
  ];
  for (const b of m.binaries) lines.push(`binary    ${b.name}: ${b.path} (${b.version}, built ${b.built}${b.source ? ' from ' + b.source : ''})`);
  if (o) lines.push(`run       n=${o.n} per cell, warm-up ${o.warmup} per kind per peer, serve --workers ${o.workers}, kinds ${o.kinds.join(',')}, concurrency ${o.concurrency.join(',')}`);
  return lines.join('\n');
}

// ---------- the run ----------

async function run(o) {
  const bins = binaries(o);
  const runStarted = Date.now();
  tmpRoot = mkdtempSync(join(tmpdir(), 'pixelproof-bench-'));
  keepTmp = o.keep;
  const current = bins[bins.length - 1];
  const corpus = new Corpus(o, tmpRoot, current.path);
  const servePeers = bins.map((b) => new ServePeer(b, o, tmpRoot));
  const script = o.script ? new ScriptPeer(o, tmpRoot, corpus.dir) : null;
  const peers = [...(script ? [script] : []), ...servePeers];
  const sampler = new RssSampler(100);

  if (o.soak) return soak(o, servePeers[servePeers.length - 1], corpus, sampler);

  if (o.parity && !sh('sh', ['-c', 'command -v pdftoppm'])) {
    log('bench: pdftoppm not found (Debian: poppler-utils): the parity check is skipped');
    o.parity = false;
  }

  // Prepare the script's documents first (exports are not timed), then start every peer.
  const cellIdx = (c) => Array.from({ length: o.n }, (_, j) => IDX.cell(c) + j);
  const warmIdx = Array.from({ length: o.warmup }, (_, j) => IDX.warm + j);
  const scriptKinds = new Set();
  const notes = [];
  if (script) {
    for (const kind of o.kinds) {
      try {
        log(`bench: preparing the script's ${kind} documents…`);
        await corpus.prepare(kind, [...warmIdx, ...o.concurrency.flatMap(cellIdx)]);
        scriptKinds.add(kind);
      } catch (e) {
        log(`bench: the script cannot print ${kind} documents: ${e.message}`);
        notes.push(`no puppeteer rows for ${kind} (so no ratio): ${e.message}`);
      }
    }
  }
  for (const p of peers) await p.start();
  const m = machine(peers);
  const unverified = Object.fromEntries(servePeers.map((p) => [p.name, p.unverified()]).filter(([, v]) => v.length));
  for (const [name, list] of Object.entries(unverified)) log(`bench: WARNING ${name}: not verified on Chromium at start-up: ${list.join('; ')}`);

  const rows = [];
  const stageRecords = {}; // peer -> kind -> [stages]
  const latencyC1 = {}; // peer -> kind -> [client latency]
  const parityDocs = {}; // kind -> {script: Buffer, [peer]: Buffer}
  const metrics = {};
  const render = [];

  // Runs one cell's loop while watching the peer: peak RSS and PSS of its process tree, and
  // CPU time per document: the machine's busy time less this client's (see machineBusyMs), and
  // the part of it the peer's own process used (serve, or the script's node).
  const measured = async (peer, runLoop) => {
    sampler.reset();
    sampler.watch(peer.name, peer.pid);
    sampler.sample(true);
    const cpu = () => ({ machine: machineBusyMs(), client: process.cpuUsage(), peer: processCpuMs(peer.pid) });
    const before = cpu();
    const loop = await runLoop();
    const after = cpu();
    sampler.sample(true);
    const peak = sampler.peak(peer.name);
    sampler.unwatch(peer.name);
    const docs = Math.max(loop.results.length, 1);
    const clientMs = (after.client.user + after.client.system - before.client.user - before.client.system) / 1000;
    const usage = {
      peakRssMiB: mib(peak?.bytes),
      peakPssMiB: mib(peak?.pss),
      peakProcs: peak?.procs ?? null,
      cpuMsPerDoc: after.machine === null || before.machine === null ? null : (after.machine - before.machine - clientMs) / docs,
      peerProcessCpuMsPerDoc: after.peer === null || before.peer === null ? null : (after.peer - before.peer) / docs,
    };
    return { loop, usage };
  };

  const runCell = async (peer, kind, c, indices, { keepRecords = false, parity = false } = {}) => {
    if (peer.kind === 'script' && !scriptKinds.has(kind)) return null;
    checkStop();
    const bodies = peer.kind === 'pixelproof' ? indices.map((i) => corpus.body(kind, i)) : null;
    const reqs = peer.kind === 'script' ? await Promise.all(indices.map((i) => corpus.scriptDoc(kind, i))) : null;
    const parityOut = parity && peer.kind === 'script' ? join(tmpRoot, `parity-${kind}-script.pdf`) : null;
    const { loop, usage } = await measured(peer, () =>
      closedLoop(c, indices.length, (j) =>
        peer.kind === 'script'
          ? peer.request(j === 0 && parityOut ? { ...reqs[j], out: parityOut } : reqs[j])
          : peer.job(bodies[j], keepRecords || (parity && j === 0)),
      ),
    );
    checkStop();
    const s = cellSummary(loop);
    if (keepRecords) {
      stageRecords[peer.name] ??= {};
      stageRecords[peer.name][kind] = loop.results.filter((r) => r.ok && r.record).map((r) => stagesOf(r.record));
      latencyC1[peer.name] ??= {};
      latencyC1[peer.name][kind] = loop.lat;
    }
    if (parity) {
      parityDocs[kind] ??= {};
      try {
        if (parityOut) parityDocs[kind].script = existsSync(parityOut) ? readFileSync(parityOut) : null;
        else if (loop.results[0]?.ok) parityDocs[kind][peer.name] = await peer.pdf(loop.results[0].id);
      } catch (e) {
        log(`bench: parity: could not get ${peer.name}'s ${kind} PDF: ${e.message}`);
      }
    }
    return { ...s, ...usage };
  };

  for (const p of peers) {
    log(`bench: warming up ${p.name}…`);
    for (const kind of o.kinds) await runCell(p, kind, Math.max(...o.concurrency), warmIdx);
  }

  for (const kind of o.kinds) {
    for (const c of o.concurrency) {
      for (const p of peers) {
        if (p.kind === 'script' && !scriptKinds.has(kind)) continue;
        const first = c === o.concurrency[0];
        const before = first && p.kind === 'pixelproof' && c === 1 ? await p.metrics() : null;
        log(`bench: ${kind} c=${c} ${p.name}…`);
        const cell = await runCell(p, kind, c, cellIdx(c), { keepRecords: c === 1 && p.kind === 'pixelproof', parity: o.parity && first });
        if (before !== null) {
          metrics[p.name] ??= {};
          metrics[p.name][kind] = metricDelta(parseStageMetrics(before), parseStageMetrics(await p.metrics()));
        }
        rows.push({ kind, concurrency: c, peer: p.name, api: p.kind === 'script' ? 'script' : 'jobs', ...cell });
      }
    }
    if (o.render && (kind === 'html-font' || kind === 'invoice')) {
      for (const p of servePeers) {
        checkStop();
        log(`bench: ${kind} POST /v1/render c=1 ${p.name}…`);
        const idx = Array.from({ length: o.n }, (_, j) => IDX.render + j);
        const warm = await p.render(corpus.body(kind, IDX.render - 1));
        if (!warm.ok) log(`bench: warm-up render failed: ${warm.error}`);
        const bodies = idx.map((i) => corpus.body(kind, i));
        const { loop, usage } = await measured(p, () => closedLoop(1, bodies.length, (j) => p.render(bodies[j])));
        const row = { kind, concurrency: 1, peer: p.name, api: 'render', ...cellSummary(loop), ...usage };
        rows.push(row);
        render.push(row);
      }
    }
  }
  sampler.stop();
  checkStop();

  // Ratios: pixelproof docs/s over the script's at the same kind and concurrency; for render
  // rows, the script's p50 at concurrency 1 over pixelproof's.
  for (const r of rows) {
    const s = rows.find((x) => x.api === 'script' && x.kind === r.kind && x.concurrency === r.concurrency);
    if (!s || r.api === 'script') r.ratio = r.api === 'script' ? 1 : null;
    else r.ratio = r.api === 'render' ? s.p50 / r.p50 : r.docsPerSec / s.docsPerSec;
  }

  // Parity.
  const parity = [];
  if (o.parity) {
    const pdir = join(tmpRoot, 'parity');
    mkdirSync(pdir, { recursive: true });
    for (const kind of o.kinds) {
      const d = parityDocs[kind] ?? {};
      for (const p of servePeers) {
        if (!d.script || !d[p.name]) {
          parity.push({ kind, peer: p.name, same: null, notes: [`no ${!d.script ? 'script' : p.name} PDF`] });
          continue;
        }
        try {
          parity.push({ kind, peer: p.name, ...comparePdfs(d.script, d[p.name], pdir, `${kind}-${p.name}`) });
        } catch (e) {
          parity.push({ kind, peer: p.name, same: null, notes: [e.message] });
        }
      }
    }
  }

  // Stages.
  const stages = {};
  for (const [peer, byKind] of Object.entries(stageRecords)) {
    stages[peer] = {};
    for (const [kind, recs] of Object.entries(byKind)) {
      const seen = [];
      for (const r of recs) for (const k of Object.keys(r)) if (!seen.includes(k)) seen.push(k);
      // The pipeline's order first, then any other stage as it appeared, then the job states
      // (which contain the stages above them).
      const rank = (k) => {
        const i = STAGE_ORDER.indexOf(k);
        if (i >= 0) return i;
        const j = STATE_STAGES.indexOf(k);
        return j >= 0 ? 1000 + j : 500 + seen.indexOf(k);
      };
      const keys = [...seen].sort((a, b) => rank(a) - rank(b));
      stages[peer][kind] = keys.map((k) => {
        const v = recs.map((r) => r[k]).filter((x) => typeof x === 'number');
        return { stage: k, n: v.length, meanMs: mean(v), p50Ms: quantile(v, 0.5) };
      });
      const lat = latencyC1[peer]?.[kind] ?? [];
      stages[peer][kind].push({ stage: '(client: submit → settled)', n: lat.length, meanMs: mean(lat), p50Ms: quantile(lat, 0.5) });
    }
  }

  m.seconds = Math.round((Date.now() - runStarted) / 1000);
  for (const [name, list] of Object.entries(unverified)) notes.push(`${name}: not verified on Chromium at start-up, so these jobs do not measure Chromium: ${list.join('; ')}`);
  const result = { notes, meta: { ...m, options: { ...o, json: undefined } }, readyz: Object.fromEntries(servePeers.map((p) => [p.name, { seconds: p.readySecs, body: p.readyz }])), rows, stages, metrics, parity };
  print(result, o, script);
  if (o.json) {
    writeFileSync(o.json, JSON.stringify(result, null, 2) + '\n');
    log(`bench: wrote ${o.json}`);
  }
  for (const p of peers) await p.stop();
}

function print(res, o, script) {
  const out = [header(res.meta, o, script), ''];
  const rowsOut = res.rows.map((r) => [
    r.kind, r.api === 'render' ? '1 (render)' : String(r.concurrency), r.peer, fmt(r.docsPerSec, 2), fmt(r.p50, 0), fmt(r.p95, 0),
    fmt(r.peakRssMiB, 0), fmt(r.peakPssMiB, 0), fmt(r.cpuMsPerDoc, 0), fmt(r.peerProcessCpuMsPerDoc, 0),
    r.ratio === null || r.ratio === undefined ? '—' : r.ratio.toFixed(2), `${r.errors}/${r.n}`,
  ]);
  out.push(table(['kind', 'C', 'peer', 'docs/s', 'p50 ms', 'p95 ms', 'peak RSS MiB', 'PSS', 'CPU ms/doc', 'own', 'ratio', 'err'], rowsOut, ['l', 'l', 'l']));
  out.push('RSS: summed over the tree every 100 ms (shared pages once per process); PSS: shared pages split, every 1 s.');
  out.push("CPU ms/doc: the machine's busy time over the cell less the bench client's, / documents; own: the part the peer's own process used (serve; the script's node), the rest is Chromium's (and WeasyPrint's).");
  out.push('ratio: jobs rows = pixelproof docs/s / puppeteer docs/s (same kind, same C); render rows = puppeteer p50 (C=1) / render p50.');
  for (const n of res.notes) out.push(`NOTE ${n}`);
  const errs = res.rows.filter((r) => r.errors);
  for (const r of errs) out.push(`errors ${r.kind} c=${r.concurrency} ${r.peer} (${r.api}): ${r.errorSamples.join(' | ')}`);

  for (const [peer, byKind] of Object.entries(res.stages)) {
    const kinds = Object.keys(byKind);
    const names = [];
    for (const k of kinds) for (const s of byKind[k]) if (!names.includes(s.stage)) names.push(s.stage);
    const head = ['stage (ms, C=1)', ...kinds.flatMap((k) => [`${k} mean`, 'p50'])];
    const body = names.map((n) => [STATE_STAGES.includes(n) ? `state: ${n}` : n, ...kinds.flatMap((k) => {
      const s = byKind[k].find((x) => x.stage === n);
      return [fmt(s?.meanMs, 0), fmt(s?.p50Ms, 0)];
    })]);
    out.push('', `per-stage breakdown, ${peer} (job records' stages_ms, jobs at C=1; "state:" rows contain the stages above them):`, table(head, body, ['l']));
  }
  const fine = Object.values(res.stages).some((byKind) => Object.values(byKind).some((l) => l.some((s) => STAGE_ORDER.includes(s.stage) && s.stage !== 'queued')));
  for (const [peer, byKind] of Object.entries(fine ? {} : res.metrics)) {
    const lines = Object.entries(byKind).flatMap(([kind, rows]) => rows.map((r) => [kind, r.family, r.stage, String(r.count), fmt(r.meanMs, 1)]));
    if (lines.length) out.push('', `GET /metrics stage histograms, ${peer} (delta over the C=1 cell):`, table(['kind', 'family', 'stage', 'count', 'mean ms'], lines, ['l', 'l', 'l']));
  }
  if (res.parity.length) {
    out.push('', 'parity (one document per kind, pdftoppm -r 72, every pixel compared):');
    for (const p of res.parity) {
      const same = p.same === null ? 'not checked' : p.same ? 'yes' : 'no';
      const px = p.totalPixels ? ` (${p.diffPixels} px of ${p.totalPixels} differ, ${p.pagesScript} vs ${p.pagesPixelproof} pages)` : '';
      out.push(`  ${p.kind.padEnd(10)} puppeteer vs ${p.peer}: same pixels: ${same}${px}${p.notes?.length ? '; ' + p.notes.join('; ') : ''}`);
    }
  }
  const ready = Object.entries(res.readyz).map(([n, r]) => `${n} ready after ${fmt(r.seconds, 0)} s`).join(', ');
  out.push('', `run took ${res.meta.seconds} s (${ready}); load ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end`);
  process.stdout.write(out.join('\n') + '\n');
}

// ---------- soak ----------

async function soak(o, peer, corpus, sampler) {
  sampler.stop();
  await peer.start();
  const m = machine([peer]);
  process.stdout.write(header(m, null, null) + `\nsoak      ${o.soak} html-font jobs at concurrency 2 through POST /v1/jobs, serve --workers ${o.workers}\n\n`);
  for (let j = 0; j < o.warmup; j++) await peer.job(corpus.body('html-font', IDX.warm + j));
  // Checkpoints: job 100 (after warm-up; the window before it is the warm-up), then every 200
  // jobs and the last one. The window mean (RSS every 100 ms since the previous checkpoint) is
  // compared with the first window after job 100; instant RSS and PSS with job 100's.
  const every = 200;
  const baseAt = Math.min(100, o.soak);
  const checkpoints = [];
  const window = [];
  let done = 0;
  let errors = 0;
  const errorSamples = new Set();
  const tick = setInterval(() => window.push(treeRss(peer.pid).bytes), 100);
  const t0 = now();
  let lastT = t0;
  let lastDone = 0;
  const rowsOut = [];
  const pct = (a, b) => (a && b ? `${(((a - b) / b) * 100).toFixed(1)} %` : '—');
  const checkpoint = () => {
    const t = now();
    const r = treeRss(peer.pid);
    const cp = {
      jobs: done, rss: r.bytes, pss: treePss(peer.pid), procs: r.procs, windowMean: mean(window),
      windowPeak: window.length ? Math.max(...window) : NaN, docsPerSec: (done - lastDone) / ((t - lastT) / 1000),
    };
    window.length = 0;
    lastT = t;
    lastDone = done;
    checkpoints.push(cp);
    const base = checkpoints[0];
    const firstWindow = checkpoints[1];
    const line = [
      String(cp.jobs), fmt(mib(cp.rss), 0), fmt(mib(cp.pss), 0), fmt(mib(cp.windowMean), 0), fmt(mib(cp.windowPeak), 0),
      String(cp.procs), fmt(cp.docsPerSec, 2),
      cp === base ? 'base (window: warm-up)' : `${pct(cp.rss, base.rss)} / ${pct(cp.pss, base.pss)} / ${cp === firstWindow ? 'base' : pct(cp.windowMean, firstWindow.windowMean)}`,
    ];
    rowsOut.push(line);
    log(`bench: soak ${line.join('  ')}`);
  };
  let next = 0;
  await Promise.all([0, 1].map(async () => {
    while (true) {
      const j = next++;
      if (j >= o.soak || stopping) return;
      const r = await peer.job(corpus.body('html-font', 100000 + j)).catch((e) => ({ ok: false, error: e.message }));
      if (!r.ok) {
        errors++;
        errorSamples.add(r.error);
      }
      done++;
      if (done === baseAt || (done > baseAt && (done - baseAt) % every === 0) || done === o.soak) {
        if (!checkpoints.length || checkpoints[checkpoints.length - 1].jobs !== done) checkpoint();
      }
    }
  }));
  clearInterval(tick);
  checkStop();
  const base = checkpoints[0];
  const first = checkpoints[1];
  const last = checkpoints[checkpoints.length - 1];
  const change = (k, from) => (from && last !== from ? ((last[k] - from[k]) / from[k]) * 100 : NaN);
  const drift = first ? Math.max(...checkpoints.slice(1).map((c) => Math.abs((c.windowMean - first.windowMean) / first.windowMean) * 100)) : NaN;
  const result = {
    changePercent: { windowMean: change('windowMean', first), windowMaxDrift: drift, rss: change('rss', base), pss: change('pss', base) },
  };
  const total = (now() - t0) / 1000;
  const lines = [
    table(['jobs', 'RSS MiB', 'PSS MiB', 'window mean', 'window peak', 'procs', 'docs/s', `vs job ${baseAt}: RSS / PSS / window`], rowsOut, []),
    '(RSS, PSS: at the checkpoint; window: RSS every 100 ms since the previous line, compared with the first window after job ' + baseAt + ')',
    `RSS change (window means, jobs ${baseAt}–${first?.jobs ?? '—'} → the last window): ${fmt(result.changePercent.windowMean, 1)} %; ` +
      `largest window drift ${fmt(drift, 1)} %; target: within 10 %`,
    `(instant RSS/PSS at checkpoints swing with renderer processes coming and going, ${Math.min(...checkpoints.map((c) => c.procs))}–` +
      `${Math.max(...checkpoints.map((c) => c.procs))} processes: job ${base?.jobs} → ${last?.jobs} ${fmt(result.changePercent.rss, 1)} % RSS, ${fmt(result.changePercent.pss, 1)} % PSS)`,
    `${done} jobs in ${total.toFixed(0)} s (${(done / total).toFixed(2)} docs/s), ${errors} not done${errorSamples.size ? ': ' + [...errorSamples].slice(0, 3).join(' | ') : ''}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (o.json) {
    writeFileSync(o.json, JSON.stringify({ meta: m, soak: { jobs: o.soak, checkpoints, ...result, errors, seconds: total } }, null, 2) + '\n');
    log(`bench: wrote ${o.json}`);
  }
  await peer.stop();
}

// ---------- main ----------

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    log(`bench: ${e.message}\n(scripts/bench --help lists the options)`);
    process.exit(2);
  }
  if (process.env.BENCH_CHECK_ARGS_ONLY) return; // scripts/bench: bad options fail before a build
  if (o.help) {
    process.stdout.write(HELP + '\n');
    return;
  }
  try {
    await run(o);
  } catch (e) {
    if (stopping) return cleanup(); // the signal handler exits once everything is stopped
    log(`bench: ${e instanceof Fatal ? e.message : e?.stack ?? e}`);
    await cleanup();
    process.exit(1);
  }
  await cleanup();
}

main();
