// Text classification as the book's chapter 6 fine-tunes it (and appendix E with LoRA): a GPT whose
// output head is replaced by Linear(C, numClasses), trained on the logits of one token per example with
// the book's log, per-epoch accuracies, final accuracies on every split and test-set precision/recall/F1.
// One task on the shared trainer; the frozen bottom of the model is computed once per example and reused.
import { basename, join } from 'node:path';
import {
  balanceAndSplit,
  ClassificationDataset,
  ClassificationLoader,
  labelVocabulary,
  readLabeledTexts,
  type ClassificationBatch,
} from '../data/classification.js';
import { dataPath } from '../data/paths.js';
import type { GPTModel } from '../models/gpt/gpt.js';
import { saveAdapters } from '../models/gpt/adapters.js';
import { saveGPT2 } from '../models/gpt/gpt2-weights.js';
import { resolveModel, type ModelSource } from '../models/gpt/source.js';
import { applyLoRA, mergeLoRA } from '../nn/lora.js';
import * as ops from '../ops/index.js';
import { AdamW } from '../optim/index.js';
import { noGrad } from '../tensor/autograd.js';
import { manualSeed } from '../tensor/rng.js';
import { empty, fromTypedArray, tidy, type Tensor } from '../tensor/tensor.js';
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
import { lossPlotSvg } from './plot.js';
import { writeFileAtomic } from '../io/atomic.js';
import { inRun, writeModelDir, type RunHooks } from './run.js';
import { CHECKPOINT_OPTIONS, runTrainer, type StepProgress } from './trainer.js';

export const TRAINABLE_CHOICES = ['last-block', 'last-two-blocks', 'all', 'head', 'lora'] as const;
export type Trainable = (typeof TRAINABLE_CHOICES)[number];
export const TOKEN_CHOICES = ['last', 'first', 'last-real'] as const;
/** Which position's output classifies: the book's last token, the first, or the last non-padding one. */
export type ClassifyToken = (typeof TOKEN_CHOICES)[number];

/** The book's chapter-6 settings, declared once for the library and `gptkit finetune-classifier`. */
export const CLASSIFIER_OPTIONS = {
  model: {
    type: 'string',
    nonEmpty: true,
    default: 'gpt2',
    arg: 'name|file|dir',
    help: 'gpt2 (OpenAI weights, downloaded), a model directory, or gpt2-small / a config JSON for random weights',
  },
  train: {
    type: 'string',
    nonEmpty: true,
    arg: 'file',
    help: 'training CSV/TSV (default: the bundled book split)',
  },
  val: { type: 'string', nonEmpty: true, arg: 'file', help: 'validation CSV/TSV' },
  test: { type: 'string', nonEmpty: true, arg: 'file', help: 'test CSV/TSV' },
  data: {
    type: 'string',
    nonEmpty: true,
    arg: 'file',
    help: 'one CSV/TSV that gptkit splits 70/10/20 (seeded), instead of --train/--val/--test',
  },
  balance: {
    type: 'boolean',
    default: false,
    help: 'with --data: undersample every class to the smallest one first (the book)',
  },
  textColumn: {
    type: 'string',
    nonEmpty: true,
    arg: 'name|n',
    help: "column of the texts: a header name or a 1-based index (default 'Text', or 2 with --no-header)",
  },
  labelColumn: {
    type: 'string',
    nonEmpty: true,
    arg: 'name|n',
    help: "column of the labels (default 'Label', or 1 with --no-header)",
  },
  header: { type: 'boolean', default: true, help: 'the files start with a header row' },
  labelNames: {
    type: 'string',
    nonEmpty: true,
    arg: 'a,b,...',
    help: 'class names for integer labels 0..K-1 (the bundled split: "not spam,spam")',
  },
  trainable: {
    type: 'string',
    choices: TRAINABLE_CHOICES,
    default: 'last-block',
    help: 'what trains: the last block + final norm + head (book), the last two blocks, all, the head only, or LoRA adapters',
  },
  token: {
    type: 'string',
    choices: TOKEN_CHOICES,
    default: 'last',
    help: "which token's output classifies: the last position (book), the first, or the last non-padding token",
  },
  loraRank: { type: 'int', min: 1, arg: 'r', help: 'LoRA rank (implies --trainable lora)' },
  loraAlpha: { type: 'number', above: 0, arg: 'a', help: 'LoRA alpha (default: the rank)' },
  loraScaling: {
    type: 'string',
    choices: ['alpha-over-rank', 'alpha'],
    default: 'alpha-over-rank',
    help: "LoRA scaling: alpha/rank (appendix E) or alpha alone (the chapter-6 bonus's older variant)",
  },
  merge: {
    type: 'boolean',
    default: false,
    help: 'LoRA: save the model with the adapters merged into its weights instead of the adapters alone',
  },
  maxLength: {
    type: 'int',
    min: 1,
    arg: 'n',
    help: 'tokens per example: truncate longer ones (default: the longest training example)',
  },
  epochs: {
    type: 'int',
    min: 0,
    default: 5,
    arg: 'n',
    help: 'passes over the training data (0: only evaluate)',
  },
  batchSize: { type: 'int', min: 1, default: 8, arg: 'n', help: 'examples per batch' },
  lr: { type: 'number', min: 0, default: 5e-5, arg: 'x', help: 'AdamW learning rate' },
  weightDecay: { type: 'number', min: 0, default: 0.1, arg: 'x', help: 'AdamW weight decay' },
  dropRate: {
    type: 'number',
    min: 0,
    below: 1,
    default: 0,
    flag: '--dropout',
    arg: 'x',
    help: 'dropout rate',
  },
  evalFreq: { type: 'int', min: 1, default: 50, arg: 'n', help: 'evaluate every n steps' },
  evalIter: {
    type: 'int',
    min: 1,
    default: 5,
    arg: 'n',
    help: 'batches per evaluation and per-epoch accuracy',
  },
  seed: {
    type: 'int',
    min: 0,
    default: 123,
    arg: 'n',
    help: 'seed for the head, the adapters, shuffling, splitting',
  },
  keepBest: {
    type: 'boolean',
    default: false,
    help: 'keep the weights with the best validation accuracy (checked after each epoch on the whole validation set)',
  },
  reuseFrozen: {
    type: 'boolean',
    default: true,
    apiOnly: true,
    help: 'compute the frozen bottom of the model once per example (exact; needs dropout 0)',
  },
  ...CHECKPOINT_OPTIONS,
} as const satisfies OptionSpecs;

export type ClassifierOptions = OptionInput<typeof CLASSIFIER_OPTIONS> &
  RunHooks & {
    outDir: string;
    resume?: boolean;
    onStart?: (info: ClassifierStart) => void;
  };

export interface ClassifierStart {
  modelLabel: string;
  labels: string[];
  trainExamples: number;
  valExamples: number;
  testExamples: number;
  maxLength: number;
  trainableParams: number;
  totalParams: number;
  batchesPerEpoch: number;
  totalSteps: number;
  /** Blocks computed once per example and reused (0: none). */
  frozenBlocksReused: number;
  resumedFrom?: string;
  /** Optimizer steps already done (non-zero when resuming). */
  startStep: number;
}

export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassifierResult {
  outDir: string;
  model: GPTModel;
  modelDir: string | null;
  labels: string[];
  trainAccuracy: number;
  valAccuracy: number;
  testAccuracy: number;
  testMetrics: ClassMetrics[];
  /** confusion[true][predicted] on the test set. */
  confusion: number[][];
  trainableParams: number;
  totalParams: number;
  history: MetricRecord[];
  epochs: EpochRecord[];
  steps: number;
  seconds: number;
  stopped: boolean;
  /** (trainAccuracy, valAccuracy and testAccuracy are NaN for a stopped run.) The epoch whose weights were kept (--keep-best), else the last. */
  keptEpoch: number;
}

/** Freeze everything, then unfreeze what `trainable` names (the book's choices in chapter 6). */
export function setTrainable(model: GPTModel, trainable: Exclude<Trainable, 'lora'>): void {
  const n = model.trf_blocks.length;
  const firstTrainableBlock =
    trainable === 'all'
      ? 0
      : trainable === 'last-two-blocks'
        ? n - 2
        : trainable === 'last-block'
          ? n - 1
          : n;
  for (const p of model.parameters()) p.requiresGrad = trainable === 'all';
  const open = (m: { parameters(): Tensor[] }) => m.parameters().forEach((p) => (p.requiresGrad = true));
  for (let i = Math.max(firstTrainableBlock, 0); i < n; i++) open(model.trf_blocks[i]);
  if (trainable !== 'head') open(model.final_norm);
  open(model.out_head);
}

/** Blocks below the first one with a trainable parameter: their outputs never change during training. */
export function frozenBlocks(model: GPTModel): number {
  const trainable = (m: { parameters(): Tensor[] }) => m.parameters().some((p) => p.requiresGrad);
  if (trainable(model.tok_emb) || trainable(model.pos_emb)) return 0;
  const i = model.trf_blocks.findIndex(trainable);
  return i === -1 ? model.trf_blocks.length : i;
}

/** Class logits (B, K) of one token per row from the model's output (B, T, K). */
export function selectToken(logits: Tensor, token: ClassifyToken, lengths: ArrayLike<number>): Tensor {
  const [B, T, K] = logits.shape;
  const rows = Array.from(
    { length: B },
    (_, b) => b * T + (token === 'first' ? 0 : token === 'last' ? T - 1 : lengths[b] - 1),
  );
  return ops.indexSelect(ops.reshape(logits, [B * T, K]), 0, ops.fromArray(rows, [B], 'int32'));
}

/**
 * Where a batch's forward pass starts: the token ids, or (with a cache of the frozen blocks) the residual
 * stream entering the first trainable block, computed once per example and copied out of the cache.
 */
class FrozenPrefix {
  private readonly cache: Float32Array;
  private readonly done: Uint8Array;
  private readonly rowSize: number;

  constructor(
    private readonly model: GPTModel,
    readonly blocks: number,
    examples: number,
    private readonly seqLen: number,
  ) {
    this.rowSize = seqLen * model.cfg.embDim;
    this.cache = new Float32Array(blocks > 0 ? examples * this.rowSize : 0);
    this.done = new Uint8Array(examples);
  }

  /** Logits (B, T, K) of a batch. */
  logits(batch: ClassificationBatch): Tensor {
    const { batchSize: B, seqLen: T } = batch;
    if (this.blocks === 0) return this.model.forward(fromTypedArray(batch.inputs, [B, T]));
    const missing = [...batch.rows.keys()].filter((b) => !this.done[batch.rows[b]]);
    if (missing.length) {
      noGrad(() =>
        tidy(() => {
          const ids = new Int32Array(missing.length * T);
          missing.forEach((b, j) => ids.set(batch.inputs.subarray(b * T, (b + 1) * T), j * T));
          const h = ops.contiguous(this.model.hidden(fromTypedArray(ids, [missing.length, T]), this.blocks));
          const src = h.data.subarray(h.offset, h.offset + h.size);
          missing.forEach((b, j) => {
            const row = batch.rows[b];
            this.cache.set(src.subarray(j * this.rowSize, (j + 1) * this.rowSize), row * this.rowSize);
            this.done[row] = 1;
          });
        }),
      );
    }
    const x = empty([B, T, this.model.cfg.embDim]);
    for (let b = 0; b < B; b++) {
      const row = batch.rows[b];
      x.data.set(
        this.cache.subarray(row * this.rowSize, (row + 1) * this.rowSize),
        x.offset + b * this.rowSize,
      );
    }
    return this.model.forwardFrom(x, this.blocks);
  }
}

interface Split {
  dataset: ClassificationDataset;
  prefix: FrozenPrefix;
}

/** The book's calc_loss_loader / calc_accuracy_loader in one pass: mean loss and accuracy over batches. */
function scoreBatches(
  model: GPTModel,
  split: Split,
  batches: Iterable<ClassificationBatch>,
  token: ClassifyToken,
  onPrediction?: (truth: number, predicted: number) => void,
): { loss: number; accuracy: number } {
  const wasTraining = model.training;
  model.eval();
  let loss = 0;
  let count = 0;
  let correct = 0;
  let examples = 0;
  try {
    for (const batch of batches) {
      tidy(() =>
        noGrad(() => {
          const logits = selectToken(split.prefix.logits(batch), token, batch.lengths); // (B, K)
          loss += ops.crossEntropy(logits, fromTypedArray(batch.labels, [batch.batchSize])).item();
          const predicted = ops.argmax(logits, -1).toArray();
          predicted.forEach((p, b) => {
            if (p === batch.labels[b]) correct++;
            onPrediction?.(batch.labels[b], p);
          });
        }),
      );
      count++;
      examples += batch.batchSize;
    }
  } finally {
    model.train(wasTraining);
  }
  return { loss: count ? loss / count : NaN, accuracy: examples ? correct / examples : NaN };
}

function classMetrics(confusion: number[][], labels: string[]): ClassMetrics[] {
  return labels.map((label, k) => {
    const tp = confusion[k][k];
    const predicted = confusion.reduce((s, row) => s + row[k], 0);
    const support = confusion[k].reduce((s, x) => s + x, 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support };
  });
}

const column = (v: string | undefined): string | number | undefined =>
  v === undefined ? undefined : /^[1-9][0-9]*$/.test(v) ? Number(v) : v;

/** Fine-tune a GPT as a text classifier, as the book's chapter 6 (and appendix E with LoRA). */
export async function finetuneClassifier(options: ClassifierOptions): Promise<ClassifierResult> {
  const {
    outDir: out,
    resume,
    onStart,
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
  return inRun(out, { resume, task: 'classifier' }, async (run) => {
    const saved = run.state?.options ?? {};
    const o = resolveOptions(CLASSIFIER_OPTIONS, given, saved);
    const trainable: Trainable = o.loraRank !== undefined ? 'lora' : o.trainable;
    if (trainable === 'lora' && o.loraRank === undefined)
      throw new Error('--trainable lora needs --lora-rank R (and optionally --lora-alpha A)');
    if (o.data !== undefined && (o.train ?? o.val ?? o.test) !== undefined)
      throw new Error('give either --data (split by gptkit) or --train/--val/--test, not both');
    const separate = [o.train, o.val, o.test].filter((f) => f !== undefined).length;
    if (o.data === undefined && separate !== 0 && separate !== 3)
      throw new Error('give all of --train, --val and --test (or --data to have gptkit split one file)');
    const lora =
      trainable === 'lora'
        ? { rank: o.loraRank!, alpha: o.loraAlpha ?? o.loraRank!, scaling: o.loraScaling }
        : undefined;

    // ---- data ----
    const bundled = o.data === undefined && o.train === undefined;
    const files = bundled
      ? {
          train: dataPath('sms-spam-book-split', 'train.csv'),
          val: dataPath('sms-spam-book-split', 'validation.csv'),
          test: dataPath('sms-spam-book-split', 'test.csv'),
        }
      : { train: o.train, val: o.val, test: o.test };
    const names =
      o.labelNames?.split(',').map((s) => s.trim()) ?? (bundled ? ['not spam', 'spam'] : undefined);
    const readOpts = {
      textColumn: column(o.textColumn),
      labelColumn: column(o.labelColumn),
      header: o.header,
    };
    let splits: {
      train: { texts: string[]; labels: string[] };
      val: { texts: string[]; labels: string[] };
      test: { texts: string[]; labels: string[] };
    };
    if (o.data !== undefined) {
      const all = readLabeledTexts(o.data, readOpts);
      const rows = all.texts.map((text, i) => ({ text, label: all.labels[i] }));
      const s = balanceAndSplit(rows, { seed: o.seed, balance: o.balance });
      const unzip = (r: typeof rows) => ({ texts: r.map((x) => x.text), labels: r.map((x) => x.label) });
      splits = { train: unzip(s.train), val: unzip(s.validation), test: unzip(s.test) };
    } else {
      splits = {
        train: readLabeledTexts(files.train!, readOpts),
        val: readLabeledTexts(files.val!, readOpts),
        test: readLabeledTexts(files.test!, readOpts),
      };
    }
    const vocab = labelVocabulary(splits.train.labels, names);
    const labels = vocab.id2label;
    // Validation and test labels map through the training set's classes (by id or by name).
    const idsOf = (which: string, ls: string[]): number[] => {
      try {
        return labelVocabulary(ls, labels).ids;
      } catch (e) {
        throw new Error(`the ${which} set: ${(e as Error).message}`);
      }
    };

    // ---- model ----
    let src: ModelSource | null = null;
    let model: GPTModel;
    const ckpt = run.state ? await loadCheckpoint(run.checkpoint!, run.state) : null;
    if (ckpt) {
      model = ckpt.model;
    } else {
      src = await resolveModel(o.model, { names: 'pretrained', dropRate: o.dropRate });
      if (src.config.numClasses !== undefined)
        throw new Error(
          `--model ${o.model} is already a classifier; fine-tune a language model (or resume its run with --resume)`,
        );
      manualSeed(o.seed);
      model = await src.build();
      manualSeed(o.seed); // as the book: torch.manual_seed(123) right before the new head
      model.useClassifierHead(labels.length);
      if (lora) {
        for (const p of model.parameters()) p.requiresGrad = false;
        applyLoRA(model, lora);
      } else setTrainable(model, trainable as Exclude<Trainable, 'lora'>);
    }
    const tokenizer = loadGpt2Tokenizer();
    const ctx = model.cfg.contextLength;
    const train = ClassificationDataset.fromTexts(splits.train.texts, vocab.ids, tokenizer, {
      contextLength: ctx,
      maxLength: o.maxLength,
    });
    const maxLength = train.maxLength;
    const val = ClassificationDataset.fromTexts(
      splits.val.texts,
      idsOf('validation', splits.val.labels),
      tokenizer,
      { contextLength: ctx, maxLength },
    );
    const test = ClassificationDataset.fromTexts(
      splits.test.texts,
      idsOf('test', splits.test.labels),
      tokenizer,
      { contextLength: ctx, maxLength },
    );

    const reuse = o.reuseFrozen && model.cfg.dropRate === 0 ? frozenBlocks(model) : 0;
    const split = (dataset: ClassificationDataset): Split => ({
      dataset,
      prefix: new FrozenPrefix(model, reuse, dataset.length, maxLength),
    });
    const sTrain = split(train);
    const sVal = split(val);
    const sTest = split(test);
    const trainLoader = new ClassificationLoader(train, {
      batchSize: o.batchSize,
      shuffle: true,
      dropLast: true,
      seed: o.seed,
    });
    if (trainLoader.length === 0 && o.epochs > 0)
      throw new Error(
        `the training set has ${train.length} examples, fewer than one batch of ${o.batchSize}; use a smaller --batch-size`,
      );
    const inOrder = (d: ClassificationDataset) => new ClassificationLoader(d, { batchSize: o.batchSize });

    const optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o.weightDecay });
    if (ckpt) restoreOptimizer(optimizer, ckpt);
    const trainableParams = model.numParameters({ trainableOnly: true });
    const totalParams = model.numParameters();
    const dataId = { train: train.length, val: val.length, test: test.length, maxLength, labels };
    const recorded = { ...recordedOptions(CLASSIFIER_OPTIONS, o), model: src?.dir ?? saved.model ?? o.model };
    await run.writeRunJson({ options: recorded, config: model.cfg, data: dataId });
    onStart?.({
      modelLabel: src?.label ?? String(saved.model),
      labels,
      trainExamples: train.length,
      valExamples: val.length,
      testExamples: test.length,
      maxLength,
      trainableParams,
      totalParams,
      batchesPerEpoch: trainLoader.length,
      totalSteps: trainLoader.length * o.epochs,
      frozenBlocksReused: reuse,
      resumedFrom: run.checkpoint ?? undefined,
      startStep: run.state?.step ?? 0,
    });

    const token = o.token;
    const lossOf = (s: Split, batch: ClassificationBatch) =>
      ops.crossEntropy(
        selectToken(s.prefix.logits(batch), token, batch.lengths),
        fromTypedArray(batch.labels, [batch.batchSize]),
      );
    // --keep-best holds the best epoch's trainable weights in memory (not in checkpoints: a resumed run
    // keeps the best of the epochs it ran itself).
    const best = { accuracy: -1, epoch: 0, weights: [] as Float32Array[] };
    const trainableTensors = model.parameters().filter((p) => p.requiresGrad);
    const result = await runTrainer({
      model,
      optimizer,
      train: trainLoader,
      loss: (batch) => lossOf(sTrain, batch),
      tokens: (batch) => batch.batchSize, // the book counts examples seen
      evaluate: () => ({
        trainLoss: scoreBatches(model, sTrain, firstN(inOrder(train), o.evalIter), token).loss,
        valLoss: scoreBatches(model, sVal, firstN(inOrder(val), o.evalIter), token).loss,
      }),
      endOfEpoch: (epoch) => {
        const trainAccuracy = scoreBatches(model, sTrain, firstN(inOrder(train), o.evalIter), token).accuracy;
        const valAccuracy = scoreBatches(model, sVal, firstN(inOrder(val), o.evalIter), token).accuracy;
        const values: Record<string, number> = { trainAccuracy, valAccuracy };
        if (o.keepBest) {
          const full = scoreBatches(model, sVal, inOrder(val), token).accuracy;
          values.fullValAccuracy = full;
          if (full > best.accuracy) {
            best.accuracy = full;
            best.epoch = epoch;
            best.weights = trainableTensors.map(
              (p) => p.data.slice(p.offset, p.offset + p.size) as Float32Array,
            );
          }
        }
        const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
        return {
          lines: [`Training accuracy: ${pct(trainAccuracy)} | Validation accuracy: ${pct(valAccuracy)}`],
          values,
        };
      },
      epochs: o.epochs,
      evalFreq: o.evalFreq,
      lrAt: () => o.lr,
      checkpoints: { ...o, outDir: run.outDir, checkpointPhase }, // the CHECKPOINT_OPTIONS fields
      identity: {
        task: 'classifier',
        options: recorded,
        data: dataId,
        structure: modelStructure(model, { lora, labels }),
      },
      resume: run.state ? { dir: run.checkpoint!, state: run.state } : undefined,
      hooks: { log, onStep, onEval, onEpoch, onCheckpoint, shouldStop },
    });
    let keptEpoch = o.epochs;
    if (best.weights.length && !result.stopped) {
      trainableTensors.forEach((p, i) => p.data.set(best.weights[i], p.offset));
      keptEpoch = best.epoch;
    }

    // Final accuracies on the full sets (the book's last step), and test-set precision / recall / F1.
    // A stopped run (Ctrl-C) skips them: it should end quickly, and its checkpoint is what matters.
    const confusion = labels.map(() => labels.map(() => 0));
    const accuracyOf = (s: Split, onPrediction?: (t: number, p: number) => void) =>
      result.stopped ? NaN : scoreBatches(model, s, inOrder(s.dataset), token, onPrediction).accuracy;
    const trainAccuracy = accuracyOf(sTrain);
    const valAccuracy = accuracyOf(sVal);
    const testAccuracy = accuracyOf(sTest, (t, p) => confusion[t][p]++);
    const testMetrics = classMetrics(confusion, labels);

    await writePlots(run.outDir, result.history, result.epochs, basename(String(recorded.model)), o.epochs);
    let modelDir: string | null = null;
    if (!result.stopped) {
      modelDir = join(run.outDir, 'model');
      const gptkit = { classify_token: token, max_length: maxLength };
      const base =
        src ??
        (saved.model
          ? await resolveModel(String(saved.model), { names: 'pretrained' }).catch(() => null)
          : null);
      if (lora && !o.merge && base?.kind === 'pretrained') {
        await writeModelDir(model, modelDir, (tmp) =>
          saveAdapters(model, tmp, { baseModel: base.dir!, ...lora, labels, gptkit }),
        );
      } else {
        const plain = model;
        if (lora) mergeLoRA(plain);
        await writeModelDir(plain, modelDir, (tmp) => saveGPT2(plain, tmp, { labels, gptkit }));
      }
    }
    return {
      outDir: run.outDir,
      model,
      modelDir,
      labels,
      trainAccuracy,
      valAccuracy,
      testAccuracy,
      testMetrics,
      confusion,
      trainableParams,
      totalParams,
      history: result.history,
      epochs: result.epochs,
      steps: result.steps,
      seconds: result.seconds,
      stopped: result.stopped,
      keptEpoch,
    };
  });
}

/** The book's plot_values: losses against epochs (top axis: examples seen) and accuracies per epoch. */
async function writePlots(
  dir: string,
  history: MetricRecord[],
  epochs: EpochRecord[],
  label: string,
  nEpochs: number,
) {
  const opts = { epochs: nEpochs || undefined, topAxis: 'Examples seen' };
  await writeFileAtomic(join(dir, 'loss.svg'), lossPlotSvg(history, { ...opts, title: `Loss: ${label}` }));
  const acc = epochs.map((e) => ({
    epochProgress: e.epoch,
    tokensSeen: e.tokensSeen,
    trainLoss: e.values.trainAccuracy,
    valLoss: e.values.valAccuracy,
  }));
  await writeFileAtomic(
    join(dir, 'accuracy.svg'),
    lossPlotSvg(acc, {
      ...opts,
      title: `Accuracy: ${label}`,
      yLabel: 'Accuracy',
      series: ['Training accuracy', 'Validation accuracy'],
    }),
  );
}

export type { StepProgress };
