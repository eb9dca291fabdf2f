// Training checkpoints of every task: versioned directories ROOT/step-000085/ (every parameter of the model
// in model.safetensors: the Hugging Face GPT-2 layout plus whatever it has no name for, such as LoRA
// adapters; optimizer moments in safetensors; state.json) and a pointer ROOT/latest.json that is replaced
// atomically only after the new directory is complete and fsynced. A crash at any point leaves the
// previous checkpoint usable. A step directory of a plain model also loads with loadGPT2.
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../io/atomic.js';
import { readSafetensors, saveSafetensors } from '../io/safetensors.js';
import { configToHF, type GPTConfig } from '../models/gpt/config.js';
import { GPTModel } from '../models/gpt/gpt.js';
import { modelTensors, placeModelTensors } from '../models/gpt/gpt2-weights.js';
import { withoutInit } from '../nn/layers.js';
import { applyLoRA, type LoRAOptions } from '../nn/lora.js';
import type { Optimizer } from '../optim/index.js';

export const CHECKPOINT_FORMAT = 'gptkit-training-checkpoint';
export const CHECKPOINT_VERSION = 2;
const POINTER = 'latest.json';
const STATE = 'state.json';
const OPTIMIZER = 'optimizer.safetensors';
const STEP_DIR = /^step-(\d+)$/;

/** One evaluation, as logged to metrics.jsonl and kept in the checkpoint's history. */
export interface MetricRecord {
  /** The book's global_step: 0-based index of the optimizer step just taken. */
  step: number;
  /** 1-based epoch, as printed ("Ep 1"). */
  epoch: number;
  /** Epochs completed so far, fractional (x axis of the loss plot). */
  epochProgress: number;
  tokensSeen: number;
  trainLoss: number;
  valLoss: number;
  lr: number;
  /** Seconds of training so far (continues across resumes). */
  elapsed: number;
  /** A task's other figures of the evaluation (DPO: rewards). */
  values?: Record<string, number>;
}

/** A task's summary of one epoch (accuracies, ...), as logged to metrics.jsonl with kind "epoch". */
export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  /** Optimizer steps completed at the end of the epoch. */
  step: number;
  tokensSeen: number;
  values: Record<string, number>;
  elapsed: number;
}

/** How to rebuild a trained model's structure before its weights are loaded. */
export interface ModelStructure {
  /** The architecture (a classifier has numClasses). */
  config: GPTConfig;
  /** LoRA layers on every Linear. */
  lora?: Required<Pick<LoRAOptions, 'rank' | 'alpha' | 'scaling'>>;
  /** Names of the trainable parameters (every other one is frozen). */
  trainable: string[];
  /** A classifier's class names. */
  labels?: string[];
}

/** Build a model of this structure with uninitialised weights (they are loaded next). */
export function buildModelSkeleton(structure: ModelStructure): GPTModel {
  const model = withoutInit(() => {
    const m = new GPTModel(structure.config);
    if (structure.lora) applyLoRA(m, structure.lora);
    return m;
  });
  const trainable = new Set(structure.trainable);
  for (const [name, p] of model.namedParameters()) p.requiresGrad = trainable.has(name);
  return model;
}

/** The structure of a model as it stands (for checkpoints). */
export function modelStructure(
  model: GPTModel,
  extra: { lora?: ModelStructure['lora']; labels?: string[] } = {},
): ModelStructure {
  return {
    config: { ...model.cfg },
    ...extra,
    trainable: model
      .namedParameters()
      .filter(([, p]) => p.requiresGrad)
      .map(([n]) => n),
  };
}

/** Everything besides weights and optimizer moments that an exact resume needs. */
export interface TrainingState {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** The task that wrote it: 'pretrain', 'classifier', ... */
  task: string;
  structure: ModelStructure;
  /** Optimizer steps completed (the book's global_step + 1). */
  step: number;
  /** 0-based epoch the data loader stands in, and batches it has consumed in that epoch. */
  epoch: number;
  batchInEpoch: number;
  /** DataLoader.state() of the training loader. */
  loader: unknown;
  /** globalRng.getState() (dropout masks continue from here). */
  rng: number[];
  tokensSeen: number;
  elapsedSeconds: number;
  /** The run's training options (JSON values only). */
  options: Record<string, unknown>;
  /** Identifies the training data, so a resume on other data is refused. */
  data: Record<string, unknown>;
  optimizer: { name: string; stepCount: number };
  history: MetricRecord[];
  epochs: EpochRecord[];
  savedAt: string;
}

/** Test hook: called between the stages of a save (to kill a process at a precise point). */
export type SavePhase = 'weights' | 'optimizer' | 'state' | 'renamed' | 'pointer';

export interface SaveCheckpointOptions {
  /** Checkpoint directories to keep (newest by step); older ones are deleted after the pointer moves. Default 1. */
  keep?: number;
  onPhase?: (phase: SavePhase, dir: string) => void | Promise<void>;
}

export function stepDirName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

// JSON has no NaN: the RNG's "no spare normal" marker and NaN losses travel as null.
function encodeState(state: TrainingState): string {
  return (
    JSON.stringify(state, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) +
    '\n'
  );
}

function decodeState(text: string, path: string): TrainingState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const s = raw as TrainingState;
  if (!s || s.format !== CHECKPOINT_FORMAT) throw new Error(`${path}: not a gptkit training checkpoint`);
  if (s.version !== CHECKPOINT_VERSION)
    throw new Error(
      `${path}: checkpoint version ${s.version}, this gptkit reads version ${CHECKPOINT_VERSION}`,
    );
  s.rng = s.rng.map((x) => (x === null ? NaN : x));
  s.epochs ??= [];
  for (const r of s.history) {
    r.trainLoss ??= NaN;
    r.valLoss ??= NaN;
  }
  return s;
}

async function fsyncFile(path: string): Promise<void> {
  const h = await open(path, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** True when every parameter is finite (a diverged model is never saved over a good checkpoint). */
export function parametersFinite(model: GPTModel): boolean {
  for (const p of model.parameters()) {
    const d = p.data;
    for (let i = p.offset, end = p.offset + p.size; i < end; i++) if (!Number.isFinite(d[i])) return false;
  }
  return true;
}

/**
 * Write a checkpoint under root and point latest.json at it. The directory is assembled under a temporary
 * name, every file and the directory are fsynced, then it is renamed into place, and only then does the
 * pointer move (itself an atomic replace). Returns the checkpoint directory.
 */
export async function saveCheckpoint(
  root: string,
  model: GPTModel,
  optimizer: Optimizer,
  state: Omit<TrainingState, 'format' | 'version' | 'savedAt' | 'optimizer'>,
  opts: SaveCheckpointOptions = {},
): Promise<string> {
  const keep = opts.keep ?? 1;
  if (!parametersFinite(model)) {
    throw new Error(`refusing to save a checkpoint at step ${state.step}: the model has non-finite weights`);
  }
  const name = stepDirName(state.step);
  const finalDir = join(root, name);
  const tmpDir = join(root, `.${name}.tmp-${process.pid}`);
  await rm(tmpDir, { recursive: true, force: true });
  await mkdir(tmpDir, { recursive: true });
  await saveSafetensors(join(tmpDir, 'model.safetensors'), modelTensors(model), { format: 'pt' }); // fsynced
  const hfConfig = configToHF(model.cfg, { labels: state.structure.labels });
  await writeFile(join(tmpDir, 'config.json'), JSON.stringify(hfConfig, null, 2) + '\n');
  await fsyncFile(join(tmpDir, 'config.json'));
  await opts.onPhase?.('weights', tmpDir);
  const moments = [...optimizer.stateArrays()].map(([key, data]) => ({
    name: key,
    shape: [data.length],
    data,
  }));
  await saveSafetensors(join(tmpDir, OPTIMIZER), moments, { format: 'gptkit-optimizer' });
  await opts.onPhase?.('optimizer', tmpDir);
  const full: TrainingState = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    ...state,
    optimizer: { name: optimizer.constructor.name, stepCount: optimizer.stepCount },
    savedAt: new Date().toISOString(),
  };
  await writeFileAtomic(join(tmpDir, STATE), encodeState(full));
  await fsyncDir(tmpDir);
  await opts.onPhase?.('state', tmpDir);
  // A directory of this name can only be a leftover the pointer never reached (a crash after the rename
  // of a run that was then resumed from an older checkpoint): replace it.
  if (existsSync(finalDir)) await rm(finalDir, { recursive: true, force: true });
  await rename(tmpDir, finalDir);
  await fsyncDir(root);
  await opts.onPhase?.('renamed', finalDir);
  await writeFileAtomic(
    join(root, POINTER),
    JSON.stringify({ dir: name, step: state.step, savedAt: full.savedAt }) + '\n',
  );
  await opts.onPhase?.('pointer', finalDir);
  await pruneCheckpoints(root, keep, name);
  return finalDir;
}

/** Delete step directories beyond the newest `keep` (never `current`) and temp directories of crashed saves. */
async function pruneCheckpoints(root: string, keep: number, current: string): Promise<void> {
  const entries = await readdir(root);
  const steps = entries
    .map((n) => ({ n, m: STEP_DIR.exec(n) }))
    .filter((e) => e.m)
    .sort((a, b) => Number(b.m![1]) - Number(a.m![1]));
  const doomed = steps.slice(Math.max(keep, 1)).map((e) => e.n);
  doomed.push(...entries.filter((n) => n.startsWith('.step-') && n.includes('.tmp-')));
  for (const n of doomed) if (n !== current) await rm(join(root, n), { recursive: true, force: true });
}

/**
 * The directory of the newest usable checkpoint under root: the one latest.json names, or, when the
 * pointer is missing or names a directory that is gone, the highest complete step directory. Null if none.
 */
export async function latestCheckpoint(root: string): Promise<string | null> {
  if (!existsSync(root)) return null;
  try {
    const ptr = JSON.parse(await readFile(join(root, POINTER), 'utf8')) as { dir?: unknown };
    if (typeof ptr.dir === 'string' && STEP_DIR.test(ptr.dir) && existsSync(join(root, ptr.dir, STATE)))
      return join(root, ptr.dir);
  } catch {
    // fall through to scanning
  }
  const steps = (await readdir(root))
    .map((n) => ({ n, m: STEP_DIR.exec(n) }))
    .filter((e) => e.m && existsSync(join(root, e.n, STATE)))
    .sort((a, b) => Number(b.m![1]) - Number(a.m![1]));
  return steps.length ? join(root, steps[0].n) : null;
}

export async function readTrainingState(dir: string): Promise<TrainingState> {
  const path = join(dir, STATE);
  return decodeState(await readFile(path, 'utf8'), path);
}

export interface LoadedCheckpoint {
  dir: string;
  state: TrainingState;
  /** The model in train mode, with the checkpoint's weights and dropout rate. */
  model: GPTModel;
  /** Optimizer moments, to pass to optimizer.loadStateArrays. */
  optimizerState: Map<string, Float32Array>;
}

/**
 * Load a checkpoint directory written by saveCheckpoint: the model rebuilt from its structure (train mode,
 * frozen parts frozen), the optimizer moments, the state. Pass the state when it was already read.
 */
export async function loadCheckpoint(dir: string, state?: TrainingState): Promise<LoadedCheckpoint> {
  state ??= await readTrainingState(dir);
  const model = buildModelSkeleton(state.structure);
  const weights = join(dir, 'model.safetensors');
  placeModelTensors(model, await readSafetensors(weights), weights);
  model.train();
  const tensors = await readSafetensors(join(dir, OPTIMIZER));
  const optimizerState = new Map([...tensors].map(([k, t]) => [k, t.data]));
  return { dir, state, model, optimizerState };
}

/** Put a loaded checkpoint's optimizer state into an optimizer built over the checkpoint model's parameters. */
export function restoreOptimizer(optimizer: Optimizer, ckpt: LoadedCheckpoint): void {
  if (optimizer.constructor.name !== ckpt.state.optimizer.name) {
    throw new Error(
      `${ckpt.dir}: the checkpoint's optimizer is ${ckpt.state.optimizer.name}, not ${optimizer.constructor.name}`,
    );
  }
  optimizer.loadStateArrays(ckpt.optimizerState);
  optimizer.stepCount = ckpt.state.optimizer.stepCount;
}
