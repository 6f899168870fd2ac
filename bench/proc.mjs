// Process trees under test: their summed RSS and CPU time, and ending them (only what bench.mjs started).

import { existsSync, readFileSync, readdirSync } from 'node:fs';

const PAGE = 4096;

function read(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** {state, ppid, cpuTicks, start} of a process (start = field 22 of /proc/PID/stat, to tell a reused PID). */
export function procStat(pid) {
  const s = read(`/proc/${pid}/stat`);
  if (!s) return null;
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // Fields 3, 4, 14 + 15 (utime + stime, in clock ticks) and 22.
  return { state: rest[0], ppid: Number(rest[1]), cpuTicks: Number(rest[11]) + Number(rest[12]), start: rest[19] };
}

// /proc/PID/task/TID/children exists with CONFIG_PROC_CHILDREN (Debian's kernels have it);
// reading it walks only our tree. Without it, every process's parent is read.
const HAS_CHILDREN_FILE = existsSync(`/proc/${process.pid}/task/${process.pid}/children`);

function childrenOf(pid) {
  const out = [];
  if (HAS_CHILDREN_FILE) {
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {}
    for (const tid of tasks) {
      const c = read(`/proc/${pid}/task/${tid}/children`);
      if (c) for (const p of c.trim().split(/\s+/)) if (p) out.push(Number(p));
    }
    return out;
  }
  for (const name of readdirSync('/proc')) {
    if (/^\d+$/.test(name) && procStat(name)?.ppid === pid) out.push(Number(name));
  }
  return out;
}

/** The PIDs of `root` and all its descendants that exist now. */
export function tree(root) {
  const out = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop();
    if (!read(`/proc/${pid}/stat`)) continue;
    out.push(pid);
    todo.push(...childrenOf(pid));
  }
  return out;
}

/** Resident bytes of one process (statm: cheap to read every 100 ms). */
export function rssBytes(pid) {
  const s = read(`/proc/${pid}/statm`);
  if (!s) return 0;
  return Number(s.split(' ')[1]) * PAGE;
}

/** Summed RSS of a tree and how many processes it has. Shared pages count once per process. */
export function treeRss(root) {
  const pids = tree(root);
  let bytes = 0;
  for (const p of pids) bytes += rssBytes(p);
  return { bytes, procs: pids.length };
}

/** Clock ticks a second in /proc (USER_HZ: 100 on Linux x86-64 and arm64). */
const TICKS = 100;

/** User + system CPU time one process has used so far, ms (its children not included). */
export function processCpuMs(pid) {
  const st = procStat(pid);
  return st ? (st.cpuTicks * 1000) / TICKS : null;
}

/**
 * CPU time the whole machine has spent busy so far, ms, summed over its cores (/proc/stat:
 * user, nice, system, irq, softirq, steal).
 *
 * Why not the peer's process tree: Chromium's processes come and go (a renderer per document,
 * a browser replaced after so many documents), and a process that is not reaped inside the
 * tree takes its CPU time with it. While one peer runs and the machine is otherwise quiet, the
 * machine's busy time less the bench's own is that peer's.
 */
export function machineBusyMs() {
  const line = read('/proc/stat')?.split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 8) return null;
  const [user, nice, system, , , irq, softirq, steal] = f;
  return ((user + nice + system + irq + softirq + steal) * 1000) / TICKS;
}

/** Proportional set size of a tree (shared pages split between the processes that map them).
 *  smaps_rollup walks each process's mappings (about 1.5 ms a Chromium process here): read it
 *  every second, not every 100 ms. */
export function treePss(root) {
  let kb = 0;
  for (const p of tree(root)) {
    const s = read(`/proc/${p}/smaps_rollup`);
    const m = s && /^Pss:\s+(\d+)/m.exec(s);
    if (m) kb += Number(m[1]);
  }
  return kb * 1024;
}

/**
 * Samples the trees of named roots every `everyMs` (RSS) and every `pssEvery` samples (PSS);
 * `peak(name)` since the last `reset()`.
 */
export class RssSampler {
  constructor(everyMs = 100, pssEvery = 10) {
    this.roots = new Map(); // name -> pid
    this.peaks = new Map();
    this.pss = new Map();
    this.pssEvery = pssEvery;
    this.count = 0;
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }
  watch(name, pid) {
    this.roots.set(name, pid);
  }
  unwatch(name) {
    this.roots.delete(name);
  }
  sample(withPss = false) {
    const pss = withPss || ++this.count % this.pssEvery === 0;
    for (const [name, pid] of this.roots) {
      const r = treeRss(pid);
      const p = this.peaks.get(name);
      if (!p || r.bytes > p.bytes) this.peaks.set(name, r);
      if (pss) this.pss.set(name, Math.max(this.pss.get(name) ?? 0, treePss(pid)));
    }
  }
  reset() {
    this.peaks.clear();
    this.pss.clear();
  }
  /** {bytes, procs, pss} at the highest RSS seen (pss: the highest PSS seen). */
  peak(name) {
    const p = this.peaks.get(name);
    return p ? { ...p, pss: this.pss.get(name) ?? null } : null;
  }
  stop() {
    clearInterval(this.timer);
  }
}

/** A snapshot of a tree with start times, so a later kill hits the same processes only. */
export function snapshot(root) {
  return tree(root)
    .map((pid) => ({ pid, start: procStat(pid)?.start }))
    .filter((p) => p.start);
}

export function alive({ pid, start }) {
  const st = procStat(pid);
  return !!st && st.start === start && st.state !== 'Z';
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {}
}

/**
 * Ends a process we started and everything under it: SIGTERM to its process group (it was
 * spawned detached, so it leads one), wait up to `graceMs`, then SIGKILL the group and any
 * process of the tree (as it was before) still alive. Processes outside that tree are never
 * touched.
 */
export async function endTree(pid, graceMs = 10000) {
  const procs = snapshot(pid);
  signal(-pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (Date.now() < until && procs.some(alive)) await new Promise((r) => setTimeout(r, 100));
  const left = procs.filter(alive);
  if (left.length) {
    signal(-pid, 'SIGKILL');
    for (const p of left) signal(p.pid, 'SIGKILL');
  }
  return left.length;
}

/** The synchronous last resort (process 'exit' handlers cannot wait). */
export function killTreeNow(pid) {
  const procs = snapshot(pid);
  signal(-pid, 'SIGKILL');
  for (const p of procs) signal(p.pid, 'SIGKILL');
}
