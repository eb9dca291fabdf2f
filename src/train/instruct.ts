// Instruction fine-tuning as the book's chapter 7 does it: gpt2-medium with OpenAI's weights, the
// Alpaca-formatted data split 85/10/5, the padded collate with -100 targets, AdamW 5e-5, two epochs, the
// book's log and a greedy answer to the first validation entry after each epoch; then the model (with
// its prompt template) and the test set with a `model_response` per entry. LoRA (exercise 7.4) and
// masked instructions (exercise 7.2) are options. One task on the shared trainer.
import { basename, join } from 'node:path';
import { dataPath } from '../data/paths.js';
import {
  InstructionDataset,
  InstructionLoader,
  promptTemplate,
  readInstructionEntries,
  splitInstructionData,
  templateFromSpec,
  type InstructionBatch,
  type InstructionEntry,
  type PromptTemplate,
  type TemplateSpec,
} from '../data/instruction.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveAdapters } from '../models/gpt/adapters.js';
import type { GPTModel } from '../models/gpt/gpt.js';
import { saveGPT2 } from '../models/gpt/gpt2-weights.js';
import { resolveModel, type ModelSource } from '../models/gpt/source.js';
import { applyLoRA, mergeLoRA } from '../nn/lora.js';
import { AdamW } from '../optim/index.js';
import { manualSeed } from '../tensor/rng.js';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';
import {
  loadCheckpoint,
  modelStructure,
  restoreOptimizer,
  type EpochRecord,
  type MetricRecord,
} from './checkpoint.js';
import { calcLossBatch, calcLossLoader, firstN } from './loss.js';
import { recordedOptions, resolveOptions, type OptionInput, type OptionSpecs } from './options.js';
import { writeLossPlot } from './plot.js';
import { epochSample, respondToEntries } from './respond.js';
import { inRun, writeModelDir, type RunHooks } from './run.js';
import { CHECKPOINT_OPTIONS, runTrainer, type StepProgress } from './trainer.js';

/** The book's chapter-7 settings, declared once for the library and `gptkit finetune-instruct`. */
export const INSTRUCT_OPTIONS = {
  model: {
    type: 'string',
    nonEmpty: true,
    default: 'gpt2-medium',
    arg: 'name|file|dir',
    help: 'gpt2-medium (OpenAI weights, downloaded; the book), another released name, a model directory, or a config JSON for random weights',
  },
  data: {
    type: 'string',
    nonEmpty: true,
    arg: 'file',
    help: 'entries {instruction, input, output} as a JSON list or JSON lines (default: the bundled instruction-data.json); split 85/10/5 in order',
  },
  template: {
    type: 'string',
    nonEmpty: true,
    default: 'alpaca',
    arg: 'alpaca|phi3|file',
    help: 'prompt format: the book\'s Alpaca, exercise 7.1\'s Phi-3 style, or a JSON file {"prompt", "input", "response"}',
  },
  maskInstructions: {
    type: 'boolean',
    default: false,
    help: 'ignore the prompt in the loss; only the response is learned (exercise 7.2)',
  },
  loraRank: {
    type: 'int',
    min: 1,
    arg: 'r',
    help: 'train LoRA adapters of this rank on every Linear layer instead of all weights (exercise 7.4)',
  },
  loraAlpha: { type: 'number', above: 0, arg: 'a', help: 'LoRA alpha (default: the rank)' },
  merge: {
    type: 'boolean',
    default: false,
    help: 'LoRA: save the model with the adapters merged into its weights instead of the adapters alone',
  },
  epochs: { type: 'int', min: 0, default: 2, arg: 'n', help: 'passes over the training data' },
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
  evalFreq: { type: 'int', min: 1, default: 5, arg: 'n', help: 'evaluate every n steps' },
  evalIter: { type: 'int', min: 1, default: 5, arg: 'n', help: 'batches per evaluation' },
  allowedMaxLength: {
    type: 'int',
    min: 2,
    default: 1024,
    arg: 'n',
    help: "cut training examples to n tokens (the book's allowed_max_length; at most the model's context length)",
  },
  maxNewTokens: {
    type: 'int',
    min: 1,
    default: 256,
    arg: 'n',
    help: 'longest answer generated for the test set',
  },
  respond: {
    type: 'boolean',
    default: true,
    help: 'after training, answer the test set (instruction-data-with-response.json in the run directory)',
  },
  seed: { type: 'int', min: 0, default: 123, arg: 'n', help: 'seed for shuffling and the adapters' },
  ...CHECKPOINT_OPTIONS,
} as const satisfies OptionSpecs;

export type InstructOptions = OptionInput<typeof INSTRUCT_OPTIONS> &
  RunHooks & {
    outDir: string;
    resume?: boolean;
    onStart?: (info: InstructStart) => void;
    /** Test-set answers done / total. */
    onRespond?: (done: number, total: number) => void;
  };

export interface InstructStart {
  modelLabel: string;
  template: string;
  trainExamples: number;
  valExamples: number;
  testExamples: number;
  /** Longest training example in tokens, and the cut applied (allowed_max_length). */
  longestExample: number;
  allowedMaxLength: number;
  trainableParams: number;
  totalParams: number;
  batchesPerEpoch: number;
  totalSteps: number;
  resumedFrom?: string;
  startStep: number;
}

export interface InstructResult {
  outDir: string;
  model: GPTModel;
  modelDir: string | null;
  /** The test set with model_response, when answered. */
  responsesFile: string | null;
  responses: InstructionEntry[];
  trainLoss: number;
  valLoss: number;
  trainableParams: number;
  totalParams: number;
  history: MetricRecord[];
  epochs: EpochRecord[];
  steps: number;
  seconds: number;
  stopped: boolean;
}

export const RESPONSES_FILE = 'instruction-data-with-response.json';

/** Fine-tune a GPT to follow instructions, as the book's chapter 7. */
export async function finetuneInstruct(options: InstructOptions): Promise<InstructResult> {
  const {
    outDir: out,
    resume,
    onStart,
    onRespond,
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
  return inRun(out, { resume, task: 'instruct' }, async (run) => {
    const saved = run.state?.options ?? {};
    const o = resolveOptions(INSTRUCT_OPTIONS, given, saved);
    const lora =
      o.loraRank !== undefined
        ? { rank: o.loraRank, alpha: o.loraAlpha ?? o.loraRank, scaling: 'alpha-over-rank' as const }
        : undefined;
    if (o.loraAlpha !== undefined && !lora) throw new Error('--lora-alpha needs --lora-rank');

    // ---- data and template (checked before any model is loaded) ----
    const dataFile = o.data ?? dataPath('instruction-data.json');
    const split = splitInstructionData(readInstructionEntries(dataFile));
    // A resumed run uses the template it recorded (a template file may have changed or gone since).
    const template: PromptTemplate = saved.templateSpec
      ? templateFromSpec(saved.templateSpec as TemplateSpec)
      : promptTemplate(o.template);
    if (split.train.length < o.batchSize && o.epochs > 0)
      throw new Error(
        `${dataFile}: ${split.train.length} training entries (85% of ${split.train.length + split.test.length + split.validation.length}), fewer than one batch of ${o.batchSize}; use a smaller --batch-size`,
      );

    // ---- model ----
    let src: ModelSource | null = null;
    let model: GPTModel;
    const ckpt = run.state ? await loadCheckpoint(run.checkpoint!, run.state) : null;
    if (ckpt) model = ckpt.model;
    else {
      src = await resolveModel(o.model, { names: 'pretrained', dropRate: o.dropRate });
      if (src.config.numClasses !== undefined)
        throw new Error(`--model ${o.model} is a classifier; instruction fine-tuning needs a language model`);
      manualSeed(o.seed);
      model = await src.build();
      if (lora) {
        for (const p of model.parameters()) p.requiresGrad = false;
        applyLoRA(model, lora);
      } else model.untieHead(); // the book's load_weights_into_gpt: out_head is a copy of wte
    }
    const ctx = model.cfg.contextLength;
    const allowedMaxLength = Math.min(o.allowedMaxLength, ctx);
    const tokenizer = loadGpt2Tokenizer();
    const train = new InstructionDataset(split.train, tokenizer, template);
    const val = new InstructionDataset(split.validation, tokenizer, template);
    const longestExample = Math.max(...train.ids.map((x) => x.length));
    const loaderOptions = { allowedMaxLength, maskInstructions: o.maskInstructions };
    const trainLoader = new InstructionLoader(train, {
      ...loaderOptions,
      batchSize: o.batchSize,
      shuffle: true,
      dropLast: true,
      seed: o.seed,
    });
    const inOrder = (d: InstructionDataset) =>
      new InstructionLoader(d, { ...loaderOptions, batchSize: o.batchSize });

    const optimizer = new AdamW(model.parameters(), { lr: o.lr, weightDecay: o.weightDecay });
    if (ckpt) restoreOptimizer(optimizer, ckpt);
    const trainableParams = model.numParameters({ trainableOnly: true });
    const totalParams = model.numParameters();
    const dataId = {
      file: basename(dataFile),
      train: train.length,
      val: val.length,
      test: split.test.length,
      template: template.name,
    };
    const recorded = {
      ...recordedOptions(INSTRUCT_OPTIONS, o),
      model: src?.dir ?? saved.model ?? o.model,
      templateSpec: template.spec,
    };
    await run.writeRunJson({ options: recorded, config: model.cfg, data: dataId });
    onStart?.({
      modelLabel: src?.label ?? String(saved.model),
      template: template.name,
      trainExamples: train.length,
      valExamples: val.length,
      testExamples: split.test.length,
      longestExample,
      allowedMaxLength,
      trainableParams,
      totalParams,
      batchesPerEpoch: trainLoader.length,
      totalSteps: trainLoader.length * o.epochs,
      resumedFrom: run.checkpoint ?? undefined,
      startStep: run.state?.step ?? 0,
    });

    // The book prints generate_and_print_sample of the first validation entry: 50 greedy tokens, no stop.
    const sample = () => epochSample(model, tokenizer, template, split.validation[0] ?? split.train[0]);
    const result = await runTrainer<InstructionBatch>({
      model,
      optimizer,
      train: trainLoader,
      loss: (batch) => calcLossBatch(model, batch),
      tokens: (batch) => batch.batchSize * batch.seqLen, // the book: input_batch.numel()
      evaluate: () => ({
        trainLoss: calcLossLoader(model, firstN(inOrder(train), o.evalIter)),
        valLoss: calcLossLoader(model, firstN(inOrder(val), o.evalIter)),
      }),
      endOfEpoch: () => ({ lines: [sample()] }),
      epochs: o.epochs,
      evalFreq: o.evalFreq,
      lrAt: () => o.lr,
      checkpoints: { ...o, outDir: run.outDir, checkpointPhase },
      identity: {
        task: 'instruct',
        options: recorded,
        data: dataId,
        structure: modelStructure(model, { lora }),
      },
      resume: run.state ? { dir: run.checkpoint!, state: run.state } : undefined,
      hooks: { log, onStep, onEval, onEpoch, onCheckpoint, shouldStop },
    });
    await writeLossPlot(join(run.outDir, 'loss.svg'), result.history, { epochs: o.epochs || undefined });

    let modelDir: string | null = null;
    let responsesFile: string | null = null;
    let responses: InstructionEntry[] = [];
    if (!result.stopped) {
      modelDir = join(run.outDir, 'model');
      const gptkit = { template: template.spec };
      const base =
        src ??
        (saved.model
          ? await resolveModel(String(saved.model), { names: 'pretrained' }).catch(() => null)
          : null);
      if (lora && !o.merge && base?.kind === 'pretrained') {
        await writeModelDir(model, modelDir, (tmp) =>
          saveAdapters(model, tmp, { baseModel: base.dir!, ...lora, gptkit }),
        );
      } else {
        if (lora) mergeLoRA(model);
        await writeModelDir(model, modelDir, (tmp) => saveGPT2(model, tmp, { gptkit }));
      }
      if (o.respond && split.test.length > 0) {
        responses = await respondToEntries(model, tokenizer, template, split.test, {
          maxNewTokens: o.maxNewTokens,
          onProgress: onRespond,
        });
        responsesFile = join(run.outDir, RESPONSES_FILE);
        await writeFileAtomic(responsesFile, JSON.stringify(responses, null, 4) + '\n');
      }
    }
    const last = result.history[result.history.length - 1];
    return {
      outDir: run.outDir,
      model,
      modelDir,
      responsesFile,
      responses,
      trainLoss: last?.trainLoss ?? NaN,
      valLoss: last?.valLoss ?? NaN,
      trainableParams,
      totalParams,
      history: result.history,
      epochs: result.epochs,
      steps: result.steps,
      seconds: result.seconds,
      stopped: result.stopped,
    };
  });
}

export type { StepProgress };
