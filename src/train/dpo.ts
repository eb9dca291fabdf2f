// Direct preference optimization as the book's chapter-7 bonus notebook does it (dpo-from-scratch):
// preference pairs collated with common padding and prompt masks, the mean masked log-probability of each
// response, loss = -logsigmoid(beta * ((pc - pr) - (rc - rr))), rewards as the notebook reports them, and
// its log line with reward margins. One task on the shared trainer.
//
// The reference model never changes, so its log-probabilities are computed once per example from the
// starting weights before the first step and kept (and written to the run directory for resume): the
// same values the notebook recomputes with a frozen deep copy, without a second model in memory.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  PreferenceDataset,
  PreferenceLoader,
  promptTemplate,
  readInstructionEntries,
  splitInstructionData,
  templateFromSpec,
  TEMPLATES,
  type PreferenceBatch,
  type PreferenceEntry,
  type PromptTemplate,
  type TemplateSpec,
} from '../data/instruction.js';
import { dataPath } from '../data/paths.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { GPTModel } from '../models/gpt/gpt.js';
import { saveGPT2 } from '../models/gpt/gpt2-weights.js';
import { resolveModel, type ModelSource } from '../models/gpt/source.js';
import * as ops from '../ops/index.js';
import { AdamW } from '../optim/index.js';
import { noGrad } from '../tensor/autograd.js';
import { manualSeed } from '../tensor/rng.js';
import { fromTypedArray, tidy, type Tensor } from '../tensor/tensor.js';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';
import {
  loadCheckpoint,
  modelStructure,
  restoreOptimizer,
  type EpochRecord,
  type MetricRecord,
} from './checkpoint.js';
import { firstN } from './loss.js';
import { recordedOptions, resolveOptions, type OptionInput, type OptionSpecs } from './options.js';
import { writeLossPlot } from './plot.js';
import { epochSample } from './respond.js';
import { inRun, writeModelDir, type RunHooks } from './run.js';
import { CHECKPOINT_OPTIONS, runTrainer, type StepProgress } from './trainer.js';

/** The notebook's settings, declared once for the library and `gptkit dpo`. */
export const DPO_OPTIONS = {
  model: {
    type: 'string',
    nonEmpty: true,
    arg: 'dir',
    help: 'the instruction-tuned model to align (a finetune-instruct run or model directory); also the reference',
  },
  data: {
    type: 'string',
    nonEmpty: true,
    arg: 'file',
    help: 'entries with "chosen" and "rejected" responses (default: the bundled instruction-data-with-preference.json); split 85/10/5 in order',
  },
  template: {
    type: 'string',
    nonEmpty: true,
    arg: 'alpaca|phi3|file',
    help: "prompt format (default: the model's own, else alpaca)",
  },
  beta: {
    type: 'number',
    above: 0,
    default: 0.1,
    arg: 'x',
    help: 'DPO beta: how far the policy may move from the reference',
  },
  epochs: { type: 'int', min: 0, default: 1, arg: 'n', help: 'passes over the training pairs' },
  batchSize: { type: 'int', min: 1, default: 8, arg: 'n', help: 'pairs per batch' },
  lr: { type: 'number', min: 0, default: 5e-6, arg: 'x', help: 'AdamW learning rate' },
  weightDecay: { type: 'number', min: 0, default: 0.01, arg: 'x', help: 'AdamW weight decay' },
  dropRate: {
    type: 'number',
    min: 0,
    below: 1,
    default: 0,
    flag: '--dropout',
    arg: 'x',
    help: 'dropout rate',
  },
  evalFreq: { type: 'int', min: 1, default: 5, arg: 'n', help: 'evaluate every n steps' },
  evalIter: { type: 'int', min: 1, default: 5, arg: 'n', help: 'batches per evaluation' },
  allowedMaxLength: {
    type: 'int',
    min: 2,
    arg: 'n',
    help: "cut pairs to n tokens (default: the model's context length, as the notebook)",
  },
  seed: { type: 'int', min: 0, default: 123, arg: 'n', help: 'seed for shuffling' },
  ...CHECKPOINT_OPTIONS,
} as const satisfies OptionSpecs;

export type DpoOptions = OptionInput<typeof DPO_OPTIONS> &
  RunHooks & {
    outDir: string;
    resume?: boolean;
    onStart?: (info: DpoStart) => void;
    /** Reference log-probabilities computed / total pairs (before training). */
    onReference?: (done: number, total: number) => void;
  };

export interface DpoStart {
  modelLabel: string;
  template: string;
  trainPairs: number;
  valPairs: number;
  allowedMaxLength: number;
  trainableParams: number;
  batchesPerEpoch: number;
  totalSteps: number;
  resumedFrom?: string;
  startStep: number;
}

export interface DpoResult {
  outDir: string;
  model: GPTModel;
  modelDir: string | null;
  history: MetricRecord[];
  epochs: EpochRecord[];
  steps: number;
  seconds: number;
  stopped: boolean;
}

/**
 * The notebook's compute_logprobs for a batch of sequences (N, T) and masks: for each row, the mean over
 * the masked positions t >= 1 of log p(ids[t] | ids[<t]). Returns (N) with gradients to the logits.
 */
export function sequenceLogprobs(logits: Tensor, ids: Int32Array, mask: Uint8Array): Tensor {
  const [N, T] = logits.shape;
  // Position t predicts token t+1; a position whose next token is unscored (or the last) is ignored.
  const labels = new Int32Array(N * T).fill(-100);
  const counts = new Float32Array(N);
  for (let n = 0; n < N; n++)
    for (let t = 0; t + 1 < T; t++)
      if (mask[n * T + t + 1]) {
        labels[n * T + t] = ids[n * T + t + 1];
        counts[n]++;
      }
  const nll = ops.crossEntropy(logits, fromTypedArray(labels, [N, T]), { reduction: 'none' }); // (N, T)
  return ops.div(ops.neg(ops.sum(nll, 1)), fromTypedArray(counts, [N])); // (N)
}

/** Reference log-probabilities of a split, by dataset row. */
export interface ReferenceLogprobs {
  chosen: number[];
  rejected: number[];
}

export interface DpoBatchResult {
  loss: Tensor;
  chosenReward: number;
  rejectedReward: number;
  policyChosen: number[];
  policyRejected: number[];
}

/**
 * The notebook's compute_dpo_loss_batch with the reference's log-probabilities given: chosen and rejected
 * go through the policy in one forward pass of 2B rows.
 */
export function dpoBatchLoss(
  model: GPTModel,
  batch: PreferenceBatch,
  ref: ReferenceLogprobs,
  beta: number,
): DpoBatchResult {
  const { batchSize: B, seqLen: T } = batch;
  const ids = new Int32Array(2 * B * T);
  ids.set(batch.chosen);
  ids.set(batch.rejected, B * T);
  const mask = new Uint8Array(2 * B * T);
  mask.set(batch.chosenMask);
  mask.set(batch.rejectedMask, B * T);
  const logp = sequenceLogprobs(model.forward(fromTypedArray(ids, [2 * B, T])), ids, mask); // (2B)
  const pc = ops.narrow(logp, 0, 0, B);
  const pr = ops.narrow(logp, 0, B, B);
  const rc = Float32Array.from(batch.rows, (r) => ref.chosen[r]);
  const rr = Float32Array.from(batch.rows, (r) => ref.rejected[r]);
  const refRatio = fromTypedArray(
    rc.map((c, i) => c - rr[i]),
    [B],
  );
  // -logsigmoid(z) is the cross-entropy of logits [z, 0] against class 0: stable for any z, fused.
  const z = ops.mul(ops.sub(ops.sub(pc, pr), refRatio), beta); // (B)
  const pair = ops.concat([ops.reshape(z, [B, 1]), ops.zeros([B, 1])], 1); // (B, 2)
  const loss = ops.crossEntropy(pair, fromTypedArray(new Int32Array(B), [B]));
  const policyChosen = pc.toArray() as number[];
  const policyRejected = pr.toArray() as number[];
  const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
  return {
    loss,
    chosenReward: mean(policyChosen.map((p, i) => p - rc[i])),
    rejectedReward: mean(policyRejected.map((p, i) => p - rr[i])),
    policyChosen,
    policyRejected,
  };
}

/** Log-probabilities of every pair of a dataset under the model as it is now (eval mode, no gradients). */
export function referenceLogprobs(
  model: GPTModel,
  loader: PreferenceLoader,
  onProgress?: (done: number, total: number) => void,
): ReferenceLogprobs {
  const n = loader.dataset.length;
  const out: ReferenceLogprobs = { chosen: new Array<number>(n), rejected: new Array<number>(n) };
  const wasTraining = model.training;
  model.eval();
  let done = 0;
  try {
    for (let i = 0; i < loader.length; i++) {
      const batch = loader.batchAt(i);
      const { batchSize: B, seqLen: T } = batch;
      tidy(() =>
        noGrad(() => {
          const ids = new Int32Array(2 * B * T);
          ids.set(batch.chosen);
          ids.set(batch.rejected, B * T);
          const mask = new Uint8Array(2 * B * T);
          mask.set(batch.chosenMask);
          mask.set(batch.rejectedMask, B * T);
          const lp = sequenceLogprobs(model.forward(fromTypedArray(ids, [2 * B, T])), ids, mask).toArray();
          batch.rows.forEach((r, b) => {
            out.chosen[r] = lp[b];
            out.rejected[r] = lp[B + b];
          });
        }),
      );
      done += B;
      onProgress?.(done, n);
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}

const REFERENCE_FILE = 'reference-logprobs.json';

/** Align an instruction-tuned model with preference pairs, as the chapter-7 DPO notebook. */
export async function dpo(options: DpoOptions): Promise<DpoResult> {
  const {
    outDir: out,
    resume,
    onStart,
    onReference,
    log,
    onStep,
    onEval,
    onEpoch,
    onCheckpoint,
    checkpointPhase,
    shouldStop,
    ...given
  } = options;
  if (!out) throw new Error('outDir is required');
  return inRun(out, { resume, task: 'dpo' }, async (run) => {
    const saved = run.state?.options ?? {};
    const o = resolveOptions(DPO_OPTIONS, given, saved);
    if (o.model === undefined)
      throw new Error(
        '--model: give the instruction-tuned model to align (a model directory or a finetune-instruct run)',
      );

    // ---- data ----
    const dataFile = o.data ?? dataPath('instruction-data-with-preference.json');
    const split = splitInstructionData(
      readInstructionEntries(dataFile, { required: ['chosen', 'rejected'] }) as PreferenceEntry[],
    );

    // ---- model and template ----
    let src: ModelSource | null = null;
    let model: GPTModel;
    const ckpt = run.state ? await loadCheckpoint(run.checkpoint!, run.state) : null;
    if (ckpt) model = ckpt.model;
    else {
      src = await resolveModel(o.model, { names: 'pretrained', dropRate: o.dropRate });
      if (src.kind === 'fresh')
        throw new Error(`--model ${o.model}: DPO starts from trained weights, not a fresh configuration`);
      if (src.config.numClasses !== undefined)
        throw new Error(`--model ${o.model} is a classifier, not a language model`);
      manualSeed(o.seed);
      model = (await src.build()).untieHead();
    }
    const template: PromptTemplate = saved.templateSpec
      ? templateFromSpec(saved.templateSpec as TemplateSpec)
      : o.template !== undefined
        ? promptTemplate(o.template)
        : (src?.template ?? templateFromSpec(TEMPLATES.alpaca));
    const ctx = model.cfg.contextLength;
    if (o.allowedMaxLength !== undefined && o.allowedMaxLength > ctx)
      throw new Error(`--allowed-max-length ${o.allowedMaxLength} exceeds the model's context length ${ctx}`);
    const allowedMaxLength = o.allowedMaxLength ?? ctx;
    const tokenizer = loadGpt2Tokenizer();
    const train = new PreferenceDataset(split.train, tokenizer, template);
    const val = new PreferenceDataset(split.validation, tokenizer, template);
    const trainLoader = new PreferenceLoader(train, {
      batchSize: o.batchSize,
      shuffle: true,
      dropLast: true,
      seed: o.seed,
      allowedMaxLength,
    });
    if (trainLoader.length === 0 && o.epochs > 0)
      throw new Error(
        `${dataFile}: ${train.length} training pairs, fewer than one batch of ${o.batchSize}; use a smaller --batch-size`,
      );
    const inOrder = (d: PreferenceDataset) =>
      new PreferenceLoader(d, { batchSize: o.batchSize, allowedMaxLength });

    const dataId = {
      file: basename(dataFile),
      train: train.length,
      val: val.length,
      template: template.name,
      allowedMaxLength,
    };
    const recorded = {
      ...recordedOptions(DPO_OPTIONS, o),
      model: src?.dir ?? saved.model ?? o.model,
      templateSpec: template.spec,
    };

    // ---- the reference: the starting model's log-probabilities, once ----
    const refPath = join(run.outDir, REFERENCE_FILE);
    let ref: { train: ReferenceLogprobs; val: ReferenceLogprobs };
    if (run.state) {
      if (!existsSync(refPath))
        throw new Error(`--resume: ${refPath} is missing; the run cannot continue without its reference`);
      ref = JSON.parse(readFileSync(refPath, 'utf8')) as typeof ref;
    } else {
      const total = train.length + val.length;
      ref = {
        train: referenceLogprobs(model, inOrder(train), (d) => onReference?.(d, total)),
        val: referenceLogprobs(model, inOrder(val), (d) => onReference?.(train.length + d, total)),
      };
      await writeFileAtomic(refPath, JSON.stringify(ref));
    }

    const optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o.weightDecay });
    if (ckpt) restoreOptimizer(optimizer, ckpt);
    await run.writeRunJson({ options: recorded, config: model.cfg, data: dataId });
    onStart?.({
      modelLabel: src?.label ?? String(saved.model),
      template: template.name,
      trainPairs: train.length,
      valPairs: val.length,
      allowedMaxLength,
      trainableParams: model.numParameters({ trainableOnly: true }),
      batchesPerEpoch: trainLoader.length,
      totalSteps: trainLoader.length * o.epochs,
      resumedFrom: run.checkpoint ?? undefined,
      startStep: run.state?.step ?? 0,
    });

    /** The notebook's compute_dpo_loss_loader: means over the first evalIter batches. */
    const score = (d: PreferenceDataset, r: ReferenceLogprobs) => {
      let loss = 0;
      let chosen = 0;
      let rejected = 0;
      let n = 0;
      const wasTraining = model.training;
      model.eval();
      try {
        for (const batch of firstN(inOrder(d), o.evalIter))
          tidy(() =>
            noGrad(() => {
              const res = dpoBatchLoss(model, batch, r, o.beta);
              loss += res.loss.item();
              chosen += res.chosenReward;
              rejected += res.rejectedReward;
              n++;
            }),
          );
      } finally {
        model.train(wasTraining);
      }
      return { loss: loss / n, margin: (chosen - rejected) / n, chosen: chosen / n, rejected: rejected / n };
    };
    // The notebook prints generate_and_print_sample of the third validation entry after each epoch.
    const sampleEntry = split.validation[2] ?? split.validation[0] ?? split.train[0];
    const sample = () => epochSample(model, tokenizer, template, sampleEntry);
    const result = await runTrainer<PreferenceBatch>({
      model,
      optimizer,
      train: trainLoader,
      loss: (batch) => dpoBatchLoss(model, batch, ref.train, o.beta).loss,
      tokens: (batch) => batch.batchSize * batch.seqLen, // the notebook: batch["chosen"].numel()
      evaluate: () => {
        const t = score(train, ref.train);
        const v = score(val, ref.val);
        return {
          trainLoss: t.loss,
          valLoss: v.loss,
          values: {
            trainChosenReward: t.chosen,
            trainRejectedReward: t.rejected,
            valChosenReward: v.chosen,
            valRejectedReward: v.rejected,
          },
        };
      },
      evalLine: (r) => {
        const v = r.values!;
        return (
          `Ep ${r.epoch} (Step ${String(r.step).padStart(6, '0')}): ` +
          `Train loss ${r.trainLoss.toFixed(3)}, Val loss ${r.valLoss.toFixed(3)}, ` +
          `Train reward margins ${(v.trainChosenReward - v.trainRejectedReward).toFixed(3)}, ` +
          `Val reward margins ${(v.valChosenReward - v.valRejectedReward).toFixed(3)}`
        );
      },
      endOfEpoch: () => ({ lines: [sample()] }),
      epochs: o.epochs,
      evalFreq: o.evalFreq,
      lrAt: () => o.lr,
      checkpoints: { ...o, outDir: run.outDir, checkpointPhase },
      identity: { task: 'dpo', options: recorded, data: dataId, structure: modelStructure(model, {}) },
      resume: run.state ? { dir: run.checkpoint!, state: run.state } : undefined,
      hooks: { log, onStep, onEval, onEpoch, onCheckpoint, shouldStop },
    });
    await writeLossPlot(join(run.outDir, 'loss.svg'), result.history, { epochs: o.epochs || undefined });
    let modelDir: string | null = null;
    if (!result.stopped) {
      modelDir = join(run.outDir, 'model');
      await writeModelDir(model, modelDir, (tmp) =>
        saveGPT2(model, tmp, { gptkit: { template: template.spec } }),
      );
    }
    return {
      outDir: run.outDir,
      model,
      modelDir,
      history: result.history,
      epochs: result.epochs,
      steps: result.steps,
      seconds: result.seconds,
      stopped: result.stopped,
    };
  });
}

export type { StepProgress };
