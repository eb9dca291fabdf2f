// What every training command shares: where its run directory is (--out, or the newest run of the task for
// --resume, or runs/<task>-<timestamp>) and how it prints counts, durations and paths.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { latestCheckpoint } from '../index.js';

function timestamp(): string {
  const d = new Date();
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function taskOf(dir: string): string | null {
  try {
    return (JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { task?: string }).task ?? 'pretrain';
  } catch {
    return null;
  }
}

/** The most recently checkpointed runs/* directory of this task (for --resume without --out). */
async function newestRun(task: string): Promise<string | null> {
  if (!existsSync('runs')) return null;
  const dirs = readdirSync('runs')
    .map((n) => join('runs', n))
    .filter((p) => statSync(p).isDirectory() && existsSync(join(p, 'checkpoints')) && taskOf(p) === task)
    .sort((a, b) => statSync(join(b, 'checkpoints')).mtimeMs - statSync(join(a, 'checkpoints')).mtimeMs);
  for (const d of dirs) if (await latestCheckpoint(join(d, 'checkpoints'))) return d;
  return null;
}

/** --out as given; with --resume and no --out, the newest run of the task; else runs/<task>-<timestamp>. */
export async function runDirectory(o: { out?: string; resume?: boolean }, task: string): Promise<string> {
  if (o.out) return o.out;
  if (o.resume) {
    const found = await newestRun(task);
    if (!found) throw new Error(`--resume: no ${task} run with a checkpoint under runs/; give --out DIR`);
    process.stderr.write(`resuming the newest run: ${found}\n`);
    return found;
  }
  return join('runs', `${task}-${timestamp()}`);
}

export function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  const m = Math.round(t / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** 1,234,567 */
export const count = (x: number) => x.toLocaleString('en-US');

/** Relative to the working directory when inside it, else absolute. */
export function shortPath(p: string): string {
  const r = relative('.', p);
  return r === '' ? '.' : r.startsWith('..') || isAbsolute(r) ? p : r;
}
