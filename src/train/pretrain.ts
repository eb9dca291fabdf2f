// Pretraining as the book's chapter 5 runs it (train_model_simple), with appendix D's warmup, cosine decay
// and gradient clipping as options; evaluation every evalFreq steps, a greedy sample after each epoch,
// metrics.jsonl, crash-safe checkpoints with exact resume, the final model and the loss plot.
// The CLI (`gptkit pretrain`) is a thin layer over `pretrain()`; progress display is the caller's job.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../io/atomic.js';
import type { GPTConfig } from '../models/gpt/config.js';
import type { GPTModel } from '../models/gpt/gpt.js';
import { generate } from '../models/gpt/generate.js';
import { saveGPT2 } from '../models/gpt/gpt2-weights.js';
import { AdamW, clipGradNorm, lrAt } from '../optim/index.js';
import { backward } from '../tensor/autograd.js';
import { globalRng, manualSeed } from '../tensor/rng.js';
import { tidy } from '../tensor/tensor.js';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';
import { dataPath } from '../data/paths.js';
import type { LoaderState } from '../data/loader.js';
import {
  configMismatch,
  latestCheckpoint,
  loadCheckpoint,
  parametersFinite,
  readTrainingState,
  restoreOptimizer,
  saveCheckpoint,
  type MetricRecord,
  type SavePhase,
  type TrainingState,
} from './checkpoint.js';
import { firstBatches, preparePretrainData, type PretrainData, type PretrainTokenizer } from './data.js';
import { calcLossBatch, evaluateModel } from './loss.js';
import { resolveModelSource, settleConfig, type ModelSource } from './model-source.js';
import { writeLossPlot } from './plot.js';

export interface PretrainOptions {
  /** Training text file or folder of text files. Default: the bundled the-verdict.txt. */
  data?: string;
  /** Training text given directly (instead of `data`). */
  text?: string;
  /** Validation file or folder; default: the last 10% of the training text's characters. */
  valData?: string;
  valText?: string;
  /** Share of the characters for training when there is no separate validation data. Default 0.9. */
  trainRatio?: number;
  /** Default: the GPT-2 tokenizer. */
  tokenizer?: PretrainTokenizer;

  /** A preset ('gpt2-small', the default), a config JSON file, a config object, or a Hugging Face model directory. */
  model?: string | GPTConfig;
  /** Training window (and, for presets, the model's context length). Default min(256, the model's). */
  contextLength?: number;
  /** Default 0.1 (the config object's own value for a config object). */
  dropRate?: number;
  /** Fresh models: 'book' (PyTorch default init, the default) or 'gpt2' (N(0, 0.02), scaled residual projections). */
  init?: 'book' | 'gpt2';

  batchSize?: number; // 2
  epochs?: number; // 10
  lr?: number; // 4e-4 (the peak when a schedule is used)
  weightDecay?: number; // 0.1
  /** Appendix D: linear warmup over this many steps from initialLr to lr. Default 0 (none). */
  warmupSteps?: number;
  /** Warmup's starting rate. Default 3e-5 (appendix D's train_model). */
  initialLr?: number;
  /** Appendix D: cosine decay from lr to minLr over the remaining steps. Default: no decay. */
  minLr?: number;
  /** Clip the global gradient norm to this once warmup is over (as appendix D). Default: no clipping. */
  clipGrad?: number;
  evalFreq?: number; // 5
  evalIter?: number; // 5
  seed?: number; // 123
  /** The text sampled (greedily, 50 tokens) after every epoch. Default "Every effort moves you". */
  startContext?: string;
  sampleTokens?: number;

  /** Run directory: checkpoints/, model/, metrics.jsonl, loss.svg, run.json. */
  outDir: string;
  /** Continue from outDir's latest checkpoint. */
  resume?: boolean;
  /** Also checkpoint every N optimizer steps (checkpoints are always written at the end of each epoch). */
  saveEvery?: number;
  /**
   * End-of-epoch checkpoints are skipped until this many minutes have passed since the last one
   * (default 0: every epoch). The end of the run is always saved.
   */
  epochCheckpointMinutes?: number;
  /** Checkpoint directories kept. Default 2. */
  keepCheckpoints?: number;
  /** Stop (as if interrupted) once this many optimizer steps are done in total; no final model is written. */
  stopAfterSteps?: number;

  /** Book-style output lines (evaluations, samples). Default console.log. */
  log?: (line: string) => void;
  onStart?: (info: RunInfo) => void;
  onStep?: (p: StepProgress) => void;
  onEval?: (r: MetricRecord) => void;
  onSample?: (epoch: number, text: string) => void;
  onCheckpoint?: (dir: string, step: number) => void;
  /** Test hook between the stages of each checkpoint save. */
  checkpointPhase?: (phase: SavePhase, dir: string) => void | Promise<void>;
}

export interface RunInfo {
  outDir: string;
  config: GPTConfig;
  modelLabel: string;
  parameters: number;
  data: string;
  trainTokens: number;
  valTokens: number;
  batchesPerEpoch: number;
  valBatches: number;
  totalSteps: number;
  /** Set when continuing from a checkpoint. */
  resumedFrom?: string;
  startStep: number;
}

export interface StepProgress {
  /** Optimizer steps completed (the book's global_step + 1). */
  step: number;
  totalSteps: number;
  /** 1-based. */
  epoch: number;
  epochs: number;
  batch: number;
  batchesPerEpoch: number;
  loss: number;
  lr: number;
  /** Gradient norm before clipping, when clipping is on. */
  gradNorm?: number;
  tokensSeen: number;
  /** Training tokens per second in this process (optimizer steps only, evaluation excluded). */
  tokensPerSecond: number;
  /** Estimated seconds to the end, from this process's average time per step. */
  etaSeconds: number;
}

export interface PretrainResult {
  outDir: string;
  model: GPTModel;
  /** OUT/model: config.json + model.safetensors (absent when stopped early). */
  modelDir: string | null;
  checkpointDir: string | null;
  plotPath: string;
  metricsPath: string;
  history: MetricRecord[];
  /** The last greedy sample (start context included, newlines as spaces). */
  sample: string;
  steps: number;
  tokensSeen: number;
  /** Training seconds, across resumes. */
  seconds: number;
  /** True when stopAfterSteps ended the run early. */
  stopped: boolean;
}

/** Thrown when a loss or the weights become NaN or infinite; nothing is saved over the last good checkpoint. */
export class TrainingDivergedError extends Error {
  constructor(
    /** The book's global_step (0-based) of the step that diverged. */
    readonly step: number,
    readonly epoch: number,
    /** What went wrong, e.g. "the training loss is NaN". */
    readonly what: string,
    readonly lr: number,
    readonly lastCheckpoint: string | null,
  ) {
    super(
      `training diverged at step ${step} (epoch ${epoch}, learning rate ${lr}): ${what}; ` +
        (lastCheckpoint
          ? `nothing was saved over the last good checkpoint, ${lastCheckpoint} (continue it with --resume and a lower --lr, warmup or --clip-grad)`
          : 'no checkpoint had been written yet; try a lower --lr, warmup (--warmup-steps) or --clip-grad'),
    );
    this.name = 'TrainingDivergedError';
  }
}

type Defaulted =
  | 'model'
  | 'batchSize'
  | 'epochs'
  | 'lr'
  | 'weightDecay'
  | 'warmupSteps'
  | 'initialLr'
  | 'evalFreq'
  | 'evalIter'
  | 'seed'
  | 'startContext'
  | 'sampleTokens'
  | 'keepCheckpoints';
type Resolved = Omit<PretrainOptions, Defaulted> & Required<Pick<PretrainOptions, Defaulted>>;

/** The book's chapter-5 settings. */
export const PRETRAIN_DEFAULTS: Readonly<Required<Pick<PretrainOptions, Defaulted>>> = {
  model: 'gpt2-small',
  batchSize: 2,
  epochs: 10,
  lr: 4e-4,
  weightDecay: 0.1,
  warmupSteps: 0,
  initialLr: 3e-5,
  evalFreq: 5,
  evalIter: 5,
  seed: 123,
  startContext: 'Every effort moves you',
  sampleTokens: 50,
  keepCheckpoints: 2,
};

function check(name: string, v: number | undefined, ok: (x: number) => boolean, need: string): void {
  if (v !== undefined && !(typeof v === 'number' && ok(v)))
    throw new Error(`${name} must be ${need}, got ${v}`);
}
const posInt = (x: number) => Number.isInteger(x) && x >= 1;
const nonNegInt = (x: number) => Number.isInteger(x) && x >= 0;
const posNum = (x: number) => Number.isFinite(x) && x > 0;
const nonNeg = (x: number) => Number.isFinite(x) && x >= 0;

function validate(o: PretrainOptions): void {
  check('batchSize', o.batchSize, posInt, 'a positive integer');
  check('epochs', o.epochs, nonNegInt, 'a non-negative integer');
  check('lr', o.lr, nonNeg, 'a finite number >= 0');
  check('weightDecay', o.weightDecay, nonNeg, 'a finite number >= 0');
  check('warmupSteps', o.warmupSteps, nonNegInt, 'a non-negative integer');
  check('initialLr', o.initialLr, nonNeg, 'a finite number >= 0');
  check('minLr', o.minLr, nonNeg, 'a finite number >= 0');
  check('clipGrad', o.clipGrad, posNum, 'a positive number');
  check('evalFreq', o.evalFreq, posInt, 'a positive integer');
  check('evalIter', o.evalIter, posInt, 'a positive integer');
  check('seed', o.seed, nonNegInt, 'a non-negative integer');
  check('sampleTokens', o.sampleTokens, nonNegInt, 'a non-negative integer');
  check('saveEvery', o.saveEvery, posInt, 'a positive integer');
  check('keepCheckpoints', o.keepCheckpoints, posInt, 'a positive integer');
  check('stopAfterSteps', o.stopAfterSteps, nonNegInt, 'a non-negative integer');
  check('dropRate', o.dropRate, (x) => x >= 0 && x < 1, 'in [0, 1)');
  if (!o.outDir) throw new Error('outDir is required');
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

function jsonLine(v: unknown): string {
  return (
    JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? null : x)) + '\n'
  );
}

/** "Ep 1 (Step 000000): Train loss 9.781, Val loss 9.933", as the book prints. */
export function formatEvalLine(r: MetricRecord): string {
  return `Ep ${r.epoch} (Step ${String(r.step).padStart(6, '0')}): Train loss ${r.trainLoss.toFixed(3)}, Val loss ${r.valLoss.toFixed(3)}`;
}

/** The book's generate_and_print_sample: greedy, newlines shown as spaces. */
export function greedySample(
  model: GPTModel,
  tokenizer: PretrainTokenizer,
  startContext: string,
  maxNewTokens = 50,
): string {
  const ids = tokenizer.encode(startContext, { allowedSpecial: 'all' });
  if (ids.length === 0) throw new Error('the start context is empty');
  const out = generate(model, ids, { maxNewTokens }); // crops the context to the model's window itself
  return tokenizer.decode([...ids, ...out]).replace(/\n/g, ' ');
}

/** Train a GPT from scratch (or continue a pretrained one) on a text, as chapter 5 of the book does. */
export async function pretrain(options: PretrainOptions): Promise<PretrainResult> {
  validate(options);
  const o: Resolved = { ...PRETRAIN_DEFAULTS, ...stripUndefined(options), outDir: options.outDir };
  const outDir = resolve(options.outDir);
  const tokenizer = options.tokenizer ?? loadGpt2Tokenizer();
  const src = resolveModelSource(o.model, {
    contextLength: o.contextLength,
    dropRate: o.dropRate,
    init: o.init,
  });
  if (src.config.vocabSize < tokenizer.vocabSize) {
    throw new Error(
      `the model's vocabulary (${src.config.vocabSize}) is smaller than the tokenizer's (${tokenizer.vocabSize})`,
    );
  }
  await ensureWritableDir(outDir);
  const existing = await latestCheckpoint(join(outDir, 'checkpoints'));
  if (existing && !o.resume) {
    throw new Error(
      `${outDir} already holds a training run (checkpoint ${existing}); continue it with --resume, or choose another --out`,
    );
  }
  if (o.resume && !existing)
    throw new Error(
      `--resume: ${outDir} has no checkpoint to continue (looked in ${join(outDir, 'checkpoints')})`,
    );
  const dataFile = o.text === undefined && o.data === undefined ? dataPath('the-verdict.txt') : o.data;
  const data = preparePretrainData({
    text: o.text,
    path: dataFile,
    valText: o.valText,
    valPath: o.valData,
    trainRatio: o.trainRatio,
    tokenizer,
    contextLength: src.contextLength,
    batchSize: o.batchSize,
    seed: o.seed,
    cacheDir: join(outDir, 'data'),
  });
  try {
    return await run(o, options, outDir, tokenizer, src, data, dataFile, existing);
  } finally {
    data.close();
  }
}

async function run(
  o: Resolved,
  options: PretrainOptions,
  outDir: string,
  tokenizer: PretrainTokenizer,
  src: ModelSource,
  data: PretrainData,
  dataFile: string | undefined,
  existing: string | null,
): Promise<PretrainResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const ckptRoot = join(outDir, 'checkpoints');

  // Everything a checkpoint must reproduce, as JSON.
  const runOptions = {
    data: o.text !== undefined ? '(text)' : resolve(dataFile!),
    valData: o.valText !== undefined ? '(text)' : o.valData ? resolve(o.valData) : null,
    model: typeof o.model !== 'string' ? '(config)' : existsSync(o.model) ? resolve(o.model) : o.model,
    contextLength: src.contextLength,
    dropRate: src.config.dropRate,
    init: o.init ?? 'book',
    batchSize: o.batchSize,
    epochs: o.epochs,
    lr: o.lr,
    weightDecay: o.weightDecay,
    warmupSteps: o.warmupSteps,
    initialLr: o.initialLr,
    minLr: o.minLr ?? null,
    clipGrad: o.clipGrad ?? null,
    evalFreq: o.evalFreq,
    evalIter: o.evalIter,
    seed: o.seed,
    startContext: o.startContext,
    saveEvery: o.saveEvery ?? null,
  };
  const dataId = {
    trainTokens: data.trainTokens,
    trainHash: data.trainHash,
    valTokens: data.valTokens,
    valHash: data.valHash,
  };

  let model: GPTModel;
  let optimizer: AdamW;
  let state: TrainingState | null = null;
  if (existing) {
    state = await readTrainingState(existing);
    const want = await settleConfig(src);
    const mismatch = configMismatch(state.config, want);
    if (mismatch) {
      throw new Error(
        `cannot resume from ${existing}: it was trained with another model configuration (checkpoint vs this run: ${mismatch})`,
      );
    }
    if (state.data.trainHash !== data.trainHash || state.data.trainTokens !== data.trainTokens) {
      throw new Error(
        `cannot resume from ${existing}: the training data differs (checkpoint: ${state.data.trainTokens} tokens, hash ${state.data.trainHash}; ` +
          `this run: ${data.trainTokens} tokens, hash ${data.trainHash})`,
      );
    }
    if (state.options.contextLength !== src.contextLength) {
      throw new Error(
        `cannot resume from ${existing}: it trained on windows of ${String(state.options.contextLength)} tokens, this run asks for context length ${src.contextLength}`,
      );
    }
    if (state.options.batchSize !== o.batchSize) {
      throw new Error(
        `cannot resume from ${existing}: it used batch size ${String(state.options.batchSize)}, this run asks for ${o.batchSize}`,
      );
    }
    const ckpt = await loadCheckpoint(existing);
    model = ckpt.model;
    optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o.weightDecay });
    restoreOptimizer(optimizer, ckpt);
    data.train.restore(state.loader as LoaderState);
    globalRng.setState(state.rng);
  } else {
    manualSeed(o.seed); // as torch.manual_seed(123) before GPTModel(...): initial weights, then dropout
    model = await src.build();
    optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o.weightDecay });
  }

  const batchesPerEpoch = data.train.length;
  const totalSteps = batchesPerEpoch * o.epochs;
  const schedule = o.warmupSteps > 0 || o.minLr !== undefined;
  const lrFor = (globalStep: number): number =>
    schedule
      ? lrAt(globalStep, {
          peakLr: o.lr,
          totalSteps,
          warmupSteps: o.warmupSteps,
          initialLr: o.initialLr,
          minLr: o.minLr,
        })
      : o.lr;

  let step = state?.step ?? 0; // completed optimizer steps
  let tokensSeen = state?.tokensSeen ?? 0;
  const history: MetricRecord[] = state ? [...state.history] : [];
  const elapsedBase = state?.elapsedSeconds ?? 0;
  let lastCheckpoint: string | null = existing;
  let lastSavedStep = existing ? step : -1;
  let sample = '';

  const metricsPath = join(outDir, 'metrics.jsonl');
  const plotPath = join(outDir, 'loss.svg');
  // On resume, metrics.jsonl is cut back to the checkpoint: it then matches an uninterrupted run's.
  writeFileSync(metricsPath, history.map(jsonLine).join(''));
  await writeFileAtomic(
    join(outDir, 'run.json'),
    JSON.stringify(
      {
        options: runOptions,
        config: model.cfg,
        data: dataId,
        startedAt: new Date().toISOString(),
        resumedFrom: existing,
      },
      null,
      2,
    ) + '\n',
  );

  options.onStart?.({
    outDir,
    config: { ...model.cfg },
    modelLabel: src.label,
    parameters: model.numParameters(),
    data: data.description,
    trainTokens: data.trainTokens,
    valTokens: data.valTokens,
    batchesPerEpoch,
    valBatches: data.val.length,
    totalSteps,
    resumedFrom: existing ?? undefined,
    startStep: step,
  });

  const t0 = performance.now();
  const elapsed = () => elapsedBase + (performance.now() - t0) / 1000;
  let stepSeconds = 0;
  let sessionTokens = 0;
  let sessionSteps = 0;

  let lastSaveTime = performance.now();
  const save = async (epochIndex: number): Promise<void> => {
    lastSaveTime = performance.now();
    if (!parametersFinite(model)) {
      const last = Math.max(step - 1, 0);
      throw new TrainingDivergedError(
        last,
        Math.min(epochIndex + 1, o.epochs),
        'the weights are no longer finite',
        lrFor(last),
        lastCheckpoint,
      );
    }
    const ls = data.train.state();
    const dir = await saveCheckpoint(
      ckptRoot,
      model,
      optimizer,
      {
        step,
        epoch: epochIndex,
        batchInEpoch: ls.batchIndex,
        loader: ls,
        rng: globalRng.getState(),
        tokensSeen,
        elapsedSeconds: elapsed(),
        options: runOptions,
        data: dataId,
        history,
      },
      { keep: o.keepCheckpoints, onPhase: options.checkpointPhase },
    );
    lastCheckpoint = dir;
    lastSavedStep = step;
    options.onCheckpoint?.(dir, step);
  };

  const trainEvalLoader = data.trainEval;
  let stopped = false;
  const startEpoch =
    data.train.state().batchIndex >= batchesPerEpoch
      ? data.train.state().epoch + 1
      : data.train.state().epoch;
  outer: for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
    model.train();
    for (const batch of data.train) {
      if (o.stopAfterSteps !== undefined && step >= o.stopAfterSteps) {
        stopped = true;
        break outer;
      }
      const globalStep = step; // the book's global_step after its increment
      const lr = lrFor(globalStep);
      optimizer.setLr(lr);
      const ts = performance.now();
      let gradNorm: number | undefined;
      const loss = tidy(() => {
        optimizer.zeroGrad();
        const lossT = calcLossBatch(model, batch);
        const value = lossT.item();
        if (!Number.isFinite(value)) return value; // never step on a NaN / infinite loss
        backward(lossT);
        if (o.clipGrad !== undefined && globalStep >= o.warmupSteps)
          gradNorm = clipGradNorm(model.parameters(), o.clipGrad);
        optimizer.step();
        return value;
      });
      if (!Number.isFinite(loss))
        throw new TrainingDivergedError(
          globalStep,
          epoch + 1,
          `the training loss is ${loss}`,
          lr,
          lastCheckpoint,
        );
      stepSeconds += (performance.now() - ts) / 1000;
      const tokens = batch.batchSize * batch.seqLen; // input_batch.numel()
      tokensSeen += tokens;
      sessionTokens += tokens;
      sessionSteps++;
      step++;
      const batchIndex = data.train.state().batchIndex;
      options.onStep?.({
        step,
        totalSteps,
        epoch: epoch + 1,
        epochs: o.epochs,
        batch: batchIndex,
        batchesPerEpoch,
        loss,
        lr,
        gradNorm,
        tokensSeen,
        tokensPerSecond: stepSeconds > 0 ? sessionTokens / stepSeconds : 0,
        etaSeconds: ((performance.now() - t0) / 1000 / sessionSteps) * Math.max(0, totalSteps - step),
      });
      if (globalStep % o.evalFreq === 0) {
        const { trainLoss, valLoss } = evaluateModel(
          model,
          firstBatches(trainEvalLoader, o.evalIter),
          firstBatches(data.val, o.evalIter),
          o.evalIter,
        );
        const record: MetricRecord = {
          step: globalStep,
          epoch: epoch + 1,
          epochProgress: epoch + batchIndex / batchesPerEpoch,
          tokensSeen,
          trainLoss,
          valLoss,
          lr,
          elapsed: elapsed(),
        };
        if (!Number.isFinite(trainLoss) || !Number.isFinite(valLoss)) {
          const what = `the evaluation gives train loss ${trainLoss}, val loss ${valLoss}`;
          throw new TrainingDivergedError(globalStep, epoch + 1, what, lr, lastCheckpoint);
        }
        history.push(record);
        appendFileSync(metricsPath, jsonLine(record));
        log(formatEvalLine(record));
        options.onEval?.(record);
      }
      // Mid-epoch checkpoints only: the end of an epoch is saved below, after its sample.
      if (o.saveEvery !== undefined && step % o.saveEvery === 0 && batchIndex < batchesPerEpoch)
        await save(epoch);
    }
    sample = o.sampleTokens > 0 ? greedySample(model, tokenizer, o.startContext, o.sampleTokens) : '';
    if (sample) log(sample);
    options.onSample?.(epoch + 1, sample);
    const minutesSinceSave = (performance.now() - lastSaveTime) / 60000;
    const lastEpoch = epoch + 1 === o.epochs;
    if (step !== lastSavedStep && (lastEpoch || minutesSinceSave >= (options.epochCheckpointMinutes ?? 0)))
      await save(epoch + 1);
  }

  await writeLossPlot(plotPath, history, { title: `Loss: ${src.label}`, epochs: o.epochs || undefined });
  let modelDir: string | null = null;
  if (!stopped) {
    if (step !== lastSavedStep) await save(o.epochs);
    modelDir = join(outDir, 'model');
    await writeModelDir(model, modelDir);
    if (!sample && o.sampleTokens > 0)
      sample = greedySample(model, tokenizer, o.startContext, o.sampleTokens);
  }
  return {
    outDir,
    model,
    modelDir,
    checkpointDir: lastCheckpoint,
    plotPath,
    metricsPath,
    history,
    sample,
    steps: step,
    tokensSeen,
    seconds: elapsed(),
    stopped,
  };
}

/** saveGPT2 into a temp directory, then swap it in: dir holds either the old model or the new one. */
async function writeModelDir(model: GPTModel, dir: string): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await saveGPT2(model, tmp);
  await fsyncDir(tmp);
  if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type { PretrainData, PretrainTokenizer };
