// The one training loop every task runs on (pretraining, classification, instruction tuning, DPO): the
// step loop, the evaluation schedule, metrics.jsonl, crash-safe checkpoints on a timer, the divergence
// stop, exact resume and a clean stop on request (Ctrl-C). A task supplies the model, optimizer, batches,
// loss and evaluation; it owns its data, its output files and what it prints. No task logic lives here.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GPTModel } from '../models/gpt/gpt.js';
import { clipGradNorm, type Optimizer } from '../optim/index.js';
import { backward } from '../tensor/autograd.js';
import { globalRng } from '../tensor/rng.js';
import { tidy, type Tensor } from '../tensor/tensor.js';
import {
  parametersFinite,
  saveCheckpoint,
  type EpochRecord,
  type MetricRecord,
  type ModelStructure,
  type SavePhase,
  type TrainingState,
} from './checkpoint.js';
import type { OptionSpecs } from './options.js';

/** Training batches that can say where they stand and continue from there (DataLoader and friends). */
export interface ResumableBatches<B> extends Iterable<B> {
  /** Batches per epoch. */
  readonly length: number;
  state(): { epoch: number; batchIndex: number };
  restore(state: never): void;
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

/** The checkpoint options every task has, declared once (CheckpointPolicy's fields). */
export const CHECKPOINT_OPTIONS = {
  saveEvery: { type: 'int', min: 1, arg: 'n', help: 'also checkpoint every n steps' },
  checkpointMinutes: {
    type: 'number',
    min: 0,
    default: 5,
    resume: false,
    arg: 'm',
    help: 'checkpoint at the end of an epoch once m minutes have passed since the last one (0: every epoch); the end of the run is always saved',
  },
  keepCheckpoints: {
    type: 'int',
    min: 1,
    default: 1,
    resume: false,
    arg: 'n',
    help: 'checkpoint directories kept (an older one is deleted only once a newer one is complete on disk)',
  },
  stopAfterSteps: {
    type: 'int',
    min: 0,
    resume: false,
    apiOnly: true,
    help: 'stop (as if interrupted) once this many optimizer steps are done in total',
  },
} as const satisfies OptionSpecs;

/** Where checkpoints go and when they are written. */
export interface CheckpointPolicy {
  /** Run directory: checkpoints/ and metrics.jsonl go here. */
  outDir: string;
  /** Also checkpoint every N optimizer steps. */
  saveEvery?: number;
  /** End-of-epoch checkpoints are skipped until this many minutes have passed since the last one (0: every epoch). */
  checkpointMinutes: number;
  /** Checkpoint directories kept. */
  keepCheckpoints: number;
  /** Stop (as if interrupted) once this many optimizer steps are done in total. */
  stopAfterSteps?: number;
  /** Test hook between the stages of each checkpoint save. */
  checkpointPhase?: (phase: SavePhase, dir: string) => void | Promise<void>;
}

/** What a checkpoint records besides weights and moments, so the task can rebuild and check the run. */
export interface RunIdentity {
  task: string;
  /** The task's options (JSON values), restored on resume. */
  options: Record<string, unknown>;
  /** Identifies the training data, so a resume on other data is refused. */
  data: Record<string, unknown>;
  /** How to rebuild the model's structure (head, adapters, frozen parts) before loading weights. */
  structure: ModelStructure;
}

export interface TrainerHooks {
  /** Book-style output lines (evaluations, epoch summaries). */
  log?: (line: string) => void;
  onStep?: (p: StepProgress) => void;
  onEval?: (r: MetricRecord) => void;
  onEpoch?: (r: EpochRecord) => void;
  onCheckpoint?: (dir: string, step: number) => void;
  /** Polled after every step: when it returns true the run saves a checkpoint and stops (Ctrl-C). */
  shouldStop?: () => boolean;
}

export interface TrainerSetup<B> {
  model: GPTModel;
  optimizer: Optimizer;
  train: ResumableBatches<B>;
  /** Loss of one training batch: a scalar tensor, recorded for backward. */
  loss: (batch: B) => Tensor;
  /** Tokens in a batch (tokens seen, throughput); classifiers count examples' tokens too. */
  tokens: (batch: B) => number;
  /**
   * The periodic evaluation (model in eval mode, no gradients): the book's train and validation loss, and
   * any other figures the task reports with them (DPO's rewards), recorded in the metric's `values`.
   */
  evaluate: () => { trainLoss: number; valLoss: number; values?: Record<string, number> };
  /** The evaluation's log line (default: the book's formatEvalLine). */
  evalLine?: (r: MetricRecord) => string;
  /** Lines to print and values to record after each epoch (a sample, accuracies). Epoch is 1-based. */
  endOfEpoch?: (epoch: number) => { lines: string[]; values?: Record<string, number> };
  epochs: number;
  evalFreq: number;
  /** Learning rate of the step with this 0-based global index. */
  lrAt: (globalStep: number) => number;
  /** Clip the global gradient norm to maxNorm from step `fromStep` on (appendix D: after warmup). */
  clip?: { maxNorm: number; fromStep: number };
  checkpoints: CheckpointPolicy;
  identity: RunIdentity;
  /** Continue from this checkpoint (the model and optimizer already hold its weights and moments). */
  resume?: { dir: string; state: TrainingState };
  hooks?: TrainerHooks;
}

/** Where the wall time of this session went, in seconds (a resumed run counts from the resume). */
export interface RunTiming {
  /** Optimizer steps: forward, backward, clipping, optimizer update. */
  steps: number;
  /** The periodic evaluations (train and validation loss). */
  evaluation: number;
  /** The task's end-of-epoch work (pretraining: the greedy sample). */
  endOfEpoch: number;
  /** Checkpoint writes. */
  checkpoints: number;
  /** All of runTrainer, the above included (also metrics lines, batches, progress callbacks). */
  total: number;
}

export interface TrainerResult {
  steps: number;
  totalSteps: number;
  tokensSeen: number;
  /** Training seconds, across resumes. */
  seconds: number;
  history: MetricRecord[];
  epochs: EpochRecord[];
  /** The last epoch's summary lines (e.g. the greedy sample). */
  lastEpochLines: string[];
  checkpointDir: string | null;
  /** True when stopAfterSteps or shouldStop ended the run early (the end of the run was not reached). */
  stopped: boolean;
  timing: RunTiming;
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

/** Run (or continue) training to the end of the last epoch, or until asked to stop. */
export async function runTrainer<B>(s: TrainerSetup<B>): Promise<TrainerResult> {
  const { model, optimizer, train, checkpoints: cp, hooks = {} } = s;
  const log = hooks.log ?? ((line: string) => console.log(line));
  const state = s.resume?.state;
  const batchesPerEpoch = train.length;
  const totalSteps = batchesPerEpoch * s.epochs;
  let step = state?.step ?? 0; // completed optimizer steps
  let tokensSeen = state?.tokensSeen ?? 0;
  const history: MetricRecord[] = state ? [...state.history] : [];
  const epochs: EpochRecord[] = state ? [...(state.epochs ?? [])] : [];
  const elapsedBase = state?.elapsedSeconds ?? 0;
  let lastCheckpoint: string | null = s.resume?.dir ?? null;
  let lastSavedStep = s.resume ? step : -1;
  let lastEpochLines: string[] = [];
  const trainable = model.parameters().filter((p) => p.requiresGrad);
  if (state) {
    train.restore(state.loader as never);
    globalRng.setState(state.rng);
  }

  // On resume, metrics.jsonl is cut back to the checkpoint: it then matches an uninterrupted run's.
  const metricsPath = join(cp.outDir, 'metrics.jsonl');
  const records = [...history.map((r) => ({ ...r })), ...epochs.map((e) => ({ kind: 'epoch', ...e }))];
  records.sort((a, b) => a.step - b.step);
  writeFileSync(metricsPath, records.map(jsonLine).join(''));

  const t0 = performance.now();
  const elapsed = () => elapsedBase + (performance.now() - t0) / 1000;
  let stepSeconds = 0;
  let sessionTokens = 0;
  let sessionSteps = 0;
  let lastSaveTime = performance.now();
  const timing: RunTiming = { steps: 0, evaluation: 0, endOfEpoch: 0, checkpoints: 0, total: 0 };
  /** fn(), its wall time added to timing[key]. */
  const timed = <T>(key: Exclude<keyof RunTiming, 'total'>, fn: () => T): T => {
    const start = performance.now();
    const done = () => (timing[key] += (performance.now() - start) / 1000);
    const r = fn();
    if (r instanceof Promise) return r.finally(done) as T;
    done();
    return r;
  };

  const save = (epochIndex: number): Promise<void> => timed('checkpoints', () => saveNow(epochIndex));
  const saveNow = async (epochIndex: number): Promise<void> => {
    lastSaveTime = performance.now();
    if (!parametersFinite(model)) {
      const last = Math.max(step - 1, 0);
      throw new TrainingDivergedError(
        last,
        Math.min(epochIndex + 1, s.epochs),
        'the weights are no longer finite',
        s.lrAt(last),
        lastCheckpoint,
      );
    }
    const ls = train.state();
    lastCheckpoint = await saveCheckpoint(
      join(cp.outDir, 'checkpoints'),
      model,
      optimizer,
      {
        task: s.identity.task,
        structure: s.identity.structure,
        step,
        epoch: epochIndex,
        batchInEpoch: ls.batchIndex,
        loader: ls,
        rng: globalRng.getState(),
        tokensSeen,
        elapsedSeconds: elapsed(),
        options: s.identity.options,
        data: s.identity.data,
        history,
        epochs,
      },
      { keep: cp.keepCheckpoints, onPhase: cp.checkpointPhase },
    );
    lastSavedStep = step;
    hooks.onCheckpoint?.(lastCheckpoint, step);
  };

  let stopped = false;
  const at = train.state();
  const startEpoch = at.batchIndex >= batchesPerEpoch ? at.epoch + 1 : at.epoch;
  outer: for (let epoch = startEpoch; epoch < s.epochs; epoch++) {
    model.train();
    for (const batch of train) {
      if (cp.stopAfterSteps !== undefined && step >= cp.stopAfterSteps) {
        stopped = true;
        break outer;
      }
      const globalStep = step; // the book's global_step after its increment
      const lr = s.lrAt(globalStep);
      optimizer.setLr(lr);
      const ts = performance.now();
      let gradNorm: number | undefined;
      const loss = tidy(() => {
        optimizer.zeroGrad();
        const lossT = s.loss(batch);
        const value = lossT.item();
        if (!Number.isFinite(value)) return value; // never step on a NaN / infinite loss
        backward(lossT);
        if (s.clip && globalStep >= s.clip.fromStep) gradNorm = clipGradNorm(trainable, s.clip.maxNorm);
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
      const tokens = s.tokens(batch);
      tokensSeen += tokens;
      sessionTokens += tokens;
      sessionSteps++;
      step++;
      const batchIndex = train.state().batchIndex;
      hooks.onStep?.({
        step,
        totalSteps,
        epoch: epoch + 1,
        epochs: s.epochs,
        batch: batchIndex,
        batchesPerEpoch,
        loss,
        lr,
        gradNorm,
        tokensSeen,
        tokensPerSecond: stepSeconds > 0 ? sessionTokens / stepSeconds : 0,
        etaSeconds: ((performance.now() - t0) / 1000 / sessionSteps) * Math.max(0, totalSteps - step),
      });
      if (globalStep % s.evalFreq === 0) {
        const { trainLoss, valLoss, values } = timed('evaluation', () => s.evaluate());
        const record: MetricRecord = {
          step: globalStep,
          epoch: epoch + 1,
          epochProgress: epoch + batchIndex / batchesPerEpoch,
          tokensSeen,
          trainLoss,
          valLoss,
          lr,
          elapsed: elapsed(),
          ...(values ? { values } : {}),
        };
        if (!Number.isFinite(trainLoss) || !Number.isFinite(valLoss)) {
          const what = `the evaluation gives train loss ${trainLoss}, val loss ${valLoss}`;
          throw new TrainingDivergedError(globalStep, epoch + 1, what, lr, lastCheckpoint);
        }
        history.push(record);
        appendFileSync(metricsPath, jsonLine(record));
        log((s.evalLine ?? formatEvalLine)(record));
        hooks.onEval?.(record);
      }
      const midEpoch = batchIndex < batchesPerEpoch;
      // A stop request (a signal handler) can only run when the loop yields to the event loop.
      if (hooks.shouldStop) await new Promise((r) => setImmediate(r));
      if (midEpoch && hooks.shouldStop?.()) {
        await save(epoch);
        stopped = true;
        break outer;
      }
      // Mid-epoch checkpoints only: the end of an epoch is saved below, after its summary.
      if (cp.saveEvery !== undefined && step % cp.saveEvery === 0 && midEpoch) await save(epoch);
    }
    const summary = timed('endOfEpoch', () => s.endOfEpoch?.(epoch + 1) ?? { lines: [] });
    lastEpochLines = summary.lines;
    for (const line of summary.lines) log(line);
    if (summary.values) {
      const r: EpochRecord = {
        epoch: epoch + 1,
        step,
        tokensSeen,
        values: summary.values,
        elapsed: elapsed(),
      };
      epochs.push(r);
      appendFileSync(metricsPath, jsonLine({ kind: 'epoch', ...r }));
      hooks.onEpoch?.(r);
    }
    const minutesSinceSave = (performance.now() - lastSaveTime) / 60000;
    const lastEpoch = epoch + 1 === s.epochs;
    const stopNow = !lastEpoch && hooks.shouldStop?.() === true;
    if (step !== lastSavedStep && (lastEpoch || stopNow || minutesSinceSave >= cp.checkpointMinutes))
      await save(epoch + 1);
    if (stopNow) {
      stopped = true;
      break;
    }
  }
  if (!stopped && step !== lastSavedStep) await save(s.epochs);
  timing.steps = stepSeconds;
  timing.total = (performance.now() - t0) / 1000;
  return {
    steps: step,
    totalSteps,
    tokensSeen,
    seconds: elapsed(),
    history,
    epochs,
    lastEpochLines,
    checkpointDir: lastCheckpoint,
    stopped,
    timing,
  };
}
