// Reference runner for pixelproof's pixelmatch parity tests (tests/it/pixelmatch_parity.rs).
//
// Runs the npm package pixelmatch, pinned to 7.2.0 in package-lock.json, on the cases of a job
// file and prints one JSON object per line: {"id", "diff", "width", "height", "sha256"} or
// {"id", "error"}.
//
// Set-up (once): npm ci --prefix tests/it/support/pixelmatch-ref
//
// Usage:
//   node run.mjs JOB.json
//     JOB.json = {"cases": [{"id", "a", "b", "format": "rgba" | "png", "width", "height",
//                            "options": {...pixelmatch options...}, "output": bool, "fill": 0..255,
//                            "write": path | null}]}
//     "rgba" files are raw RGBA8 pixels (width and height come from the case); "png" files are
//     decoded with pngjs (width and height come from the first file). With "output", pixelmatch
//     draws into a Uint8Array filled with "fill"; "sha256" is that buffer's hash, and "write"
//     saves it as raw RGBA8.
//   node run.mjs --bench A.rgba B.rgba WIDTH HEIGHT ITERATIONS
//     prints {"ms_per_call", "diff"}: the mean time of one pixelmatch call (no output image).

import fs from 'node:fs';
import {createHash} from 'node:crypto';
import {PNG} from 'pngjs';
import pixelmatch from 'pixelmatch';

const require = (await import('node:module')).createRequire(import.meta.url);
const version = require('pixelmatch/package.json').version;
if (version !== '7.2.0') {
    console.error(`pixelmatch ${version} is installed but the parity tests need 7.2.0: run npm ci --prefix tests/it/support/pixelmatch-ref`);
    process.exit(3);
}

const args = process.argv.slice(2);

if (args[0] === '--bench') {
    const [, aPath, bPath, w, h, n] = args;
    const a = new Uint8Array(fs.readFileSync(aPath));
    const b = new Uint8Array(fs.readFileSync(bPath));
    const iterations = Number(n);
    let diff = pixelmatch(a, b, null, Number(w), Number(h)); // warm-up
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) diff = pixelmatch(a, b, null, Number(w), Number(h));
    const ms = Number(process.hrtime.bigint() - start) / 1e6 / iterations;
    console.log(JSON.stringify({ms_per_call: ms, diff}));
    process.exit(0);
}

if (args.length !== 1) {
    console.error('usage: node run.mjs JOB.json | node run.mjs --bench A.rgba B.rgba WIDTH HEIGHT ITERATIONS');
    process.exit(2);
}

const job = JSON.parse(fs.readFileSync(args[0], 'utf8'));
const cache = new Map();

function load(path, format) {
    const key = `${format}:${path}`;
    if (!cache.has(key)) {
        const bytes = fs.readFileSync(path);
        if (format === 'png') {
            const png = PNG.sync.read(bytes);
            cache.set(key, {data: new Uint8Array(png.data), width: png.width, height: png.height});
        } else {
            cache.set(key, {data: new Uint8Array(bytes)});
        }
    }
    return cache.get(key);
}

const lines = [];
for (const c of job.cases) {
    try {
        const a = load(c.a, c.format);
        const b = load(c.b, c.format);
        const width = c.format === 'png' ? a.width : c.width;
        const height = c.format === 'png' ? a.height : c.height;
        const output = c.output ? new Uint8Array(a.data.length).fill(c.fill ?? 0) : null;
        const diff = pixelmatch(a.data, b.data, output, width, height, c.options);
        const sha256 = output ? createHash('sha256').update(output).digest('hex') : null;
        if (output && c.write) fs.writeFileSync(c.write, output);
        lines.push(JSON.stringify({id: c.id, diff, width, height, sha256}));
    } catch (e) {
        lines.push(JSON.stringify({id: c.id, error: String(e && e.message || e)}));
    }
}
process.stdout.write(lines.join('\n') + '\n');
