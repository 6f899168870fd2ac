#!/usr/bin/env node
// The peer of scripts/bench: what a team would write to turn HTML into PDF with puppeteer-core
// on the pinned Chromium (pins.env's CHROMIUM_BINARY, the headless shell). One browser; per
// document a fresh browser context and page, the document loaded (setContent for a bare HTML
// file, goto a tiny local server for a document with assets), `document.fonts.ready` awaited,
// `page.pdf()`, the context closed. No verification of what it printed.
//
// Fairness with pixelproof: Chromium sees the same fonts (FONTCONFIG_FILE naming a fonts.conf
// that lists only the repo's fonts/), gets --font-render-hinting=none as pixelproof's browsers
// do (without it glyphs shift by subpixels), and prints with the same Page.printToPDF
// parameters (a saved document's print.json, or pixelproof's defaults for an HTML job on A4).
//
// Two ways to run it:
//   node bench/puppeteer.mjs --out DIR FILE.html|SAVED_DIR...   print each to DIR/NAME.pdf
//   node bench/puppeteer.mjs --stdio --docroot DIR              what bench.mjs drives: one JSON
//       request a line on stdin, {"id", "html": FILE} or {"id", "dir": NAME under --docroot},
//       optional "out": FILE.pdf (else the PDF is dropped); one JSON answer a line on stdout,
//       {"id", "ok", "ms", "bytes"} or {"id", "ok": false, "error"}. Requests run concurrently:
//       the caller decides how many are in flight.
// Options: --fontconfig FILE (default: a fonts.conf listing the repo's fonts/, written to a
// temp dir), --chromium PATH (default: CHROMIUM_BINARY from pins.env).

import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const HELP = `usage: node bench/puppeteer.mjs --out DIR FILE.html|SAVED_DIR...
       node bench/puppeteer.mjs --stdio [--docroot DIR]
Prints documents with puppeteer-core on the pinned Chromium, one browser, a context per document.
  FILE.html    printed with setContent on A4, 10 mm margins (pixelproof's HTML-job defaults)
  SAVED_DIR    a document saved by \`pixelproof render --save-document SAVED_DIR\`: served from
               127.0.0.1, printed with its print.json
  --out DIR    where NAME.pdf go
  --stdio      JSON requests on stdin, answers on stdout (what bench/bench.mjs drives)
  --fontconfig FILE  (default: one listing only the repo's fonts/)
  --chromium PATH    (default: CHROMIUM_BINARY in pins.env)`;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// pixelproof's print parameters for an HTML job with {"paper": "A4"} (see docs.mjs).
const HTML_PRINT = {
  paperWidth: 8.27, paperHeight: 11.69,
  marginTop: 10 / 25.4, marginBottom: 10 / 25.4, marginLeft: 10 / 25.4, marginRight: 10 / 25.4,
  landscape: false, scale: 1, printBackground: true, preferCSSPageSize: true, displayHeaderFooter: false,
};

export function readPins(root = ROOT) {
  const pins = {};
  for (const line of readFileSync(join(root, 'pins.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) pins[m[1]] = m[2];
  }
  return pins;
}

/** A fontconfig file that lists only the repo's fonts/ (what pixelproof gives Chromium). */
export function writeFontconfig(dir, fontsDir = join(ROOT, 'fonts')) {
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const alias = (generic, fams) =>
    `  <alias binding="strong"><family>${generic}</family><prefer>${fams.map((f) => `<family>${f}</family>`).join('')}</prefer></alias>\n`;
  const conf =
    '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n' +
    `  <dir>${esc(resolve(fontsDir))}</dir>\n  <cachedir>${esc(join(dir, 'fontconfig-cache'))}</cachedir>\n` +
    alias('sans-serif', ['DejaVu Sans', 'Noto Sans Arabic']) +
    alias('serif', ['DejaVu Serif', 'Noto Naskh Arabic']) +
    alias('monospace', ['DejaVu Sans Mono', 'DejaVu Sans']) +
    alias('system-ui', ['DejaVu Sans', 'Noto Sans Arabic']) +
    '</fontconfig>\n';
  const path = join(dir, 'fonts.conf');
  writeFileSync(path, conf);
  return path;
}

/** page.pdf() options from Page.printToPDF parameters (camelCase CDP names, inches). */
export function pdfOptions(p) {
  const inch = (v) => `${v}in`;
  const o = {
    width: inch(p.paperWidth ?? 8.5),
    height: inch(p.paperHeight ?? 11),
    margin: {
      top: inch(p.marginTop ?? 0.4), bottom: inch(p.marginBottom ?? 0.4),
      left: inch(p.marginLeft ?? 0.4), right: inch(p.marginRight ?? 0.4),
    },
    landscape: !!p.landscape,
    scale: p.scale ?? 1,
    printBackground: !!p.printBackground,
    preferCSSPageSize: !!p.preferCSSPageSize,
    displayHeaderFooter: !!p.displayHeaderFooter,
  };
  if (p.headerTemplate !== undefined) o.headerTemplate = p.headerTemplate;
  if (p.footerTemplate !== undefined) o.footerTemplate = p.footerTemplate;
  if (p.pageRanges) o.pageRanges = p.pageRanges;
  return o;
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg',
  '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf', '.json': 'application/json',
};

/** A static file server for DOCROOT on 127.0.0.1 (a random port). */
function serveDir(docroot) {
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      const file = resolve(docroot, '.' + path);
      if (!file.startsWith(resolve(docroot) + sep)) throw new Error('outside');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

export async function launch({ chromium, fontconfig }) {
  const args = ['--font-render-hinting=none'];
  if (process.getuid?.() === 0) args.push('--no-sandbox'); // Chromium refuses to run its sandbox as root
  return puppeteer.launch({
    executablePath: chromium,
    headless: 'shell',
    args,
    env: { ...process.env, FONTCONFIG_FILE: fontconfig },
  });
}

/** Prints one document; answers the PDF's bytes. */
export async function print(browser, doc, base) {
  const context = await browser.createBrowserContext();
  try {
    const page = await context.newPage();
    let params;
    if (doc.html !== undefined) {
      const html = await readFile(doc.html, 'utf8');
      await page.setContent(html, { waitUntil: 'load' });
      params = HTML_PRINT;
    } else {
      params = JSON.parse(await readFile(join(doc.docroot, doc.dir, 'print.json'), 'utf8'));
      await page.goto(`${base}/${encodeURI(doc.dir)}/index.html`, { waitUntil: 'load' });
    }
    await page.evaluate(() => document.fonts.ready.then(() => undefined));
    return await page.pdf(pdfOptions(params));
  } finally {
    await context.close();
  }
}

function args(argv) {
  const o = { docs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--stdio') o.stdio = true;
    else if (a === '--docroot') o.docroot = resolve(val());
    else if (a === '--out') o.out = resolve(val());
    else if (a === '--fontconfig') o.fontconfig = resolve(val());
    else if (a === '--chromium') o.chromium = val();
    else if (a === '-h' || a === '--help') o.help = true;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else o.docs.push(resolve(a));
  }
  return o;
}

async function main() {
  let o;
  try {
    o = args(process.argv.slice(2));
  } catch (e) {
    console.error(`puppeteer.mjs: ${e.message} (see --help)`);
    process.exit(2);
  }
  if (o.help || (!o.stdio && (!o.out || o.docs.length === 0))) {
    console.error(HELP);
    process.exit(o.help ? 0 : 2);
  }
  const chromium = o.chromium ?? readPins().CHROMIUM_BINARY;
  let tmp;
  if (!o.fontconfig) {
    tmp = mkdtempSync(join(tmpdir(), 'pixelproof-peer-'));
    o.fontconfig = writeFontconfig(tmp);
  }
  const browser = await launch({ chromium, fontconfig: o.fontconfig });
  const cleanup = async () => {
    await browser.close().catch(() => {});
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  };
  try {
    if (o.stdio) {
      await stdio(browser, o);
    } else {
      const groups = new Map(); // docroot -> server
      for (const path of o.docs) {
        const isDir = statSync(path).isDirectory();
        const doc = isDir ? { docroot: dirname(path), dir: basename(path) } : { html: path };
        let base;
        if (isDir) {
          if (!groups.has(doc.docroot)) groups.set(doc.docroot, await serveDir(doc.docroot));
          base = `http://127.0.0.1:${groups.get(doc.docroot).address().port}`;
        }
        const started = performance.now();
        const pdf = await print(browser, doc, base);
        const out = join(o.out, basename(path).replace(/\.html?$/, '') + '.pdf');
        writeFileSync(out, pdf);
        console.error(`wrote ${out}: ${pdf.length} bytes, ${(performance.now() - started).toFixed(0)} ms`);
      }
      for (const s of groups.values()) s.close();
    }
  } finally {
    await cleanup();
  }
}

async function stdio(browser, o) {
  const server = o.docroot ? await serveDir(o.docroot) : null;
  const base = server ? `http://127.0.0.1:${server.address().port}` : undefined;
  const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  send({ ready: true, browser: await browser.version(), pid: process.pid });
  const inflight = new Set();
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const req = JSON.parse(line);
    const job = (async () => {
      const started = performance.now();
      try {
        const pdf = await print(browser, { ...req, docroot: o.docroot }, base);
        if (req.out) writeFileSync(req.out, pdf);
        send({ id: req.id, ok: true, ms: performance.now() - started, bytes: pdf.length });
      } catch (e) {
        send({ id: req.id, ok: false, error: String(e?.message ?? e) });
      }
    })();
    inflight.add(job);
    job.finally(() => inflight.delete(job));
  }
  await Promise.all(inflight);
  server?.close();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`puppeteer.mjs: ${e?.stack ?? e}`);
    process.exit(1);
  });
}
