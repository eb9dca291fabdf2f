// Pretraining as the book's chapter 5 runs it (train_model_simple), with appendix D's warmup, cosine decay
// and gradient clipping as options: one short task on the shared trainer. It prepares the text, builds or
// resumes the model, prints a greedy sample after each epoch and writes the final model and loss plot.
import { constants, existsSync } from 'node:fs';
import { copyFile, link, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { configMismatch, type GPTConfig } from '../models/gpt/config.js';
import type { GPTModel } from '../models/gpt/gpt.js';
import { generate } from '../models/gpt/generate.js';
import { extraParameters } from '../models/gpt/gpt2-weights.js';
import { resolveModel } from '../models/gpt/source.js';
import { AdamW, lrAt } from '../optim/index.js';
import { manualSeed } from '../tensor/rng.js';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';
import { dataPath } from '../data/paths.js';
import { loadCheckpoint, modelStructure, restoreOptimizer, type MetricRecord } from './checkpoint.js';
import { firstBatches, preparePretrainData, type PretrainData, type PretrainTokenizer } from './data.js';
import { calcLossBatch, evaluateModel } from './loss.js';
import { recordedOptions, resolveOptions, type OptionInput, type OptionSpecs } from './options.js';
import { writeLossPlot } from './plot.js';
import { inRun, writeModelDir, type RunHooks } from './run.js';
import { CHECKPOINT_OPTIONS, runTrainer, type RunTiming, type StepProgress } from './trainer.js';

/** The book's chapter-5 settings, declared once: the library and `gptkit pretrain` both use these. */
export const PRETRAIN_OPTIONS = {
  data: {
    type: 'string',
    nonEmpty: true,
    arg: 'path',
    help: 'training text file, or a folder of .txt/.md files (default: the bundled the-verdict.txt)',
  },
  valData: {
    type: 'string',
    nonEmpty: true,
    arg: 'path',
    help: 'validation text (default: the last 10% of the training text)',
  },
  trainRatio: {
    type: 'number',
    above: 0,
    below: 1,
    default: 0.9,
    apiOnly: true,
    help: 'share of the characters for training when there is no separate validation data',
  },
  model: {
    type: 'string',
    nonEmpty: true,
    default: 'gpt2-small',
    arg: 'name|file|dir',
    help: "gpt2-small|gpt2-medium|... (a fresh model), a config JSON (the book's, gptkit's or Hugging Face's keys), or a model directory to continue",
  },
  contextLength: {
    type: 'int',
    min: 1,
    arg: 'n',
    help: "training window; presets get a position table this long (default 256, at most the model's)",
  },
  dropRate: {
    type: 'number',
    min: 0,
    below: 1,
    default: 0.1,
    flag: '--dropout',
    arg: 'x',
    help: 'dropout rate',
  },
  init: {
    type: 'string',
    choices: ['book', 'gpt2'],
    default: 'book',
    help: "fresh models: 'book' (PyTorch default init) or 'gpt2' (N(0, 0.02))",
  },
  batchSize: { type: 'int', min: 1, default: 2, arg: 'n', help: 'windows per batch' },
  epochs: { type: 'int', min: 0, default: 10, arg: 'n', help: 'passes over the training data' },
  lr: {
    type: 'number',
    min: 0,
    default: 4e-4,
    arg: 'x',
    help: 'AdamW learning rate (the peak with a schedule)',
  },
  weightDecay: { type: 'number', min: 0, default: 0.1, arg: 'x', help: 'AdamW weight decay' },
  warmupSteps: {
    type: 'int',
    min: 0,
    default: 0,
    arg: 'n',
    help: 'linear warmup from --initial-lr to --lr (appendix D)',
  },
  initialLr: {
    type: 'number',
    min: 0,
    default: 3e-5,
    arg: 'x',
    help: 'learning rate at the start of warmup',
  },
  minLr: {
    type: 'number',
    min: 0,
    arg: 'x',
    help: 'cosine decay from --lr to this over the run (appendix D)',
  },
  clipGrad: {
    type: 'number',
    above: 0,
    arg: 'x',
    help: 'clip the gradient norm to this after warmup (appendix D)',
  },
  evalFreq: { type: 'int', min: 1, default: 5, arg: 'n', help: 'evaluate every n steps' },
  evalIter: { type: 'int', min: 1, default: 5, arg: 'n', help: 'batches per evaluation' },
  seed: {
    type: 'int',
    min: 0,
    default: 123,
    arg: 'n',
    help: 'seed for initial weights, dropout and shuffling',
  },
  startContext: {
    type: 'string',
    nonEmpty: true,
    default: 'Every effort moves you',
    arg: 'text',
    help: 'prompt for the greedy sample after each epoch',
  },
  sampleTokens: {
    type: 'int',
    min: 0,
    default: 50,
    arg: 'n',
    help: 'tokens of the greedy sample after each epoch (0: none)',
  },
  ...CHECKPOINT_OPTIONS,
} as const satisfies OptionSpecs;

export type PretrainOptions = Omit<OptionInput<typeof PRETRAIN_OPTIONS>, 'model'> &
  RunHooks & {
    /** A preset, a config file, a model directory (see PRETRAIN_OPTIONS.model), or a config object. */
    model?: string | GPTConfig;
    /** Training text given directly (instead of `data`). */
    text?: string;
    valText?: string;
    /** Default: the GPT-2 tokenizer. */
    tokenizer?: PretrainTokenizer;
    /** Run directory: checkpoints/, model/, metrics.jsonl, loss.svg, run.json. */
    outDir: string;
    /** Continue from outDir's latest checkpoint; options not given again are the run's own. */
    resume?: boolean;
    onStart?: (info: RunInfo) => void;
    onSample?: (epoch: number, text: string) => void;
  };

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

/** Wall seconds of this call by phase: the trainer's split (steps, evaluation, samples as endOfEpoch,
 * checkpoints) plus what pretrain does around it. */
export interface PretrainTiming extends RunTiming {
  /** Reading and tokenizing the data, building or loading the model. */
  setup: number;
  /** After training: the loss plot, the final model directory and, if none was made yet, the sample. */
  finalWrites: number;
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
  /** True when the run stopped before its end (stopAfterSteps, or a stop request). */
  stopped: boolean;
  timing: PretrainTiming;
}

/** "steps 95.1 s (83%), evaluation 9.8 s (9%), ...; total 114.6 s": where a run's time went, for the CLI. */
export function formatPretrainTiming(t: PretrainTiming): string {
  const parts: [string, number][] = [
    ['steps', t.steps],
    ['evaluation', t.evaluation],
    ['samples', t.endOfEpoch],
    ['checkpoints', t.checkpoints],
    ['setup', t.setup],
    ['final writes', t.finalWrites],
  ];
  const other = t.total - parts.reduce((sum, [, v]) => sum + v, 0);
  if (other > 0.05) parts.push(['other', other]);
  const pct = (v: number) => (t.total > 0 ? ` (${Math.round((100 * v) / t.total)}%)` : '');
  return `${parts.map(([k, v]) => `${k} ${v.toFixed(1)} s${pct(v)}`).join(', ')}; total ${t.total.toFixed(1)} s`;
}

/** model.safetensors and config.json of a checkpoint into dir: hard links, else copies (a reflink where the file
 * system has them). The checkpoint's files are never modified in place (every save writes new files), so
 * sharing them is safe; deleting either directory leaves the other intact. */
async function linkModelFiles(checkpointDir: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of ['model.safetensors', 'config.json']) {
    try {
      await link(join(checkpointDir, f), join(dir, f));
    } catch {
      await copyFile(join(checkpointDir, f), join(dir, f), constants.COPYFILE_FICLONE);
    }
  }
}

/** The book's chapter-5 window length, used when no context length is given (capped by the model's). */
export const DEFAULT_CONTEXT_LENGTH = 256;

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

function windowLength(requested: number | undefined, modelMax: number, label: string): number {
  if (requested === undefined) return Math.min(DEFAULT_CONTEXT_LENGTH, modelMax);
  if (requested > modelMax)
    throw new Error(
      `context length ${requested} is larger than the model's ${modelMax} (${label}); use --context-length ${modelMax} or less`,
    );
  return requested;
}

/** Train a GPT from scratch (or continue a pretrained one) on a text, as chapter 5 of the book does. */
export async function pretrain(options: PretrainOptions): Promise<PretrainResult> {
  const { text, valText, tokenizer: tok, outDir: out, resume, model: modelSpec, ...rest } = options;
  const { onStart, onSample, log, onStep, onEval, onCheckpoint, checkpointPhase, shouldStop, ...given } =
    rest;
  if (!out) throw new Error('outDir is required');
  const started = performance.now();
  return inRun(out, { resume, task: 'pretrain' }, async (run) => {
    const saved = run.state?.options ?? {};
    const o = resolveOptions(
      PRETRAIN_OPTIONS,
      { ...given, model: typeof modelSpec === 'string' ? modelSpec : undefined },
      saved,
    );
    if (o.minLr !== undefined && o.minLr > o.lr)
      throw new Error(`minLr (--min-lr) ${o.minLr} is above the peak learning rate lr (--lr) ${o.lr}`);
    if (run.state && saved.data === '(text)' && text === undefined)
      throw new Error(
        `${run.checkpoint} was trained on text given through the API; pass the same text again`,
      );
    const tokenizer = tok ?? loadGpt2Tokenizer();

    // The model: rebuilt from the checkpoint on resume, else resolved from --model.
    const modelGiven = modelSpec !== undefined;
    const src =
      !run.state || modelGiven
        ? await resolveModel(typeof modelSpec === 'object' ? modelSpec : o.model, {
            names: 'fresh',
            presetContextLength: o.contextLength ?? DEFAULT_CONTEXT_LENGTH,
            dropRate:
              typeof modelSpec === 'object' && options.dropRate === undefined
                ? modelSpec.dropRate
                : o.dropRate,
            init: o.init,
          })
        : null;
    const config = run.state?.structure.config ?? src!.config;
    if (run.state && src) {
      const mismatch = configMismatch(run.state.structure.config, src.config);
      if (mismatch)
        throw new Error(
          `cannot resume from ${run.checkpoint}: it was trained with another model configuration (checkpoint vs this run: ${mismatch})`,
        );
    }
    const label = src?.label ?? String(saved.model ?? 'checkpoint');
    const contextLength = windowLength(o.contextLength, config.contextLength, label);
    if (config.vocabSize < tokenizer.vocabSize)
      throw new Error(
        `the model's vocabulary (${config.vocabSize}) is smaller than the tokenizer's (${tokenizer.vocabSize})`,
      );
    if (run.state) {
      const same = [
        ['contextLength', 'context length', contextLength],
        ['batchSize', 'batch size', o.batchSize],
      ] as const;
      for (const [k, what, v] of same)
        if (saved[k] !== v)
          throw new Error(
            `cannot resume from ${run.checkpoint}: it used ${what} ${String(saved[k])}, this run asks for ${v}`,
          );
    }

    const dataFile = text === undefined && o.data === undefined ? dataPath('the-verdict.txt') : o.data;
    const data = preparePretrainData({
      text,
      path: dataFile,
      valText,
      valPath: o.valData,
      trainRatio: o.trainRatio,
      tokenizer,
      contextLength,
      batchSize: o.batchSize,
      seed: o.seed,
      cacheDir: join(run.outDir, 'data'),
    });
    try {
      const dataId = {
        trainTokens: data.trainTokens,
        trainHash: data.trainHash,
        valTokens: data.valTokens,
        valHash: data.valHash,
      };
      if (
        run.state &&
        (run.state.data.trainHash !== data.trainHash || run.state.data.trainTokens !== data.trainTokens)
      )
        throw new Error(
          `cannot resume from ${run.checkpoint}: the training data differs (checkpoint: ${String(run.state.data.trainTokens)} tokens, hash ${String(run.state.data.trainHash)}; ` +
            `this run: ${data.trainTokens} tokens, hash ${data.trainHash})`,
        );

      let model: GPTModel;
      let optimizer: AdamW;
      if (run.state) {
        const ckpt = await loadCheckpoint(run.checkpoint!, run.state);
        model = ckpt.model;
        optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o.weightDecay });
        restoreOptimizer(optimizer, ckpt);
      } else {
        manualSeed(o.seed); // as torch.manual_seed(123) before GPTModel(...): initial weights, then dropout
        model = await src!.build();
        optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o.weightDecay });
      }

      const recorded = {
        ...recordedOptions(PRETRAIN_OPTIONS, o),
        data: text !== undefined ? '(text)' : resolve(dataFile!),
        valData: valText !== undefined ? '(text)' : o.valData ? resolve(o.valData) : null,
        model: typeof modelSpec === 'object' ? '(config)' : existsSync(o.model) ? resolve(o.model) : o.model,
        contextLength,
        dropRate: model.cfg.dropRate,
      };
      await run.writeRunJson({ options: recorded, config: model.cfg, data: dataId });
      const totalSteps = data.train.length * o.epochs;
      onStart?.({
        outDir: run.outDir,
        config: { ...model.cfg },
        modelLabel: label,
        parameters: model.numParameters(),
        data: data.description,
        trainTokens: data.trainTokens,
        valTokens: data.valTokens,
        batchesPerEpoch: data.train.length,
        valBatches: data.val.length,
        totalSteps,
        resumedFrom: run.checkpoint ?? undefined,
        startStep: run.state?.step ?? 0,
      });

      const setupSeconds = (performance.now() - started) / 1000;
      const schedule = o.warmupSteps > 0 || o.minLr !== undefined;
      let sample = '';
      const result = await runTrainer({
        model,
        optimizer,
        train: data.train,
        loss: (batch) => calcLossBatch(model, batch),
        tokens: (batch) => batch.batchSize * batch.seqLen, // input_batch.numel()
        evaluate: () =>
          evaluateModel(
            model,
            firstBatches(data.trainEval, o.evalIter),
            firstBatches(data.val, o.evalIter),
            o.evalIter,
          ),
        endOfEpoch: (epoch) => {
          sample = o.sampleTokens > 0 ? greedySample(model, tokenizer, o.startContext, o.sampleTokens) : '';
          onSample?.(epoch, sample);
          return { lines: sample ? [sample] : [] };
        },
        epochs: o.epochs,
        evalFreq: o.evalFreq,
        lrAt: (step) =>
          schedule
            ? lrAt(step, {
                peakLr: o.lr,
                totalSteps,
                warmupSteps: o.warmupSteps,
                initialLr: o.initialLr,
                minLr: o.minLr,
              })
            : o.lr,
        clip: o.clipGrad !== undefined ? { maxNorm: o.clipGrad, fromStep: o.warmupSteps } : undefined,
        checkpoints: { ...o, outDir: run.outDir, checkpointPhase }, // the CHECKPOINT_OPTIONS fields
        identity: { task: 'pretrain', options: recorded, data: dataId, structure: modelStructure(model) },
        resume: run.state ? { dir: run.checkpoint!, state: run.state } : undefined,
        hooks: { log, onStep, onEval, onCheckpoint, shouldStop },
      });

      const finalStart = performance.now();
      const plotPath = join(run.outDir, 'loss.svg');
      await writeLossPlot(plotPath, result.history, {
        title: `Loss: ${label}`,
        epochs: o.epochs || undefined,
      });
      let modelDir: string | null = null;
      if (!result.stopped) {
        modelDir = join(run.outDir, 'model');
        const ckpt = result.checkpointDir;
        // The end of the run was just checkpointed (weights unchanged since) in the same Hugging Face layout
        // and config saveGPT2 writes: link those files instead of writing 650 MB (124M) a second time.
        await writeModelDir(
          model,
          modelDir,
          ckpt && extraParameters(model).length === 0 ? (tmp) => linkModelFiles(ckpt, tmp) : undefined,
        );
        if (!sample && o.sampleTokens > 0)
          sample = greedySample(model, tokenizer, o.startContext, o.sampleTokens);
      }
      return {
        outDir: run.outDir,
        model,
        modelDir,
        checkpointDir: result.checkpointDir,
        plotPath,
        metricsPath: join(run.outDir, 'metrics.jsonl'),
        history: result.history,
        sample,
        steps: result.steps,
        tokensSeen: result.tokensSeen,
        seconds: result.seconds,
        stopped: result.stopped,
        timing: {
          ...result.timing,
          setup: setupSeconds,
          finalWrites: (performance.now() - finalStart) / 1000,
          total: (performance.now() - started) / 1000,
        },
      };
    } finally {
      data.close();
    }
  });
}

export type { PretrainData, PretrainTokenizer, StepProgress };
