// A task's run directory: created and proven writable before any work, an existing run refused unless
// resuming, the checkpoint to continue read once, run.json, and the final model swapped in atomically.
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../io/atomic.js';
import type { GPTModel } from '../models/gpt/gpt.js';
import { saveGPT2 } from '../models/gpt/gpt2-weights.js';
import { latestCheckpoint, readTrainingState, type SavePhase, type TrainingState } from './checkpoint.js';
import type { TrainerHooks } from './trainer.js';

/** Output hooks every task accepts (its progress display and messages are the caller's). */
export type RunHooks = TrainerHooks & {
  /** Test hook between the stages of each checkpoint save. */
  checkpointPhase?: (phase: SavePhase, dir: string) => void | Promise<void>;
};

export interface OpenRun {
  outDir: string;
  /** The checkpoint to continue from, when resuming. */
  checkpoint: string | null;
  state: TrainingState | null;
  writeRunJson(info: Record<string, unknown>): Promise<void>;
}

/** Create dir if needed and prove it is writable, before any training time is spent. */
export async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(`output directory ${dir} cannot be created: ${(e as Error).message}`);
  }
  const probe = join(dir, `.gptkit-write-test-${process.pid}`);
  try {
    await writeFile(probe, 'ok');
    await unlink(probe);
  } catch (e) {
    throw new Error(`output directory ${dir} is not writable: ${(e as Error).message}`);
  }
}

/** Open (or continue) the run in outDir for `task`. */
export async function openRun(out: string, o: { resume?: boolean; task: string }): Promise<OpenRun> {
  const outDir = resolve(out);
  await ensureWritableDir(outDir);
  const checkpoint = await latestCheckpoint(join(outDir, 'checkpoints'));
  if (checkpoint && !o.resume)
    throw new Error(
      `${outDir} already holds a training run (checkpoint ${checkpoint}); continue it with --resume, or choose another --out`,
    );
  if (o.resume && !checkpoint)
    throw new Error(
      `--resume: ${outDir} has no checkpoint to continue (looked in ${join(outDir, 'checkpoints')})`,
    );
  const state = checkpoint ? await readTrainingState(checkpoint) : null;
  if (state && state.task !== o.task)
    throw new Error(`cannot resume ${checkpoint} as ${o.task}: it is a ${state.task} run`);
  return {
    outDir,
    checkpoint,
    state,
    writeRunJson: (info) =>
      writeFileAtomic(
        join(outDir, 'run.json'),
        JSON.stringify(
          { task: o.task, ...info, startedAt: new Date().toISOString(), resumedFrom: checkpoint },
          null,
          2,
        ) + '\n',
      ),
  };
}

/**
 * Open the run and do `body` in it. A run directory this call created is removed again when the body
 * fails before the first checkpoint: a failed start leaves nothing behind.
 */
export async function inRun<T>(
  out: string,
  o: { resume?: boolean; task: string },
  body: (run: OpenRun) => Promise<T>,
): Promise<T> {
  const existed = existsSync(resolve(out));
  const run = await openRun(out, o);
  try {
    return await body(run);
  } catch (e) {
    if (!existed && !(await latestCheckpoint(join(run.outDir, 'checkpoints'))))
      await rm(run.outDir, { recursive: true, force: true });
    throw e;
  }
}

/** Write a model directory into a temp directory, then swap it in: dir holds the old model or the new one. */
export async function writeModelDir(
  model: GPTModel,
  dir: string,
  write: (tmp: string) => Promise<void> = (tmp) => saveGPT2(model, tmp),
): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await write(tmp);
  await fsyncDir(tmp);
  if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}
